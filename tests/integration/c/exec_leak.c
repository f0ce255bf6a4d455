/* An fd opened without CLOEXEC leaks into a child started through one of the
   exec or spawn functions: the child's report must carry the parent's
   allocation site. Usage: exec_leak VARIANT (the child is this program again,
   run as `exec_leak child FD`; it prints FD, its pid and how many of its fds
   are fdtrack's hand-over files, which it must never see). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char** environ;

static void exec_child(const char* variant, char* fd) {
    char* argv[] = {"exec_leak", "child", fd, NULL};
    if (!strcmp(variant, "execl")) execl("/proc/self/exe", "exec_leak", "child", fd, (char*)NULL);
    if (!strcmp(variant, "execle")) execle("/proc/self/exe", "exec_leak", "child", fd, (char*)NULL, environ);
    if (!strcmp(variant, "execlp")) execlp(getenv("SELF"), "exec_leak", "child", fd, (char*)NULL);
    if (!strcmp(variant, "execv")) execv("/proc/self/exe", argv);
    if (!strcmp(variant, "execve")) execve("/proc/self/exe", argv, environ);
    if (!strcmp(variant, "execvp")) execvp(getenv("SELF"), argv);
    if (!strcmp(variant, "execvpe")) execvpe(getenv("SELF"), argv, environ);
    if (!strcmp(variant, "fexecve")) fexecve(open("/proc/self/exe", O_RDONLY | O_CLOEXEC), argv, environ);
    if (!strcmp(variant, "execveat")) execveat(AT_FDCWD, "/proc/self/exe", argv, environ, 0);
    _exit(127);
}

/* The spawn functions start the child themselves: returns its pid (0 when
   system or popen waited for it), -1 if `variant` is not one of them. */
static pid_t spawn_child(const char* variant, char* fd) {
    char* argv[] = {"exec_leak", "child", fd, NULL};
    pid_t pid = -1;
    if (!strcmp(variant, "system") || !strcmp(variant, "popen")) pid = 0;
    char command[256];
    snprintf(command, sizeof command, "exec %s child %s", getenv("SELF"), fd);
    if (!strcmp(variant, "posix_spawn")) CHECK(posix_spawn(&pid, getenv("SELF"), NULL, NULL, argv, environ) == 0);
    if (!strcmp(variant, "posix_spawnp")) CHECK(posix_spawnp(&pid, getenv("SELF"), NULL, NULL, argv, environ) == 0);
    if (!strcmp(variant, "system")) CHECK(system(command) == EXIT_EXPECTED << 8);
    if (!strcmp(variant, "popen")) {
        FILE* child = popen(command, "r");
        CHECK(child);
        char line[64];
        CHECK(fgets(line, sizeof line, child));
        fputs(line, stdout);
        CHECK(pclose(child) == EXIT_EXPECTED << 8);
    }
    return pid;
}

static int handover_fds(void) {
    int n = 0;
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    for (struct dirent* entry; (entry = readdir(dir));) {
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0 && (target[len] = '\0', strstr(target, "fdtrack-handover"))) ++n;
    }
    closedir(dir);
    return n;
}

int main(int argc, char** argv) {
    if (argc == 3 && !strcmp(argv[1], "child")) { /* the exec'd child: the fd is still open here */
        printf("%s %d %d\n", argv[2], (int)getpid(), handover_fds());
        return EXIT_EXPECTED;
    }
    CHECK(argc == 2);
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: across-exec */
    CHECK(fd >= 0);
    char number[16];
    snprintf(number, sizeof number, "%d", fd);
    fflush(stdout);
    pid_t pid = spawn_child(argv[1], number);
    if (pid == -1) {
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) exec_child(argv[1], number);
    }
    if (pid > 0) {
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXPECTED);
    }
    close(fd); /* CLOSED: parent */
    return EXIT_EXPECTED;
}
