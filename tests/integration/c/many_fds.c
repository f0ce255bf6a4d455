/* Opens 2000 fds one after another: each must be the lowest free number, as
   without fdtrack, although fdtrack keeps its own fds just above the
   program's (below 1024 at first) and has to move them up on the way. */
#include <fcntl.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    for (int i = 0; i < 2000; ++i) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd != 3 + i) {
            fprintf(stderr, "open number %d gave fd %d, not %d\n", i, fd, 3 + i);
            return 1;
        }
    }
    return EXIT_EXPECTED;
}
