/* pipe and pipe2 (two fds per call), and epoll_create and epoll_create1. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fds[2];
    int fd;

    CHECK(pipe(fds) == 0); /* LEAK: pipe */
    CHECK(pipe(fds) == 0); /* CLOSED: pipe */
    CHECK(close(fds[0]) == 0 && close(fds[1]) == 0);

    CHECK(pipe2(fds, O_CLOEXEC) == 0); /* LEAK: pipe2 */
    CHECK(pipe2(fds, O_CLOEXEC) == 0); /* CLOSED: pipe2 */
    CHECK(close(fds[0]) == 0 && close(fds[1]) == 0);

    fd = epoll_create(4); /* LEAK: epoll_create */
    CHECK(fd >= 0);
    fd = epoll_create(4); /* CLOSED: epoll_create */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = epoll_create1(EPOLL_CLOEXEC); /* LEAK: epoll_create1 */
    CHECK(fd >= 0);
    fd = epoll_create1(EPOLL_CLOEXEC); /* CLOSED: epoll_create1 */
    CHECK(fd >= 0 && close(fd) == 0);

    return EXIT_EXPECTED;
}
