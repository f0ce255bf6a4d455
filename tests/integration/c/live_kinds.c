/* Holds one fd of each kind a live dump must describe: a listening TCP
   socket, an accepted one whose peer has closed (CLOSE_WAIT), a pipe, an
   eventfd, an epoll instance and an unlinked file. Prints
   "NAME FD ..." pairs and the TCP ports, then waits for a line on stdin. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static int port_of(int fd, int peer) {
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    CHECK((peer ? getpeername : getsockname)(fd, (struct sockaddr*)&address, &length) == 0);
    return ntohs(address.sin_port);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int listener = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: listen */
    CHECK(listener >= 0);
    CHECK(bind(listener, (struct sockaddr*)&address, sizeof address) == 0);
    CHECK(listen(listener, 4) == 0);
    socklen_t length = sizeof address;
    CHECK(getsockname(listener, (struct sockaddr*)&address, &length) == 0);

    int client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(client >= 0);
    CHECK(connect(client, (struct sockaddr*)&address, sizeof address) == 0);
    int accepted = accept(listener, NULL, NULL); /* LEAK: accepted */
    CHECK(accepted >= 0);
    int client_port = port_of(accepted, 1);
    CHECK(close(client) == 0);

    int fds[2];
    CHECK(pipe(fds) == 0); /* LEAK: pipe */
    int event = eventfd(0, EFD_CLOEXEC); /* LEAK: eventfd */
    int poller = epoll_create1(0); /* LEAK: epoll */
    CHECK(event >= 0 && poller >= 0);
    char path[] = "live_kinds.XXXXXX";
    int gone = mkstemp(path); /* LEAK: deleted */
    CHECK(gone >= 0 && unlink(path) == 0);
    char real[4096];
    CHECK(realpath(".", real));

    printf("listen %d accepted %d pipe_r %d pipe_w %d eventfd %d epoll %d deleted %d port %d client_port %d"
           " dir %s file %s\n",
           listener, accepted, fds[0], fds[1], event, poller, gone, ntohs(address.sin_port), client_port, real, path);
    char line[16];
    CHECK(fgets(line, sizeof line, stdin));
    return EXIT_EXPECTED;
}
