/* vfork shares the parent's memory, so the child's closes and dup2s before
   exec must not touch the parent's records. Usage: vfork [close_range|close|dup2] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
    CHECK(argc == 2);
    int first = open("/etc/hostname", O_RDONLY); /* LEAK: parent-first */
    int second = open("/etc/passwd", O_RDONLY); /* LEAK: parent-second */
    CHECK(first >= 0 && second >= 0);

    pid_t child = vfork();
    CHECK(child >= 0);
    if (child == 0) {
        /* Only async-signal-safe calls, and no return, in a vfork child. */
        if (!strcmp(argv[1], "close_range")) {
            close_range(3, ~0U, 0);
        } else if (!strcmp(argv[1], "close")) {
            for (int fd = 3; fd < 1024; ++fd) close(fd);
        } else if (!strcmp(argv[1], "dup2")) {
            dup2(first, second);  /* replaces `second` in the child only */
            dup2(first, 50);
            close(first);
        }
        execl("/bin/true", "true", (char*)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The fds really are still open here. */
    CHECK(fcntl(first, F_GETFD) >= 0 && fcntl(second, F_GETFD) >= 0 && fcntl(50, F_GETFD) < 0);
    return EXIT_EXPECTED;
}
