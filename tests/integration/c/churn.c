/* Eight threads open and close fds in random order (open, pipe, socket, dup,
   close), each leaving a known number open; then the program writes what
   /proc/self/fd lists and which fds it meant to leak, for the test to
   compare with the report. Usage: churn OUTPUT_FILE */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "fd_worker.h"

#define THREADS 8
#define ROUNDS 20000
#define LEFT_OPEN 5  /* fds each thread leaks at the end */

static void* churn(void* arg) {
    struct worker* w = arg;
    for (int round = 0; round < ROUNDS; ++round) churn_step(w);
    settle(w, LEFT_OPEN);
    return NULL;
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    static struct worker workers[THREADS];
    for (int i = 0; i < THREADS; ++i) {
        workers[i].seed = 1234u + i;
        CHECK(pthread_create(&workers[i].thread, NULL, churn, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; ++i) CHECK(pthread_join(workers[i].thread, NULL) == 0);

    /* Listed before the output file is opened, leaving out the listing's own fd. */
    static char text[65536];
    size_t n = 0;
    n += snprintf(text + n, sizeof text - n, "open");
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    for (struct dirent* e; (e = readdir(dir));) {
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(dir)) n += snprintf(text + n, sizeof text - n, " %s", e->d_name);
    }
    CHECK(closedir(dir) == 0);
    n += snprintf(text + n, sizeof text - n, "\nleaked");
    for (int i = 0; i < THREADS; ++i) {
        for (int j = 0; j < workers[i].held; ++j) n += snprintf(text + n, sizeof text - n, " %d", workers[i].pool[j]);
    }
    n += snprintf(text + n, sizeof text - n, "\n");

    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(out >= 0 && write(out, text, n) == (ssize_t)n && close(out) == 0);
    return 0;
}
