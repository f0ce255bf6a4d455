/* A stand-in for libfdtrack.so's attach entries (fdtrack_attach_start,
   fdtrack_detach_stop), so that the injector's tests do not depend on the
   library: each call is logged to FDTRACK_OUTPUT/attach-log.txt with its
   arguments; attach starts a thread named "fdtrack" waiting on a pipe,
   detach stops it and closes the pipe. FDTRACK_DEPTH picks a misbehaviour:
   13 fail with a message, 14 block for 5 s, 15 sleep 1 s (signals arrive). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int attached;
static int wake[2] = {-1, -1};
static pthread_t thread;
static char log_path[4200];

static void logf_line(const char* what, const char* detail) {
    FILE* log = fopen(log_path, "a");
    if (!log) return;
    fprintf(log, "%s pid=%d tid=%ld %s\n", what, getpid(), (long)syscall(SYS_gettid), detail);
    fclose(log);
}

static void* waiter(void* unused) {
    (void)unused;
    char byte;
    while (read(wake[0], &byte, 1) < 0) {
    }
    return NULL;
}

/* The value of NAME in "NAME=VALUE\n" lines, or "". */
static void setting(const char* settings, const char* name, char* out, size_t size) {
    out[0] = '\0';
    size_t length = strlen(name);
    for (const char* line = settings; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, length) == 0 && line[length] == '=') {
            const char* end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line - length - 1) : strlen(line + length + 1);
            if (n >= size) n = size - 1;
            memcpy(out, line + length + 1, n);
            out[n] = '\0';
        }
    }
}

static void sleep_through(int seconds) {
    struct timespec left = {seconds, 0};
    while (nanosleep(&left, &left) != 0) {
    }
}

int fdtrack_attach_start(const char* settings, char* message, unsigned long message_size) {
    char output[4000], depth[32];
    setting(settings, "FDTRACK_OUTPUT", output, sizeof output);
    setting(settings, "FDTRACK_DEPTH", depth, sizeof depth);
    snprintf(log_path, sizeof log_path, "%s/attach-log.txt", output[0] ? output : "/tmp");
    char flat[8192];
    snprintf(flat, sizeof flat, "settings=%s size=%lu", settings, message_size);
    for (char* c = flat; *c; ++c) {
        if (*c == '\n') *c = ';';
    }
    logf_line("attach", flat);
    close(-1); /* errno = EBADF in the borrowed thread: fdtrack must put its own back */
    if (attached) {
        snprintf(message, message_size, "attached before, by this test library");
        return 1;
    }
    if (strcmp(depth, "13") == 0) {
        snprintf(message, message_size, "told to fail (FDTRACK_DEPTH=13)");
        return 2;
    }
    if (strcmp(depth, "14") == 0 || strcmp(depth, "15") == 0) {
        logf_line("sleeping", depth);
        sleep_through(strcmp(depth, "14") == 0 ? 5 : 1);
    }
    if (pipe(wake) != 0) {
        snprintf(message, message_size, "pipe failed");
        return 2;
    }
    /* Signals blocked in the thread, as in libfdtrack.so's own. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_create(&thread, NULL, waiter, NULL);
    pthread_setname_np(thread, "fdtrack"); /* named before the caller returns: tests look at once */
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    attached = 1;
    logf_line("attached", "");
    return 0;
}

int fdtrack_detach_stop(char* message, unsigned long message_size) {
    if (!attached) {
        snprintf(message, message_size, "never attached, by this test library");
        return 1;
    }
    if (write(wake[1], "x", 1) != 1) return 2;
    pthread_join(thread, NULL);
    close(wake[0]);
    close(wake[1]);
    attached = 0;
    logf_line("detached", "");
    return 0;
}
