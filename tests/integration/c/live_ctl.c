/* A long-running program driven by commands on stdin, one per line, each
   answered by one line on stdout, so a test can ask fdtrack for dumps between
   steps. Commands:
     open N      leak N more fds from the "grow" line
     other N     leak N fds from the "steady" line
     pipe N      leak N pipes from the "pipe" line
     closeto N   close "grow" fds (newest first) until N remain
     fork        fork a child that leaks 2 fds and waits for SIGTERM; answers its pid
     reap        wait for the forked child; answers its exit status
     fds         answers the program's own /proc/self/fd listing
     exit        exit with EXIT_EXPECTED */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MAX_FDS 4096

static int grown[MAX_FDS];
static int n_grown;
static pid_t child;

static void leak_grow(int n) {
    for (int i = 0; i < n; ++i) {
        CHECK(n_grown < MAX_FDS);
        int fd = open("/dev/null", O_RDONLY); /* LEAK: grow */
        CHECK(fd >= 0);
        grown[n_grown++] = fd;
    }
}

static void leak_steady(int n) {
    for (int i = 0; i < n; ++i) CHECK(open("/dev/zero", O_RDONLY) >= 0); /* LEAK: steady */
}

static void leak_pipes(int n) {
    int fds[2];
    for (int i = 0; i < n; ++i) CHECK(pipe(fds) == 0); /* LEAK: pipe */
}

static void list_fds(void) {
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    int own = dirfd(dir);
    struct dirent* entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9' && atoi(entry->d_name) != own) {
            printf("%s ", entry->d_name);
        }
    }
    closedir(dir);
}

static void in_child(void) {
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
    /* Blocked here so the child can sigwait for it (the mask survives fork). */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        if (sscanf(line, "open %d", &n) == 1) {
            leak_grow(n);
        } else if (sscanf(line, "other %d", &n) == 1) {
            leak_steady(n);
        } else if (sscanf(line, "pipe %d", &n) == 1) {
            leak_pipes(n);
        } else if (sscanf(line, "closeto %d", &n) == 1) {
            while (n_grown > n) CHECK(close(grown[--n_grown]) == 0);
        } else if (!strcmp(line, "fork\n")) {
            sigprocmask(SIG_BLOCK, &term, NULL);
            child = fork();
            CHECK(child >= 0);
            if (child == 0) in_child();
            sigprocmask(SIG_UNBLOCK, &term, NULL);
            printf("%d ", (int)child);
        } else if (!strcmp(line, "reap\n")) {
            int status;
            CHECK(waitpid(child, &status, 0) == child);
            printf("%d ", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        } else if (!strcmp(line, "fds\n")) {
            list_fds();
        } else if (!strcmp(line, "exit\n")) {
            return EXIT_EXPECTED;
        } else {
            fprintf(stderr, "live_ctl: unknown command %s", line);
            return 99;
        }
        printf("ok\n");
    }
    return 0;
}
