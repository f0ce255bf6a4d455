/* posix_openpt, getpt, openpty (two fds) and shm_open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fd;

    fd = posix_openpt(O_RDWR | O_NOCTTY); /* LEAK: posix_openpt */
    CHECK(fd >= 0);
    fd = posix_openpt(O_RDWR | O_NOCTTY); /* CLOSED: posix_openpt */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = getpt(); /* LEAK: getpt */
    CHECK(fd >= 0);
    fd = getpt(); /* CLOSED: getpt */
    CHECK(fd >= 0 && close(fd) == 0);

    int master, slave;
    CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0); /* LEAK: openpty */
    CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0); /* CLOSED: openpty */
    CHECK(close(master) == 0 && close(slave) == 0);

    char name[64];
    snprintf(name, sizeof name, "/fdtrack-test-%d", getpid());
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600); /* LEAK: shm_open */
    CHECK(fd >= 0);
    int closed = shm_open(name, O_RDWR, 0600); /* CLOSED: shm_open */
    CHECK(closed >= 0 && close(closed) == 0 && shm_unlink(name) == 0);

    return EXIT_EXPECTED;
}
