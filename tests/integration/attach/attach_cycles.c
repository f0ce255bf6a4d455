/* attach and detach 100 times while four threads open and close fds in a
   loop (files, pipes, sockets, dup): no crash, no hang, and afterwards no
   fdtrack thread or fd left. Usage: attach_cycles LIBFDTRACK OUTPUT_DIR */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../c/check.h"

static atomic_int stop;
static atomic_long operations;

static void* churn(void* unused) {
    (void)unused;
    while (!atomic_load(&stop)) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd >= 0) {
            int copy = dup(fd);
            if (copy >= 0) close(copy);
            close(fd);
        }
        int fds[2];
        if (pipe(fds) == 0) {
            close(fds[0]);
            close(fds[1]);
        }
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s >= 0) close(s);
        FILE* f = fopen("/etc/hostname", "r");
        if (f) fclose(f);
        atomic_fetch_add(&operations, 1);
    }
    return NULL;
}

static int count_entries(const char* path) {
    int n = 0;
    DIR* dir = opendir(path);
    CHECK(dir);
    struct dirent* entry;
    while ((entry = readdir(dir))) n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}

int main(int argc, char** argv) {
    CHECK(argc == 3);
    char settings[4200], message[256];
    snprintf(settings, sizeof settings, "FDTRACK_OUTPUT=%s\nFDTRACK_INTERVAL=1\n", argv[2]);
    int fds_before = count_entries("/proc/self/fd");
    void* library = dlopen(argv[1], RTLD_NOW);
    CHECK(library);
    int (*attach)(const char*, char*, unsigned long) = dlsym(library, "fdtrack_attach_start");
    int (*detach)(char*, unsigned long) = dlsym(library, "fdtrack_detach_stop");
    CHECK(attach && detach);
    int threads_before = count_entries("/proc/self/task");

    pthread_t workers[4];
    for (int i = 0; i < 4; ++i) CHECK(pthread_create(&workers[i], NULL, churn, NULL) == 0);
    for (int cycle = 0; cycle < 100; ++cycle) {
        int attached = attach(settings, message, sizeof message);
        if (attached != 0) fprintf(stderr, "cycle %d: %s\n", cycle, message);
        CHECK(attached == 0);
        usleep(2000);  /* the workers' calls go through the hooks meanwhile */
        CHECK(detach(message, sizeof message) == 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; ++i) CHECK(pthread_join(workers[i], NULL) == 0);
    int fds_after = count_entries("/proc/self/fd");
    /* A joined thread leaves /proc a moment after its join returns. */
    int threads_after = count_entries("/proc/self/task");
    for (int tries = 0; threads_after != threads_before && tries < 100; ++tries) {
        usleep(10 * 1000);
        threads_after = count_entries("/proc/self/task");
    }
    printf("operations %ld fds %d -> %d threads %d -> %d\n", atomic_load(&operations), fds_before, fds_after,
           threads_before, threads_after);
    CHECK(fds_after == fds_before);
    CHECK(threads_after == threads_before);
    return EXIT_EXPECTED;
}
