/* Eight threads open and close fds (open, pipe, socket, dup, close) until
   told to stop, while a test floods the process with dump requests. Then
   each thread leaves a known number of fds open and the program prints its
   own /proc/self/fd listing, and waits for a last request before exiting.
   Protocol: prints "running", reads a line (stop), prints "open FD..." ,
   reads a line (exit). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "fd_worker.h"

#define THREADS 8
#define LEFT_OPEN 3  /* fds each thread leaves open at the end */

static atomic_bool stop;

static void* churn(void* arg) {
    struct worker* w = arg;
    while (!atomic_load(&stop)) churn_step(w);
    settle(w, LEFT_OPEN);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    static struct worker workers[THREADS];
    for (int i = 0; i < THREADS; ++i) {
        workers[i].seed = 4321u + i;
        CHECK(pthread_create(&workers[i].thread, NULL, churn, &workers[i]) == 0);
    }
    printf("running\n");
    char line[64];
    CHECK(fgets(line, sizeof line, stdin));
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; ++i) CHECK(pthread_join(workers[i].thread, NULL) == 0);

    printf("open");
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    struct dirent* entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9' && atoi(entry->d_name) != dirfd(dir)) {
            printf(" %s", entry->d_name);
        }
    }
    closedir(dir);
    printf("\n");
    CHECK(fgets(line, sizeof line, stdin));
    return EXIT_EXPECTED;
}
