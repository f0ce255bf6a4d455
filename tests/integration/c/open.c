/* open, open64, openat, openat64, creat, creat64 and the _FORTIFY_SOURCE
   entry points (__open_2...), each leaking one fd and closing one. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "check.h"

/* Declared by <fcntl.h> only under _FORTIFY_SOURCE; called directly so that
   the test does not depend on when the compiler picks them. */
int __open_2(const char*, int);
int __open64_2(const char*, int);
int __openat_2(int, const char*, int);
int __openat64_2(int, const char*, int);

int main(void) {
    const char* file = "/etc/hostname";
    int fd;

    fd = open(file, O_RDONLY); /* LEAK: open */
    CHECK(fd >= 0);
    fd = open(file, O_RDONLY); /* CLOSED: open */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = open64(file, O_RDONLY); /* LEAK: open64 */
    CHECK(fd >= 0);
    fd = open64(file, O_RDONLY); /* CLOSED: open64 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = openat(AT_FDCWD, file, O_RDONLY); /* LEAK: openat */
    CHECK(fd >= 0);
    fd = openat(AT_FDCWD, file, O_RDONLY); /* CLOSED: openat */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = openat64(AT_FDCWD, file, O_RDONLY); /* LEAK: openat64 */
    CHECK(fd >= 0);
    fd = openat64(AT_FDCWD, file, O_RDONLY); /* CLOSED: openat64 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = creat("created", 0600); /* LEAK: creat */
    CHECK(fd >= 0);
    fd = creat("created", 0600); /* CLOSED: creat */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = creat64("created64", 0600); /* LEAK: creat64 */
    CHECK(fd >= 0);
    fd = creat64("created64", 0600); /* CLOSED: creat64 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = __open_2(file, O_RDONLY); /* LEAK: __open_2 */
    CHECK(fd >= 0);
    fd = __open_2(file, O_RDONLY); /* CLOSED: __open_2 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = __open64_2(file, O_RDONLY); /* LEAK: __open64_2 */
    CHECK(fd >= 0);
    fd = __open64_2(file, O_RDONLY); /* CLOSED: __open64_2 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = __openat_2(AT_FDCWD, file, O_RDONLY); /* LEAK: __openat_2 */
    CHECK(fd >= 0);
    fd = __openat_2(AT_FDCWD, file, O_RDONLY); /* CLOSED: __openat_2 */
    CHECK(fd >= 0 && close(fd) == 0);

    fd = __openat64_2(AT_FDCWD, file, O_RDONLY); /* LEAK: __openat64_2 */
    CHECK(fd >= 0);
    fd = __openat64_2(AT_FDCWD, file, O_RDONLY); /* CLOSED: __openat64_2 */
    CHECK(fd >= 0 && close(fd) == 0);

    return EXIT_EXPECTED;
}
