/* Leaks a socket from leak_socket() and, given "pipe" as its second argument,
   a pipe from leak_pipe() too; exits with the status given as its first
   argument (default 0), so a gate's exit code can be told from the program's. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int leak_socket(void) {
    return socket(AF_INET, SOCK_DGRAM, 0); /* LEAK: socket */
}

int leak_pipe(void) {
    int fds[2];
    return pipe(fds); /* LEAK: pipe */
}

int main(int argc, char** argv) {
    if (leak_socket() < 0) return 99;
    if (argc > 2 && strcmp(argv[2], "pipe") == 0 && leak_pipe() != 0) return 99;
    return argc > 1 ? atoi(argv[1]) : 0;
}
