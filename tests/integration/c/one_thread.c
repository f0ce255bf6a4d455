/* A program with one thread (until told otherwise), driven by commands on
   stdin, each answered by one line on stdout ending in "ok":
     open N      leak N fds from the "single" line
     threads     answers how many threads the process has
     children    answers waitpid(-1, WNOHANG) and how many SIGCHLD arrived
     handle      installs a SIGUSR1 handler of its own
     usr1        answers how many SIGUSR1 its handler got
     handle2     installs a SIGUSR2 handler of its own
     usr2        answers how many SIGUSR2 its handler got
     thread      starts a thread that waits forever
     block       blocks SIGUSR1 (sigprocmask)
     pblock      blocks SIGUSR1 (pthread_sigmask)
     rawblock    blocks SIGUSR1 with the system call itself, unseen by fdtrack
     unblock     unblocks SIGUSR1
     subreaper   becomes a child subreaper (orphans of its descendants are its children)
     take FUNC   takes a pending SIGUSR1 with sigwait, sigwaitinfo or
                 sigtimedwait; answers the signal taken
     waitsig     blocks SIGUSR1 and takes the pending ones with sigtimedwait;
                 answers how many it took
     churn MS    allocates, checks and frees for MS milliseconds, opening and
                 closing an fd now and then; answers the rounds done
     exit        exits with EXIT_EXPECTED */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t sigchld_count, usr1_count, usr2_count;

static void on_sigchld(int signum) { (void)signum; ++sigchld_count; }
static void on_usr1(int signum) { (void)signum; ++usr1_count; }
static void on_usr2(int signum) { (void)signum; ++usr2_count; }

static int count_threads(void) {
    DIR* dir = opendir("/proc/self/task");
    CHECK(dir);
    int n = 0;
    for (struct dirent* entry; (entry = readdir(dir));) n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void* wait_forever(void* unused) {
    (void)unused;
    for (;;) pause();
    return NULL;
}

static void handle(int signum, void (*handler)(int)) {
    struct sigaction own = {0};
    own.sa_handler = handler;
    own.sa_flags = SA_RESTART;
    CHECK(sigaction(signum, &own, NULL) == 0);
}

static sigset_t only_usr1(void) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    return usr1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Busy in the allocator; every block is checked before it is freed, so a
   heap that fdtrack disturbed fails a CHECK. Answers the rounds done. */
static unsigned long churn(int ms) {
    unsigned long round = 0;
    for (double end = now_ms() + ms; now_ms() < end; ++round) {
        char* blocks[64];
        size_t sizes[64];
        for (int i = 0; i < 64; ++i) {
            sizes[i] = 16 + (round * 31 + i * 7) % 4000;
            blocks[i] = malloc(sizes[i]);
            CHECK(blocks[i]);
            memset(blocks[i], (int)(i + round), sizes[i]);
        }
        for (int i = 0; i < 64; ++i) {
            CHECK(blocks[i][0] == (char)(i + round) && blocks[i][sizes[i] - 1] == (char)(i + round));
            free(blocks[i]);
        }
        if (round % 16 == 0) {
            int fd = open("/dev/null", O_RDONLY);
            CHECK(fd >= 0);
            CHECK(close(fd) == 0);
        }
    }
    return round;
}

int main(void) {
    handle(SIGCHLD, on_sigchld);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        if (sscanf(line, "open %d", &n) == 1) {
            for (int i = 0; i < n; ++i) CHECK(open("/dev/null", O_RDONLY) >= 0); /* LEAK: single */
            printf("ok\n");
        } else if (!strcmp(line, "threads\n")) {
            printf("%d ok\n", count_threads());
        } else if (!strcmp(line, "children\n")) {
            int status;
            errno = 0;
            pid_t got = waitpid(-1, &status, WNOHANG);
            printf("%d %d %d ok\n", (int)got, got < 0 ? errno : 0, (int)sigchld_count);
        } else if (!strcmp(line, "handle\n")) {
            handle(SIGUSR1, on_usr1);
            printf("ok\n");
        } else if (!strcmp(line, "handle2\n")) {
            handle(SIGUSR2, on_usr2);
            printf("ok\n");
        } else if (!strcmp(line, "usr2\n")) {
            printf("%d ok\n", (int)usr2_count);
        } else if (!strcmp(line, "usr1\n")) {
            printf("%d ok\n", (int)usr1_count);
        } else if (!strcmp(line, "thread\n")) {
            pthread_t thread;
            CHECK(pthread_create(&thread, NULL, wait_forever, NULL) == 0);
            printf("ok\n");
        } else if (!strcmp(line, "block\n") || !strcmp(line, "waitsig\n")) {
            sigset_t usr1 = only_usr1();
            CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
            int taken = 0;
            struct timespec none = {0, 0};
            while (line[0] == 'w' && sigtimedwait(&usr1, NULL, &none) == SIGUSR1) ++taken;
            printf("%d ok\n", taken);
        } else if (!strcmp(line, "pblock\n") || !strcmp(line, "rawblock\n")) {
            sigset_t usr1 = only_usr1();
            if (line[0] == 'p') CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
            else CHECK(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr1, NULL, 8) == 0);
            printf("ok\n");
        } else if (!strncmp(line, "take ", 5)) {
            sigset_t usr1 = only_usr1();
            int taken = -1;
            struct timespec patience = {10, 0};
            if (!strcmp(line, "take sigwait\n")) CHECK(sigwait(&usr1, &taken) == 0);
            else if (!strcmp(line, "take sigwaitinfo\n")) taken = sigwaitinfo(&usr1, NULL);
            else if (!strcmp(line, "take sigtimedwait\n")) taken = sigtimedwait(&usr1, NULL, &patience);
            printf("%d ok\n", taken);
        } else if (!strcmp(line, "subreaper\n")) {
            CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
            printf("ok\n");
        } else if (!strcmp(line, "unblock\n")) {
            sigset_t usr1 = only_usr1();
            CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
            printf("ok\n");
        } else if (sscanf(line, "churn %d", &n) == 1) {
            printf("%lu ok\n", churn(n));
        } else if (!strcmp(line, "exit\n")) {
            return EXIT_EXPECTED;
        } else {
            printf("unknown command ok\n");
        }
    }
    return 0;
}
