/* A clean parent that runs a child program and waits for it, the way argv[1]
   says: "fork" (fork + execv), "spawn" (posix_spawn) or "system" (system(3),
   through /bin/sh). Exits 0 when the child exited 0, else 98. */
#include <spawn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: parent fork|spawn|system CHILD\n");
        return 2;
    }
    const char* how = argv[1];
    char* child_argv[] = {argv[2], NULL};
    int status = -1;
    if (strcmp(how, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[2], child_argv);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid) return 97;
    } else if (strcmp(how, "spawn") == 0) {
        pid_t pid;
        if (posix_spawn(&pid, argv[2], NULL, NULL, child_argv, environ) != 0) return 97;
        if (waitpid(pid, &status, 0) != pid) return 97;
    } else if (strcmp(how, "system") == 0) {
        status = system(argv[2]);
    } else {
        return 2;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 98;
}
