/* A program with its own SIGUSR1 disposition: "sigaction" or "signal"
   installs a counting handler, "default" leaves it alone (SIGUSR1 kills).
   Prints "ready", then answers each stdin line: "count" -> "handled N",
   "exit" -> exits with EXIT_EXPECTED. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig) {
    (void)sig;
    ++handled;
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "sigaction")) {
        struct sigaction action = {0};
        action.sa_handler = on_usr1;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        CHECK(sigaction(SIGUSR1, &action, NULL) == 0);
    } else if (!strcmp(argv[1], "signal")) {
        CHECK(signal(SIGUSR1, on_usr1) != SIG_ERR);
    } else {
        CHECK(!strcmp(argv[1], "default"));
    }
    CHECK(open("/dev/null", O_RDONLY) >= 0); /* LEAK: signals */
    printf("ready\n");
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strcmp(line, "count\n")) printf("handled %d\n", (int)handled);
        else if (!strcmp(line, "exit\n")) return EXIT_EXPECTED;
    }
    return 0;
}
