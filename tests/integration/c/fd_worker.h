/* A thread's pool of fds for the churn programs (churn.c, live_storm.c): each
   step opens (open, pipe, socket, dup) or closes one at random; settle()
   leaves a known number open. */
#pragma once
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define POOL 16 /* fds a thread holds at most */

struct worker {
    pthread_t thread;
    unsigned seed;
    int pool[POOL];
    int held;
};

static void hold(struct worker* w, int fd) {
    CHECK(fd >= 0);
    w->pool[w->held++] = fd;
}

static void release_one(struct worker* w) {
    int i = rand_r(&w->seed) % w->held;
    CHECK(close(w->pool[i]) == 0);
    w->pool[i] = w->pool[--w->held];
}

static void churn_step(struct worker* w) {
    int op = rand_r(&w->seed) % 5;
    if (w->held >= POOL - 2 || (op == 0 && w->held > 0)) {
        release_one(w);
        return;
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

static void settle(struct worker* w, int left_open) {
    while (w->held > left_open) release_one(w);
    while (w->held < left_open) hold(w, open("/dev/null", O_RDONLY));
}
