/* A SIGALRM handler opens and closes fds (open and close are
   async-signal-safe) every 100 us while the main thread does the same in a
   loop: a hook interrupted by a hook must not deadlock or lose a record. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t handled;
static volatile sig_atomic_t handler_failed;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    int fd = open("/dev/null", O_RDONLY); /* CLOSED: in-handler */
    int fds[2];
    if (fd < 0 || close(fd) != 0 || pipe(fds) != 0 || close(fds[0]) != 0 || close(fds[1]) != 0) handler_failed = 1;
    errno = saved;
    ++handled;
}

int main(void) {
    struct sigaction action = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    CHECK(sigaction(SIGALRM, &action, NULL) == 0);
    struct itimerval every = {.it_interval = {0, 100}, .it_value = {0, 100}};
    CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        int fd = open("/dev/null", O_RDONLY); /* CLOSED: in-main */
        CHECK(fd >= 0 && close(fd) == 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2);

    struct itimerval off = {0};
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
    CHECK(!handler_failed);
    fprintf(stderr, "%d signals handled\n", (int)handled);
    CHECK(handled > 100);
    CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* LEAK: after-signals */
    return EXIT_EXPECTED;
}
