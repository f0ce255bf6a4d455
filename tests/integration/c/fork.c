/* fork: the child inherits the parent's records and stacks, leaks one fd of
   its own and leaves through exit(); the parent leaks one more after the fork.
   Prints the child's pid. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int open_before_fork(void) {
    return open("/etc/hostname", O_RDONLY); /* LEAK: before-fork */
}

int main(void) {
    CHECK(open_before_fork() >= 0);
    fflush(stdout);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        CHECK(open("/etc/passwd", O_RDONLY) >= 0); /* LEAK: in-child */
        exit(0);
    }
    printf("%d\n", child);
    CHECK(open("/etc/passwd", O_RDONLY) >= 0); /* LEAK: parent-after-fork */
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return EXIT_EXPECTED;
}
