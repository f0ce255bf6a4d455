/* Asks for a dump (the dump signal, to itself) and exits at once, as a
   program that gives up right after the event that asked for a report: the
   report must be written before the exit report, not lost with the process. */
#include <signal.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fds[2];
    CHECK(pipe(fds) == 0); /* LEAK: pipe */
    CHECK(raise(SIGUSR1) == 0);
    return EXIT_EXPECTED;
}
