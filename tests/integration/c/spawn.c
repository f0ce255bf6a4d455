/* posix_spawn (with file actions that close and dup2 in the child) and
   system(): they work under the preload and the parent's records survive.
   Prints each child's pid. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char** environ;

int main(void) {
    int leaked = open("/etc/hostname", O_RDONLY); /* LEAK: before-spawn */
    CHECK(leaked >= 0);

    posix_spawn_file_actions_t actions;
    CHECK(posix_spawn_file_actions_init(&actions) == 0);
    CHECK(posix_spawn_file_actions_adddup2(&actions, leaked, 40) == 0);
    CHECK(posix_spawn_file_actions_addclose(&actions, leaked) == 0);
    char* argv[] = {"true", NULL};
    pid_t child;
    CHECK(posix_spawn(&child, "/bin/true", &actions, NULL, argv, environ) == 0);
    printf("%d\n", child);
    fflush(stdout);
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    posix_spawn_file_actions_destroy(&actions);

    CHECK(system("exit 3") != -1);
    CHECK(system("/bin/true") == 0);

    CHECK(fcntl(leaked, F_GETFD) >= 0 && fcntl(40, F_GETFD) < 0);
    return EXIT_EXPECTED;
}
