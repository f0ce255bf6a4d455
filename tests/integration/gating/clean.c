/* Opens and closes a socket, then exits with the status given as its first
   argument (default 0): the clean counterpart of leaky.c. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0); /* CLOSED: socket */
    if (fd < 0 || close(fd) != 0) return 99;
    return argc > 1 ? atoi(argv[1]) : 0;
}
