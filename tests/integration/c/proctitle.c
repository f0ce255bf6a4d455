/* Rewrites its process title the way nginx, redis and postgres do: the
   memory of argv and the environment is reused for the title, so every
   environment string is overwritten. Then leaks one file. fdtrack's settings
   were read before main and must still hold. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

extern char** environ;

int main(void) {
    for (char** entry = environ; *entry; ++entry) memset(*entry, 'x', strlen(*entry));
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: after-title */
    CHECK(fd >= 0);
    return EXIT_EXPECTED;
}
