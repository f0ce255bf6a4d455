/* Starts untracked, then does what `fdtrack attach` and `fdtrack detach` do
   from inside: dlopen libfdtrack.so (whose constructor must change nothing),
   fdtrack_attach_start, leaks through a direct call, a function pointer taken
   before attach and a library loaded after it, a dump on SIGUSR1, then
   fdtrack_detach_stop (which must leave the process as it was), and a second
   attach and detach. Prints each attach and detach's duration in us.
   Usage: attach_self LIBFDTRACK OUTPUT_DIR LATER_LIBRARY */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../c/check.h"

typedef int (*attach_fn)(const char*, char*, unsigned long);
typedef int (*detach_fn)(char*, unsigned long);
typedef int (*open_fn)(const char*, int, ...);

/* Taken before attach: a GLOB_DAT entry, redirected with the others. */
open_fn volatile early_open = open;

static char fd_list[4096];
static const char* list_fds(void) {
    int seen[1024], n = 0;
    DIR* dir = opendir("/proc/self/fd");
    CHECK(dir);
    struct dirent* entry;
    while ((entry = readdir(dir)) && n < 1024) {
        int fd = atoi(entry->d_name);
        if (entry->d_name[0] != '.' && fd != dirfd(dir)) seen[n++] = fd;
    }
    closedir(dir);
    /* sorted, as a string: compared whole */
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j)
            if (seen[j] < seen[i]) { int t = seen[i]; seen[i] = seen[j]; seen[j] = t; }
    size_t used = 0;
    fd_list[0] = '\0';
    for (int i = 0; i < n; ++i) used += snprintf(fd_list + used, sizeof fd_list - used, "%d ", seen[i]);
    return fd_list;
}

static int threads(void) {
    int n = 0;
    DIR* dir = opendir("/proc/self/task");
    CHECK(dir);
    struct dirent* entry;
    while ((entry = readdir(dir))) n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}

/* The thread count once detach's joined thread has left /proc: the join
   returns when its tid is cleared, a moment before the kernel removes the
   task from the group. Waits up to a second for `expected`. */
static int threads_settled_to(int expected) {
    int n = threads();
    for (int tries = 0; n != expected && tries < 100; ++tries) {
        usleep(10 * 1000);
        n = threads();
    }
    return n;
}

static void* usr1_handler(void) {
    struct sigaction now;
    CHECK(sigaction(SIGUSR1, NULL, &now) == 0);
    return (void*)now.sa_handler;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int reports_in(const char* dir) {
    int n = 0;
    DIR* d = opendir(dir);
    if (!d) return 0;
    struct dirent* entry;
    while ((entry = readdir(d))) n += strstr(entry->d_name, ".json") && !strstr(entry->d_name, ".tmp");
    closedir(d);
    return n;
}

/* The dump thread writes the report: wait for it (10 s at most). */
static void dump_and_wait(const char* dir) {
    int before = reports_in(dir);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    for (int i = 0; i < 1000 && reports_in(dir) == before; ++i) usleep(10000);
    CHECK(reports_in(dir) == before + 1);
}

int main(int argc, char** argv) {
    CHECK(argc == 4);
    char settings[4200], message[256];
    snprintf(settings, sizeof settings, "FDTRACK_OUTPUT=%s\nFDTRACK_INTERVAL=1\n", argv[2]);

    int early_file = open("/etc/hostname", O_RDONLY); /* OPENED: early-file */
    int early_pipe[2];
    CHECK(early_file >= 0 && pipe(early_pipe) == 0);
    int early_socket = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(early_socket >= 0);
    void* open_before = (void*)open;  /* the GOT's value, in a PIE */

    char fds_before[4096];
    strcpy(fds_before, list_fds());
    int threads_before = threads();
    void* handler_before = usr1_handler();

    void* library = dlopen(argv[1], RTLD_NOW);
    if (!library) fprintf(stderr, "%s\n", dlerror());
    CHECK(library);
    /* Loaded, not attached: nothing changed. */
    CHECK(strcmp(list_fds(), fds_before) == 0);
    CHECK(threads() == threads_before);
    CHECK(usr1_handler() == handler_before);
    CHECK(getenv("FDTRACK_PID") == NULL);
    CHECK((void*)open == open_before);

    attach_fn attach = (attach_fn)dlsym(library, "fdtrack_attach_start");
    detach_fn detach = (detach_fn)dlsym(library, "fdtrack_detach_stop");
    CHECK(attach && detach);
    CHECK(detach(message, sizeof message) == 1);  /* not attached yet */
    printf("detach before attach: %s\n", message);

    double start = now_us();
    int attached = attach(settings, message, sizeof message);
    printf("attach_us %.0f\n", now_us() - start);
    CHECK(attached == 0);
    CHECK((void*)open == dlsym(library, "open"));  /* the program's GOT names the hook */
    strcpy(message, "unchanged");
    char fds_attached[4096];
    strcpy(fds_attached, list_fds());
    CHECK(attach(settings, message, sizeof message) == 1);  /* twice: said, nothing changed */
    printf("attach twice: %s\n", message);
    CHECK(strcmp(list_fds(), fds_attached) == 0);

    for (int i = 0; i < 3; ++i) CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* LEAK: direct */
    CHECK(early_open("/etc/hostname", O_RDONLY) >= 0); /* LEAK: pointer */
    CHECK(socket(AF_UNIX, SOCK_STREAM, 0) >= 0); /* LEAK: socket */
    CHECK(fopen("/etc/hostname", "r") != NULL); /* LEAK: stream */
    int closed = open("/etc/hostname", O_RDONLY); /* CLOSED: closed */
    CHECK(closed >= 0 && close(closed) == 0);
    void* later = dlopen(argv[3], RTLD_NOW);
    CHECK(later);
    int (*later_open)(const char*) = (int (*)(const char*))dlsym(later, "later_open");
    CHECK(later_open && later_open("/etc/hostname") >= 0);
    dump_and_wait(argv[2]);

    start = now_us();
    int detached = detach(message, sizeof message);
    printf("detach_us %.0f\n", now_us() - start);
    CHECK(detached == 0);
    CHECK((void*)open == open_before);  /* restored */
    CHECK(threads_settled_to(threads_before) == threads_before);
    CHECK(usr1_handler() == handler_before);
    CHECK(detach(message, sizeof message) == 1);
    printf("detach twice: %s\n", message);
    /* Only the program's own fds: the early ones and what it leaked. */
    printf("fds before %s\nfds after %s\n", fds_before, list_fds());
    fflush(stdout);

    int between = open("/etc/hostname", O_RDONLY); /* OPENED: between */
    CHECK(between >= 0);
    CHECK(attach(settings, message, sizeof message) == 0);
    CHECK(open("/etc/hostname", O_RDONLY) >= 0); /* LEAK: second */
    dump_and_wait(argv[2]);
    CHECK(detach(message, sizeof message) == 0);
    CHECK(threads_settled_to(threads_before) == threads_before);
    printf("between %d early %d %d %d %d\n", between, early_file, early_pipe[0], early_pipe[1], early_socket);
    return EXIT_EXPECTED;
}
