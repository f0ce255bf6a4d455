/* Rewrites its process title the way nginx, redis and postgres do: the
   memory of argv and the environment is reused for the title, so every
   environment string and argument is overwritten. Then leaks one file.
   fdtrack's settings and the command line were read before main and must
   still hold. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

extern char** environ;

int main(int argc, char** argv) {
    for (char** entry = environ; *entry; ++entry) memset(*entry, 'x', strlen(*entry));
    for (int i = 1; i < argc; ++i) memset(argv[i], 0, strlen(argv[i]));
    strcpy(argv[0], "title");
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: after-title */
    CHECK(fd >= 0);
    return EXIT_EXPECTED;
}
