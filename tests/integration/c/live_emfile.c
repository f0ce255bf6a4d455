/* Leaks fds under a soft limit of 64 until open fails with "Too many open
   files", then prints "emfile" and waits for a line on stdin (the test reads
   the dump meanwhile) before exiting. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"

static int leak_until_full(void) {
    for (int n = 0;; ++n) {
        int fd = open("/dev/null", O_RDONLY); /* LEAK: emfile */
        if (fd < 0) return errno == EMFILE ? n : -1;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit limit;
    CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    limit.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0);
    int leaked = leak_until_full();
    CHECK(leaked > 0);
    printf("emfile %d\n", leaked);
    char line[16];
    CHECK(fgets(line, sizeof line, stdin));
    /* The dumps are over: fdtrack must have put the limit back. */
    CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur == 64);
    CHECK(open("/dev/null", O_RDONLY) < 0 && errno == EMFILE);
    return EXIT_EXPECTED;
}
