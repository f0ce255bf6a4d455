/* A daemon-style program closes every fd it does not know (closefrom, then
   close() over the whole range, as older code does), and then keeps working:
   fdtrack must survive and still report the leak that follows. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "check.h"

int main(void) {
    CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* CLOSED: before-closefrom */
    closefrom(3);
    CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* CLOSED: before-close-loop */
    for (int fd = 3; fd <= 1024; ++fd) close(fd);
    CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* CLOSED: before-close_range */
    CHECK(close_range(3, ~0U, 0) == 0);

    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: after-closing-all */
    CHECK(fd == 3);
    return EXIT_EXPECTED;
}
