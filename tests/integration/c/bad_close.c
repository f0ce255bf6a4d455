/* Bad closes: closing a number twice (the second close may hit another
   thread's fd) and close() of an fd that a FILE still owns (its fclose will
   close the number again). A forked child closing everything before exec is
   not judged. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
    int fd = open("/etc/hostname", O_RDONLY); /* OPENED: twice */
    CHECK(fd >= 0);
    CHECK(close(fd) == 0); /* CLOSED: first */
    CHECK(close(fd) == -1); /* BAD: double_close */

    FILE* stream = fopen("/etc/hostname", "r"); /* OPENED: stream */
    CHECK(stream);
    CHECK(close(fileno(stream)) == 0); /* BAD: owned_by_stream */

    int kept = open("/etc/hostname", O_RDONLY);
    CHECK(kept >= 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) { /* closes everything, some numbers twice */
        for (int i = 3; i < 64; ++i) close(i);
        for (int i = 3; i < 64; ++i) close(i);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
    CHECK(close(kept) == 0);
    fclose(stream); /* closes nothing now: its fd is gone (not judged: glibc closes internally) */
    return EXIT_EXPECTED;
}
