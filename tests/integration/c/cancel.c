/* A thread blocked in accept() (inside fdtrack's hook) is cancelled; its
   cleanup handler closes the fd it opened. The program must end as without
   fdtrack, and fdtrack must see that close. Prints nothing; exits
   EXIT_EXPECTED. */
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static int listener;

static void close_fd(void* fd) { close(*(int*)fd); }

static void* serve(void* unused) {
    (void)unused;
    int fd = dup(listener); /* OPENED: closed-by-cleanup */
    CHECK(fd >= 0);
    pthread_cleanup_push(close_fd, &fd);
    for (;;) {
        int client = accept(listener, NULL, NULL); /* cancelled here */
        if (client >= 0) close(client);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

int main(void) {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(listener >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    CHECK(bind(listener, (struct sockaddr*)&address, sizeof address) == 0 && listen(listener, 1) == 0);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, serve, NULL) == 0);
    usleep(200 * 1000); /* let it block in accept() */
    CHECK(pthread_cancel(thread) == 0);
    void* result;
    CHECK(pthread_join(thread, &result) == 0 && result == PTHREAD_CANCELED);
    close(listener);
    return EXIT_EXPECTED;
}
