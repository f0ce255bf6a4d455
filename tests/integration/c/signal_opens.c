/* A timer signal whose handler opens and closes a file (open and close are
   async-signal-safe) while main opens and closes files in a loop: every fd
   the handler gets must be one the program would get, a low number, even
   when the signal lands while fdtrack records one of main's fds. Prints the
   highest fd the handler saw. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t highest = -1;

static void on_alarm(int signum) {
    (void)signum;
    int fd = open("/dev/null", O_RDONLY);
    if (fd > highest) highest = fd;
    if (fd >= 0) close(fd);
}

int main(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    action.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGALRM, &action, NULL) == 0);
    struct itimerval every = {{0, 100}, {0, 100}};
    CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
    for (int i = 0; i < 200000; ++i) {
        int fd = open("/dev/null", O_RDONLY);
        CHECK(fd >= 0);
        close(fd);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%d\n", (int)highest);
    return EXIT_EXPECTED;
}
