/* The _FORTIFY_SOURCE path as a real build takes it: compiled with
   -O2 -D_FORTIFY_SOURCE=2, open() with flags the compiler cannot see becomes
   a call to __open_2 (and openat() to __openat_2). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
    (void)argv;
    int flags = argc > 5 ? O_WRONLY : O_RDONLY; /* not a constant, so the checked entry point is used */
    int fd = open("/etc/hostname", flags); /* LEAK: fortified-open */
    CHECK(fd >= 0);
    int dirfd = openat(AT_FDCWD, "/etc/hostname", flags); /* LEAK: fortified-openat */
    CHECK(dirfd >= 0);
    int closed = open("/etc/hostname", flags); /* CLOSED: fortified-open */
    CHECK(closed >= 0 && close(closed) == 0);
    char buf[4];
    CHECK(read(fd, buf, sizeof buf) >= 0 && read(dirfd, buf, sizeof buf) >= 0);
    return EXIT_EXPECTED;
}
