/* An fd opened without CLOEXEC leaks into a child across fork+exec: the
   child's report must carry the parent's allocation site. Usage: exec_leak
   (the child is this program again, with the fd number as its argument). */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
    if (argc > 1) { /* the exec'd child: the fd is still open here */
        printf("%s\n", argv[1]);
        return EXIT_EXPECTED;
    }
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: across-exec */
    CHECK(fd >= 0);
    char number[16];
    snprintf(number, sizeof number, "%d", fd);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "exec_leak", number, (char*)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXPECTED);
    close(fd); /* CLOSED: parent */
    printf("%d\n", (int)pid);
    return EXIT_EXPECTED;
}
