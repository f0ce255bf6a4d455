/* valgrind's close_range test, as fdtrack sees it: a range up to ~0U closes
   "everything from there", numbers already closed included, and is no
   mistake; a range that names its fds and closes them a second time is a
   double close of each. So is the close of numbers already closed below
   the fd limit, but not a range up to the limit itself. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fd = dup(2);
    CHECK(fd >= 0 && close(fd) == 0);
    CHECK(close_range(fd, ~0U, 0) == 0);
    CHECK(dup2(1, 5) == 5); /* OPENED: five */
    CHECK(dup2(2, 7) == 7); /* OPENED: seven */
    CHECK(close_range(5, 7, 0) == 0); /* CLOSED: range */
    CHECK(close_range(5, 7, 0) == 0); /* BAD: twice */
    struct rlimit limit;
    CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    CHECK(close_range(3, limit.rlim_cur - 1, 0) == 0);
    return EXIT_EXPECTED;
}
