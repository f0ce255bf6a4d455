/* Holds N fds from four sites (files, pipes, eventfds, unix socket pairs),
   says "ready", and waits for a line on stdin: the target of dump_bench.py.
   With a second argument "thread" it starts a thread of its own first. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int file(void) { return open("/dev/null", O_RDONLY); }
static int pipes(void) { int p[2]; return pipe(p) == 0 ? 2 : -1; }
static int events(void) { return eventfd(0, 0); }
static int pairs(void) { int s[2]; return socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0 ? 2 : -1; }

static void* wait_forever(void* unused) {
    for (;;) pause();
    return unused;
}

int main(int argc, char** argv) {
    int wanted = argc > 1 ? atoi(argv[1]) : 1000;
    pthread_t thread;
    if (argc > 2 && pthread_create(&thread, NULL, wait_forever, NULL) != 0) return 1;
    for (int opened = 0, i = 0; opened < wanted; ++i) {
        int got = 0;
        switch (i % 4) {
            case 0: got = file() >= 0; break;
            case 1: got = pipes(); break;
            case 2: got = events() >= 0; break;
            case 3: got = pairs(); break;
        }
        if (got < 0) {
            perror("fd_holder");
            return 1;
        }
        opened += got;
    }
    printf("ready\n");
    fflush(stdout);
    char line[16];
    return fgets(line, sizeof line, stdin) ? 0 : 1;
}
