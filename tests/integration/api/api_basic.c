/* Exercises the C API of fdtrack/fdtrack.h and prints what it returns, one "key value" line per
   fact, for test_api.py to check with and without the preload. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fdtrack/fdtrack.h>

static void print_open_since(const char* label, uint64_t checkpoint) {
    fdtrack_fd_info fds[64];
    int n = fdtrack_open_since(checkpoint, fds, 64);
    printf("%s_count %d\n", label, n);
    for (int i = 0; i < n && i < 64; ++i) {
        printf("%s fd=%d call=%s site=%u tid=%d thread=%s\n", label, fds[i].fd, fds[i].call, fds[i].site,
               fds[i].tid, fds[i].thread);
    }
}

int main(void) {
    printf("active %d\n", fdtrack_active());
    int before = open("/dev/null", O_RDONLY); /* CLOSED: before */
    uint64_t checkpoint = fdtrack_checkpoint();
    printf("checkpoint %llu\n", (unsigned long long)checkpoint);

    int file = open("/etc/hostname", O_RDONLY); /* LEAK: file */
    int sock = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: sock */
    int pipes[2];
    if (pipe(pipes) != 0) return 1; /* CLOSED: pipe */
    close(pipes[0]);
    close(pipes[1]);
    printf("file %d\nsock %d\nbefore %d\n", file, sock, before);

    print_open_since("since", checkpoint);

    /* A 16-byte buffer: the text is cut, NUL-terminated, and the full length returned. */
    char small[16];
    memset(small, 'x', sizeof small);
    int full = fdtrack_format_fd(file, small, sizeof small);
    printf("format_small %d %zu\n", full, strlen(small));
    char* text = malloc(65536);
    int length = fdtrack_format_fd(file, text, 65536);
    printf("format_length %d %zu\n", length, strlen(text));
    printf("format_begin\n%s\nformat_end\n", text);
    printf("format_untracked %d\n", fdtrack_format_fd(before + 1000, text, 65536));
    free(text);

    printf("ignore %d\n", fdtrack_ignore_fd(sock));
    printf("ignore_bad %d\n", fdtrack_ignore_fd(9999));
    print_open_since("after_ignore", checkpoint);

    /* A reused number is not ignored: the new fd was not vouched for. */
    close(sock);
    int sock2 = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: sock2 */
    printf("sock2 %d\n", sock2);
    print_open_since("after_reuse", checkpoint);

    print_open_since("all", 0);
    fflush(stdout);
    printf("dump %d\n", fdtrack_dump("api_basic asked"));
    close(before);
    return 0;
}
