/* Closes numbers that were never open: -1 (an error path closing a failed
   open's result) and, in a loop, 100 numbers no one opened. Each line is a
   bad close, named once however many numbers it closed. */
#include <errno.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    CHECK(close(-1) == -1 && errno == EBADF); /* BAD: minus-one */
    for (int fd = 500; fd < 600; ++fd) {
        CHECK(close(fd) == -1 && errno == EBADF); /* BAD: loop */
    }
    return EXIT_EXPECTED;
}
