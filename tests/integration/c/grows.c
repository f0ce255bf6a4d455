/* A site that keeps growing and one that stays: N times, one more leaked
   eventfd, then a pause longer than FDTRACK_INTERVAL=1 so a sample sees it. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>

#include "check.h"

static void pause_a_sample(void) {
    struct timespec wait = {1, 150 * 1000 * 1000};
    while (nanosleep(&wait, &wait) != 0) {
    }
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    CHECK(open("/dev/null", O_RDONLY) >= 0); /* LEAK: steady */
    for (int i = 0; i < atoi(argv[1]); ++i) {
        CHECK(eventfd(0, 0) >= 0); /* LEAK: growing */
        pause_a_sample();
    }
    return EXIT_EXPECTED;
}
