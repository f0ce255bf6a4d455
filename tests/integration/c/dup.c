/* dup, dup2, dup3 and fcntl/fcntl64 F_DUPFD(_CLOEXEC); dup2 and dup3 onto a
   live fd close it, so its record must give way to the duplicate's. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int source = open("/etc/hostname", O_RDONLY); /* CLOSED: source */
    CHECK(source >= 0);
    int fd;

    fd = dup(source); /* LEAK: dup */
    CHECK(fd >= 0);
    fd = dup(source); /* CLOSED: dup */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = dup2(source, 100); /* LEAK: dup2 */
    CHECK(fd == 100);
    fd = dup2(source, 101); /* CLOSED: dup2 */
    CHECK(fd == 101 && close(fd) == 0);

    fd = dup3(source, 110, O_CLOEXEC); /* LEAK: dup3 */
    CHECK(fd == 110);
    fd = dup3(source, 111, O_CLOEXEC); /* CLOSED: dup3 */
    CHECK(fd == 111 && close(fd) == 0);

    fd = fcntl(source, F_DUPFD, 120); /* LEAK: fcntl-F_DUPFD */
    CHECK(fd >= 120);
    fd = fcntl(source, F_DUPFD, 120); /* CLOSED: fcntl-F_DUPFD */
    CHECK(fd >= 120 && close(fd) == 0);

    fd = fcntl(source, F_DUPFD_CLOEXEC, 130); /* LEAK: fcntl-F_DUPFD_CLOEXEC */
    CHECK(fd >= 130);
    fd = fcntl(source, F_DUPFD_CLOEXEC, 130); /* CLOSED: fcntl-F_DUPFD_CLOEXEC */
    CHECK(fd >= 130 && close(fd) == 0);

    fd = fcntl64(source, F_DUPFD, 140); /* LEAK: fcntl64-F_DUPFD */
    CHECK(fd >= 140);
    fd = fcntl64(source, F_DUPFD_CLOEXEC, 150); /* LEAK: fcntl64-F_DUPFD_CLOEXEC */
    CHECK(fd >= 150);
    fd = fcntl64(source, F_DUPFD_CLOEXEC, 150); /* CLOSED: fcntl64-F_DUPFD_CLOEXEC */
    CHECK(fd >= 150 && close(fd) == 0);

    /* Other fcntl commands create nothing. */
    CHECK(fcntl(source, F_SETFD, FD_CLOEXEC) == 0); /* CLOSED: fcntl-F_SETFD */
    CHECK(fcntl(source, F_GETFL) >= 0);

    /* dup2/dup3 onto a live fd: the old record is replaced, not kept. */
    int live = open("/etc/passwd", O_RDONLY); /* CLOSED: replaced-by-dup2 */
    CHECK(live >= 0);
    fd = dup2(source, live); /* LEAK: dup2-onto-live */
    CHECK(fd == live);
    live = open("/etc/passwd", O_RDONLY); /* CLOSED: replaced-by-dup3 */
    CHECK(live >= 0);
    fd = dup3(source, live, 0); /* LEAK: dup3-onto-live */
    CHECK(fd == live);

    /* dup2 of an fd onto itself changes nothing: the record stays open()'s. */
    int self = open("/etc/passwd", O_RDONLY); /* LEAK: dup2-self */
    CHECK(self >= 0 && dup2(self, self) == self); /* CLOSED: dup2-self */

    CHECK(close(source) == 0);
    return EXIT_EXPECTED;
}
