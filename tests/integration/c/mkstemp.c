/* mkstemp and its variants (flags, suffix, 64-bit names), each leaking one
   fd and closing one. The files are unlinked; the fds stay open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char name[64];

static char* template(const char* suffix) {
    strcpy(name, "fdtrack-XXXXXX");
    strcat(name, suffix);
    return name;
}

int main(void) {
    int fd;

    fd = mkstemp(template("")); /* LEAK: mkstemp */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkstemp(template("")); /* CLOSED: mkstemp */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkstemp64(template("")); /* LEAK: mkstemp64 */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkstemp64(template("")); /* CLOSED: mkstemp64 */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkostemp(template(""), O_CLOEXEC); /* LEAK: mkostemp */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkostemp(template(""), O_CLOEXEC); /* CLOSED: mkostemp */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkostemp64(template(""), O_CLOEXEC); /* LEAK: mkostemp64 */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkostemp64(template(""), O_CLOEXEC); /* CLOSED: mkostemp64 */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkstemps(template(".txt"), 4); /* LEAK: mkstemps */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkstemps(template(".txt"), 4); /* CLOSED: mkstemps */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkstemps64(template(".txt"), 4); /* LEAK: mkstemps64 */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkstemps64(template(".txt"), 4); /* CLOSED: mkstemps64 */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkostemps(template(".txt"), 4, O_CLOEXEC); /* LEAK: mkostemps */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkostemps(template(".txt"), 4, O_CLOEXEC); /* CLOSED: mkostemps */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    fd = mkostemps64(template(".txt"), 4, O_CLOEXEC); /* LEAK: mkostemps64 */
    CHECK(fd >= 0 && unlink(name) == 0);
    fd = mkostemps64(template(".txt"), 4, O_CLOEXEC); /* CLOSED: mkostemps64 */
    CHECK(fd >= 0 && unlink(name) == 0 && close(fd) == 0);

    return EXIT_EXPECTED;
}
