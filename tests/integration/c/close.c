/* The closers that take a range: close_range (with and without
   CLOSE_RANGE_CLOEXEC) and closefrom. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    /* CLOSE_RANGE_CLOEXEC only sets close-on-exec: the fd stays open. */
    int kept = open("/etc/hostname", O_RDONLY); /* LEAK: close_range-cloexec */
    CHECK(kept >= 0 && close_range(kept, kept, CLOSE_RANGE_CLOEXEC) == 0);

    int first = open("/etc/hostname", O_RDONLY); /* CLOSED: close_range */
    int second = open("/etc/hostname", O_RDONLY); /* CLOSED: close_range */
    CHECK(first >= 0 && second == first + 1);
    CHECK(close_range(first, second, 0) == 0);
    /* An empty range is the kernel's error to give, as without fdtrack. */
    CHECK(close_range(second, first, 0) == -1 && errno == EINVAL);

    int low = open("/etc/hostname", O_RDONLY); /* CLOSED: closefrom */
    int pipes[2];
    CHECK(low >= 0 && pipe(pipes) == 0); /* CLOSED: closefrom */
    closefrom(low);

    int leaked = open("/etc/hostname", O_RDONLY); /* LEAK: after-closefrom */
    CHECK(leaked == low);  /* closefrom really closed them */
    return EXIT_EXPECTED;
}
