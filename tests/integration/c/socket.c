/* socket, socketpair, accept and accept4 over a unix socket of our own. */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"

/* A connection for the listener to accept; the client end is closed at once. */
static void connect_to(const struct sockaddr_un* addr, socklen_t len) {
    int client = socket(AF_UNIX, SOCK_STREAM, 0); /* CLOSED: client */
    CHECK(client >= 0 && connect(client, (const struct sockaddr*)addr, len) == 0 && close(client) == 0);
}

int main(void) {
    int fd;
    int pair[2];

    fd = socket(AF_INET, SOCK_DGRAM, 0); /* LEAK: socket */
    CHECK(fd >= 0);
    fd = socket(AF_INET, SOCK_DGRAM, 0); /* CLOSED: socket */
    CHECK(fd >= 0 && close(fd) == 0);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0); /* LEAK: socketpair */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0); /* CLOSED: socketpair */
    CHECK(close(pair[0]) == 0 && close(pair[1]) == 0);

    /* An abstract address: nothing to clean up in the file system. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int name_len = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "fdtrack-test-%d", getpid());
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + name_len;
    int listener = socket(AF_UNIX, SOCK_STREAM, 0); /* CLOSED: listener */
    CHECK(listener >= 0 && bind(listener, (struct sockaddr*)&addr, len) == 0 && listen(listener, 8) == 0);

    connect_to(&addr, len);
    fd = accept(listener, NULL, NULL); /* LEAK: accept */
    CHECK(fd >= 0);
    connect_to(&addr, len);
    fd = accept(listener, NULL, NULL); /* CLOSED: accept */
    CHECK(fd >= 0 && close(fd) == 0);

    connect_to(&addr, len);
    fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC); /* LEAK: accept4 */
    CHECK(fd >= 0);
    connect_to(&addr, len);
    fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC); /* CLOSED: accept4 */
    CHECK(fd >= 0 && close(fd) == 0);

    CHECK(close(listener) == 0);
    return EXIT_EXPECTED;
}
