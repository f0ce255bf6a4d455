/* Leaks an fd, then changes what daemons change before they serve, then
   leaks another and exits: reports must still reach their directory.
     changes_user setuid UID        memcached -u: the whole process becomes UID
     changes_user setreuid UID      the same through setreuid, or setresuid
     changes_user seteuid UID       a temporary drop: root may come back
     changes_user fork-setuid UID   nginx: a forked worker becomes UID, the master stays
     changes_user workers UID       8 forked workers become UID at the same moment
     changes_user chroot DIR        a chrooted server
     changes_user escape DIR        chroots to DIR, becomes nobody, then looks for a way out
                                    through every fd it holds: exit 3 if it finds one
     changes_user setfsuid UID      creates files as UID, as NFS servers do
     changes_user signal-exit N     N fds, then its own dump signal and exit at once */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static void leak_before(void) { CHECK(eventfd(0, 0) >= 0); /* LEAK: before */ }

static void leak_after(void) { CHECK(eventfd(0, 0) >= 0); /* LEAK: after */ }

int main(int argc, char** argv) {
    CHECK(argc == 3);
    const char* how = argv[1];
    uid_t uid = (uid_t)atoi(argv[2]);
    leak_before();
    if (!strcmp(how, "setuid")) {
        CHECK(setuid(uid) == 0);
    } else if (!strcmp(how, "setreuid")) {
        CHECK(setreuid(uid, uid) == 0);
    } else if (!strcmp(how, "setresuid")) {
        CHECK(setresuid(uid, uid, uid) == 0);
    } else if (!strcmp(how, "seteuid")) {
        CHECK(seteuid(uid) == 0);
    } else if (!strcmp(how, "fork-setuid")) {
        pid_t worker = fork();
        CHECK(worker >= 0);
        if (worker == 0) {
            CHECK(setuid(uid) == 0);
            leak_after();
            exit(EXIT_EXPECTED);
        }
        int status;
        CHECK(waitpid(worker, &status, 0) == worker && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXPECTED);
    } else if (!strcmp(how, "setfsuid")) {
        setfsuid(uid);
        CHECK(setfsuid(-1) == (int)uid);
    } else if (!strcmp(how, "escape")) {
        CHECK(chroot(argv[2]) == 0 && chdir("/") == 0);
        CHECK(setresuid(65534, 65534, 65534) == 0);
        leak_after();
        for (int fd = 3; fd < 1 << 15; ++fd) {
            int outside = openat(fd, "../../../../../../../../etc/hostname", O_RDONLY);
            if (outside >= 0) {
                printf("fd %d leads out of the jail\n", fd);
                return 3;
            }
        }
        return EXIT_EXPECTED;
    } else if (!strcmp(how, "workers")) {
        int start[2];
        CHECK(pipe(start) == 0);
        pid_t workers[8];
        for (int i = 0; i < 8; ++i) {
            workers[i] = fork();
            CHECK(workers[i] >= 0);
            if (workers[i] == 0) {
                char go;
                CHECK(close(start[1]) == 0);
                CHECK(read(start[0], &go, 1) == 0);  /* all at once, when the parent's write end closes */
                CHECK(setuid(uid) == 0);
                leak_after();
                exit(EXIT_EXPECTED);
            }
        }
        close(start[0]);
        close(start[1]);
        for (int i = 0; i < 8; ++i) {
            int status;
            CHECK(waitpid(workers[i], &status, 0) == workers[i] && WIFEXITED(status) &&
                  WEXITSTATUS(status) == EXIT_EXPECTED);
        }
    } else if (!strcmp(how, "chroot")) {
        CHECK(chroot(argv[2]) == 0 && chdir("/") == 0);
    } else if (!strcmp(how, "signal-exit")) {
        for (int i = 0; i < atoi(argv[2]); ++i) leak_after();
        CHECK(kill(getpid(), SIGUSR1) == 0);
        exit(EXIT_EXPECTED);
    } else {
        CHECK(!"a known way to change");
    }
    leak_after();
    return EXIT_EXPECTED;
}
