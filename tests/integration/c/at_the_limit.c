/* A server at its fd limit (issue #10, item 6): sets soft = hard = LIMIT,
   leaks eventfds and pipes from two functions until they fail with "Too many
   open files", keeps trying a few hundred times as a server retrying
   accept() would, then exits with every fd still open.
   usage: at_the_limit LIMIT [WAIT_AT DIR]: with WAIT_AT, once WAIT_AT fds
   are open (FDTRACK_THRESHOLD), it waits until a report of its own is in DIR
   before going on, so that the threshold report is taken there and not
   folded into the emfile one. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"

static int leak_a(void) {
    return eventfd(0, 0); /* LEAK: eventfd */
}

static int leak_b(void) {
    int ends[2];
    return pipe(ends); /* LEAK: pipe */
}

static int has_a_report(const char* dir) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "fdtrack.%d.", (int)getpid());
    DIR* listing = opendir(dir);
    CHECK(listing);
    int found = 0;
    for (struct dirent* entry; !found && (entry = readdir(listing));) {
        size_t n = strlen(entry->d_name);
        found = !strncmp(entry->d_name, prefix, strlen(prefix)) && n > 5 && !strcmp(entry->d_name + n - 5, ".json");
    }
    closedir(listing);
    return found;
}

/* A deadline against a hang, not a measure: the test fails on exit 99. */
static void wait_for_a_report(const char* dir) {
    for (int tries = 0; !has_a_report(dir); ++tries) {
        CHECK(tries < 3000 && "no report within 30 s of reaching WAIT_AT");
        usleep(10000);
    }
}

int main(int argc, char** argv) {
    CHECK(argc == 2 || argc == 4);
    struct rlimit limit;
    CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    rlim_t wanted = strtoul(argv[1], NULL, 10);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) wanted = limit.rlim_max;
    limit.rlim_cur = limit.rlim_max = wanted;
    CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0);
    long wait_at = argc == 4 ? strtol(argv[2], NULL, 10) : -1;
    long open_now = 0;
    for (int fd = 0; fd < 1024; ++fd) open_now += fcntl(fd, F_GETFD) >= 0;
    for (;;) {
        if (leak_a() < 0) {
            CHECK(errno == EMFILE);
            break; /* not even one fd left */
        }
        ++open_now;
        if (leak_b() == 0) open_now += 2;
        else CHECK(errno == EMFILE);
        if (wait_at > 0 && open_now >= wait_at) {
            wait_for_a_report(argv[3]);
            wait_at = -1;
        }
    }
    for (int retry = 0; retry < 300; ++retry) {
        CHECK(leak_a() < 0 && errno == EMFILE);
        CHECK(leak_b() < 0 && errno == EMFILE);
    }
    printf("full with %ld fds open at a limit of %lu\n", open_now, (unsigned long)wanted);
    return EXIT_EXPECTED;
}
