/* Prints the fd numbers the kernel hands out for a series of opens, closes
   and pipes: fdtrack must not take any of them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fds[2];
    for (int i = 0; i < 5; ++i) printf("%d ", open("/dev/null", O_RDONLY));
    CHECK(close(4) == 0 && close(6) == 0);
    printf("%d ", open("/dev/null", O_RDONLY));
    CHECK(pipe(fds) == 0);
    printf("%d %d ", fds[0], fds[1]);
    printf("%d ", socket(AF_UNIX, SOCK_STREAM, 0));
    printf("%d\n", dup(0));
    return 0;
}
