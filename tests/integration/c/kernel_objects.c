/* The Linux-specific fd makers: eventfd, timerfd_create, signalfd,
   inotify_init(1), memfd_create, pidfd_open, pidfd_getfd, and the syscall()
   forms programs use where glibc long had no wrapper. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fd;

    fd = eventfd(0, 0); /* LEAK: eventfd */
    CHECK(fd >= 0);
    fd = eventfd(0, 0); /* CLOSED: eventfd */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = timerfd_create(CLOCK_MONOTONIC, 0); /* LEAK: timerfd_create */
    CHECK(fd >= 0);
    fd = timerfd_create(CLOCK_MONOTONIC, 0); /* CLOSED: timerfd_create */
    CHECK(fd >= 0 && close(fd) == 0);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    fd = signalfd(-1, &mask, 0); /* LEAK: signalfd */
    CHECK(fd >= 0);
    /* Given an existing fd, signalfd only changes its mask: no new record. */
    sigaddset(&mask, SIGWINCH);
    CHECK(signalfd(fd, &mask, 0) == fd); /* CLOSED: signalfd-update */
    fd = signalfd(-1, &mask, 0); /* CLOSED: signalfd */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = inotify_init(); /* LEAK: inotify_init */
    CHECK(fd >= 0);
    fd = inotify_init(); /* CLOSED: inotify_init */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = inotify_init1(IN_CLOEXEC); /* LEAK: inotify_init1 */
    CHECK(fd >= 0);
    fd = inotify_init1(IN_CLOEXEC); /* CLOSED: inotify_init1 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = memfd_create("fdtrack-test", 0); /* LEAK: memfd_create */
    CHECK(fd >= 0);
    fd = memfd_create("fdtrack-test", 0); /* CLOSED: memfd_create */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = pidfd_open(getpid(), 0); /* LEAK: pidfd_open */
    CHECK(fd >= 0);
    int pidfd = pidfd_open(getpid(), 0); /* CLOSED: pidfd_open */
    CHECK(pidfd >= 0);

    int victim = open("/etc/hostname", O_RDONLY); /* CLOSED: pidfd_getfd-source */
    CHECK(victim >= 0);
    fd = pidfd_getfd(pidfd, victim, 0); /* LEAK: pidfd_getfd */
    CHECK(fd >= 0);
    fd = pidfd_getfd(pidfd, victim, 0); /* CLOSED: pidfd_getfd */
    CHECK(fd >= 0 && close(fd) == 0 && close(victim) == 0 && close(pidfd) == 0);

    fd = (int)syscall(SYS_pidfd_open, getpid(), 0); /* LEAK: syscall-pidfd_open */
    CHECK(fd >= 0);
    fd = (int)syscall(SYS_pidfd_open, getpid(), 0); /* CLOSED: syscall-pidfd_open */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = (int)syscall(SYS_memfd_create, "fdtrack-syscall", 0); /* LEAK: syscall-memfd_create */
    CHECK(fd >= 0);
    fd = (int)syscall(SYS_memfd_create, "fdtrack-syscall", 0); /* CLOSED: syscall-memfd_create */
    CHECK(fd >= 0 && close(fd) == 0);

    return EXIT_EXPECTED;
}
