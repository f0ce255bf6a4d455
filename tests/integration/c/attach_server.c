/* A threaded TCP server on loopback to attach to under load: one thread per
   connection reads a line, opens /dev/null and keeps it (one leaked fd per
   request, at the LEAK line), answers "ok N" (N requests served so far) and
   closes the connection. Prints "port P" once listening. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static atomic_long served;

static void* handle(void* arg) {
    int client = (int)(long)arg;
    char line[256];
    ssize_t n = read(client, line, sizeof line);
    if (n > 0) {
        int leaked = open("/dev/null", O_RDONLY); /* LEAK: request */
        CHECK(leaked >= 0);
        char answer[64];
        snprintf(answer, sizeof answer, "ok %ld\n", atomic_fetch_add(&served, 1) + 1);
        CHECK(write(client, answer, strlen(answer)) == (ssize_t)strlen(answer));
    }
    close(client);
    return NULL;
}

int main(void) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(server >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    CHECK(bind(server, (struct sockaddr*)&address, sizeof address) == 0);
    CHECK(listen(server, 128) == 0);
    CHECK(getsockname(server, (struct sockaddr*)&address, &length) == 0);
    printf("port %d\n", ntohs(address.sin_port));
    fflush(stdout);
    for (;;) {
        int client = accept4(server, NULL, NULL, SOCK_CLOEXEC);
        CHECK(client >= 0);
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, handle, (void*)(long)client) == 0);
        pthread_detach(thread);
    }
}
