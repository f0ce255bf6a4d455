/* The stdio functions that open an fd inside glibc: fopen, fopen64, freopen,
   freopen64, fdopen, tmpfile, tmpfile64, popen; closed by fclose and pclose. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    const char* file = "/etc/hostname";
    FILE* f;

    f = fopen(file, "r"); /* LEAK: fopen */
    CHECK(f);
    f = fopen(file, "r"); /* CLOSED: fopen */
    CHECK(f && fclose(f) == 0);

    f = fopen64(file, "r"); /* LEAK: fopen64 */
    CHECK(f);
    f = fopen64(file, "r"); /* CLOSED: fopen64 */
    CHECK(f && fclose(f) == 0);

    /* freopen closes the stream's fd: the fopen record must go, and the
       fd it opens instead is freopen's. */
    f = fopen(file, "r"); /* CLOSED: fopen-reopened */
    CHECK(f);
    f = freopen("/etc/passwd", "r", f); /* LEAK: freopen */
    CHECK(f);
    f = fopen(file, "r"); /* CLOSED: fopen-reopened64 */
    CHECK(f);
    f = freopen64("/etc/passwd", "r", f); /* LEAK: freopen64 */
    CHECK(f);
    f = fopen(file, "r"); /* CLOSED: fopen-reopened-closed */
    CHECK(f);
    f = freopen("/etc/passwd", "r", f); /* CLOSED: freopen */
    CHECK(f && fclose(f) == 0);

    int fd = open(file, O_RDONLY); /* CLOSED: open-for-fdopen */
    CHECK(fd >= 0);
    f = fdopen(fd, "r"); /* LEAK: fdopen */
    CHECK(f);
    fd = open(file, O_RDONLY); /* CLOSED: open-for-fdopen-closed */
    CHECK(fd >= 0);
    f = fdopen(fd, "r"); /* CLOSED: fdopen */
    CHECK(f && fclose(f) == 0);

    f = tmpfile(); /* LEAK: tmpfile */
    CHECK(f);
    f = tmpfile(); /* CLOSED: tmpfile */
    CHECK(f && fclose(f) == 0);

    f = tmpfile64(); /* LEAK: tmpfile64 */
    CHECK(f);
    f = tmpfile64(); /* CLOSED: tmpfile64 */
    CHECK(f && fclose(f) == 0);

    f = popen("exit 0", "r"); /* LEAK: popen */
    CHECK(f);
    f = popen("exit 0", "r"); /* CLOSED: popen */
    CHECK(f && pclose(f) == 0);

    return EXIT_EXPECTED;
}
