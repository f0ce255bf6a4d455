/* Takes the numbers fdtrack keeps its own fds at, as a program may (bash's
   `exec 960>f`, a C dup2 onto a high number), and writes through them.
   Commands on stdin, one answer line each, ending in "ok":
     fds           lists the program's /proc/self/fd (the listing's own fd left out)
     probe N       "EBADF" if fcntl(N, F_GETFD) says N is not open, else "open"
     dup2 N | dup3 N | dupfd N | dupfd_cloexec N
                   makes a memfd, duplicates it onto N (F_DUPFD: the lowest free
                   fd >= N), writes through the copy and reads it back from the
                   memfd; answers "<fd the copy got> <1 if the bytes arrived>"
                   and keeps the copy open
     fork          forks a child that opens nothing until "child_open"; answers its pid
     child_open    the child opens 2 fds, then waits for SIGTERM
     exit          exit with EXIT_EXPECTED */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

static int to_child[2] = {-1, -1};

static void list_fds(void) {
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    struct dirent* entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9' && atoi(entry->d_name) != dirfd(dir)) {
            printf("%s ", entry->d_name);
        }
    }
    closedir(dir);
}

static void duplicate(const char* how, int target) {
    int memfd = memfd_create("own_fds", 0);
    CHECK(memfd >= 0);
    int copy = -1;
    if (!strcmp(how, "dup2")) copy = dup2(memfd, target);
    else if (!strcmp(how, "dup3")) copy = dup3(memfd, target, O_CLOEXEC);
    else if (!strcmp(how, "dupfd")) copy = fcntl(memfd, F_DUPFD, target);
    else if (!strcmp(how, "dupfd_cloexec")) copy = fcntl(memfd, F_DUPFD_CLOEXEC, target);
    CHECK(copy >= 0);
    char text[64], back[64] = {0};
    int n = snprintf(text, sizeof text, "written through fd %d", copy);
    int arrived = write(copy, text, n) == n && pread(memfd, back, sizeof back, 0) == n && !memcmp(text, back, n);
    CHECK(close(memfd) == 0);
    printf("%d %d ", copy, arrived);
}

static void in_child(void) {
    char go;
    while (read(to_child[0], &go, 1) < 0 && errno == EINTR) {
    }
    for (int i = 0; i < 2; ++i) CHECK(open("/dev/null", O_RDONLY) >= 0); /* LEAK: child */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    int sig;
    CHECK(sigwait(&term, &sig) == 0);
    _exit(EXIT_EXPECTED);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    char line[256], how[32];
    int n;
    while (fgets(line, sizeof line, stdin)) {
        if (!strcmp(line, "fds\n")) {
            list_fds();
        } else if (sscanf(line, "probe %d", &n) == 1) {
            printf("%s ", fcntl(n, F_GETFD) < 0 && errno == EBADF ? "EBADF" : "open");
        } else if (sscanf(line, "%31s %d", how, &n) == 2) {
            duplicate(how, n);
        } else if (!strcmp(line, "fork\n")) {
            CHECK(pipe(to_child) == 0);
            sigprocmask(SIG_BLOCK, &term, NULL);  /* the child sigwaits for it */
            pid_t child = fork();
            CHECK(child >= 0);
            if (child == 0) in_child();
            sigprocmask(SIG_UNBLOCK, &term, NULL);
            printf("%d ", (int)child);
        } else if (!strcmp(line, "child_open\n")) {
            CHECK(write(to_child[1], "g", 1) == 1);
        } else if (!strcmp(line, "exit\n")) {
            return EXIT_EXPECTED;
        } else {
            printf("unknown command ");
        }
        printf("ok\n");
    }
    return EXIT_EXPECTED;
}
