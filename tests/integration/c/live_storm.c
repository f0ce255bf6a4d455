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

#define THREADS 8
#define POOL 16      /* fds a thread holds at most */
#define LEFT_OPEN 3  /* fds each thread leaves open at the end */

struct worker {
    pthread_t thread;
    unsigned seed;
    int pool[POOL];
    int held;
};

static atomic_bool stop;

static void hold(struct worker* w, int fd) {
    CHECK(fd >= 0);
    w->pool[w->held++] = fd;
}

static void release_one(struct worker* w) {
    int i = rand_r(&w->seed) % w->held;
    CHECK(close(w->pool[i]) == 0);
    w->pool[i] = w->pool[--w->held];
}

static void* churn(void* arg) {
    struct worker* w = arg;
    while (!atomic_load(&stop)) {
        int op = rand_r(&w->seed) % 5;
        if (w->held >= POOL - 2 || (op == 0 && w->held > 0)) {
            release_one(w);
            continue;
        }
        int fds[2];
        switch (op) {
            case 1: hold(w, open("/dev/null", O_RDONLY)); break;
            case 2:
                CHECK(pipe(fds) == 0);
                hold(w, fds[0]);
                hold(w, fds[1]);
                break;
            case 3: hold(w, socket(AF_UNIX, SOCK_STREAM, 0)); break;
            case 4:
                if (w->held > 0) hold(w, dup(w->pool[rand_r(&w->seed) % w->held]));
                break;
        }
    }
    while (w->held > LEFT_OPEN) release_one(w);
    while (w->held < LEFT_OPEN) hold(w, open("/dev/null", O_RDONLY));
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
