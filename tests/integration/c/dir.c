/* opendir and fdopendir, closed by closedir. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    DIR* dir;

    dir = opendir("/etc"); /* LEAK: opendir */
    CHECK(dir);
    dir = opendir("/etc"); /* CLOSED: opendir */
    CHECK(dir && closedir(dir) == 0);

    int fd = open("/etc", O_RDONLY | O_DIRECTORY); /* CLOSED: open-for-fdopendir */
    CHECK(fd >= 0);
    dir = fdopendir(fd); /* LEAK: fdopendir */
    CHECK(dir);
    fd = open("/etc", O_RDONLY | O_DIRECTORY); /* CLOSED: open-for-fdopendir-closed */
    CHECK(fd >= 0);
    dir = fdopendir(fd); /* CLOSED: fdopendir */
    CHECK(dir && closedir(dir) == 0);

    return EXIT_EXPECTED;
}
