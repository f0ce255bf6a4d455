/* errno after hooked calls: failures set what libc sets, successes leave
   the caller's errno alone. Prints one line per call, so the test can also
   compare with a run without fdtrack; exits 1 on any mismatch. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define SENTINEL 4242

static int mismatches;

static void report(const char* what, int expected, int actual) {
    printf("%s errno=%d\n", what, actual);
    if (expected != actual) {
        fprintf(stderr, "%s: errno %d (%s), expected %d (%s)\n", what, actual, strerror(actual), expected,
                strerror(expected));
        ++mismatches;
    }
}

/* A failing call must return `bad` and set errno to `expected`. */
#define FAILS(call, bad, expected)                                          \
    do {                                                                    \
        errno = 0;                                                          \
        int failed = (call) == (bad);                                       \
        int error = errno;                                                  \
        if (!failed) fprintf(stderr, "%s did not fail\n", #call), ++mismatches; \
        report(#call, expected, error);                                     \
    } while (0)

/* A successful call must leave the caller's errno as it was. */
#define KEEPS_ERRNO(result, call)         \
    do {                                  \
        errno = SENTINEL;                 \
        result = (call);                  \
        int error = errno;                \
        report(#call, SENTINEL, error);   \
    } while (0)

int main(void) {
    FAILS(open("/nonexistent/fdtrack", O_RDONLY), -1, ENOENT);
    FAILS(openat(AT_FDCWD, "/nonexistent/fdtrack", O_RDONLY), -1, ENOENT);
    FAILS(close(-1), -1, EBADF);
    FAILS(close(900), -1, EBADF);
    FAILS(socket(9999, SOCK_STREAM, 0), -1, EAFNOSUPPORT);
    FAILS(dup(-5), -1, EBADF);
    FAILS(dup2(-5, 10), -1, EBADF);
    FAILS(fcntl(-5, F_DUPFD, 0), -1, EBADF);
    FAILS(fopen("/nonexistent/fdtrack", "r"), NULL, ENOENT);
    FAILS(opendir("/nonexistent/fdtrack"), NULL, ENOENT);
    FAILS(eventfd(0, -1), -1, EINVAL);

    int fd, other, fds[2];
    FILE* f;
    DIR* dir;
    KEEPS_ERRNO(fd, open("/etc/hostname", O_RDONLY));
    KEEPS_ERRNO(other, dup(fd));
    KEEPS_ERRNO(other, dup2(fd, other));
    KEEPS_ERRNO(other, close(other));
    KEEPS_ERRNO(other, fcntl(fd, F_DUPFD_CLOEXEC, 0));
    KEEPS_ERRNO(other, close(other));
    KEEPS_ERRNO(other, close(fd));
    KEEPS_ERRNO(fd, socket(AF_UNIX, SOCK_STREAM, 0));
    KEEPS_ERRNO(fd, close(fd));
    KEEPS_ERRNO(other, pipe(fds));
    KEEPS_ERRNO(other, close(fds[0]));
    KEEPS_ERRNO(other, close(fds[1]));
    KEEPS_ERRNO(fd, eventfd(0, 0));
    KEEPS_ERRNO(fd, close(fd));
    KEEPS_ERRNO(f, fopen("/etc/hostname", "r"));
    KEEPS_ERRNO(fd, fclose(f));
    KEEPS_ERRNO(dir, opendir("/etc"));
    KEEPS_ERRNO(fd, closedir(dir));

    return mismatches ? 1 : 0;
}
