/* A small program with the kinds of leaks fdtrack finds: a config file read
 * on every request and never closed, a pipe whose ends are forgotten, and a
 * socket kept by mistake. Run it with `fdtrack run -- build/examples/leaky`. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_config(void) {
    FILE* config = fopen("/etc/hostname", "r"); /* never closed: one leak per request */
    char line[256];
    return config && fgets(line, sizeof line, config) != NULL;
}

static void start_worker(void) {
    int to_worker[2];
    if (pipe(to_worker) == 0) close(to_worker[1]); /* the read end is forgotten */
}

static void handle_request(int n) {
    read_config();
    if (n % 2 == 0) start_worker();
}

int main(void) {
    for (int n = 0; n < 6; ++n) handle_request(n);
    int probe = socket(AF_INET, SOCK_STREAM, 0); /* kept by mistake */
    int scratch = open("/etc/passwd", O_RDONLY);
    close(scratch); /* closed: not reported */
    printf("handled 6 requests (probe socket %d)\n", probe);
    return 0;
}
