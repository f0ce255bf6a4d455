/* A program linked with a library (opener.c) whose constructor opens a file:
   ld.so runs that constructor before libfdtrack.so's own, so the hook must
   work before fdtrack has initialised anything. */
#include "check.h"

extern int opener_fd;

int main(void) {
    CHECK(opener_fd >= 0);
    printf("%d\n", opener_fd);
    return EXIT_EXPECTED;
}
