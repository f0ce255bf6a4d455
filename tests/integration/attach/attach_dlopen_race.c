/* Attaches and detaches 50 times while another thread dlopens and dlcloses
   libraries in a loop, so GOT passes meet objects ld.so has listed but not
   yet relocated; and checks that a GOT page the program made writable stays
   writable through attach and detach; then two threads attach and detach at
   once, and the one that finds the other inside is told it is busy; and a
   detach that finds the dump thread held answers within its bound. Usage: attach_dlopen_race LIBFDTRACK OUTPUT_DIR */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../c/check.h"

typedef int (*attach_fn)(const char*, char*, unsigned long);
typedef int (*detach_fn)(char*, unsigned long);
typedef int (*open_fn)(const char*, int, ...);

/* Taking close's address in code makes a GLOB_DAT entry in this program's
   .got, inside RELRO: a pass writes that page. */
static void* volatile taken;
static void take_address(void) { taken = (void*)&close; }

static atomic_int stop;
static atomic_long loads;

/* Libraries that import hooked functions (libz: open, read, close), so a
   pass has slots to write in each while it may be half loaded. */
static const char* const kLibraries[] = {"libz.so.1", "libbz2.so.1.0", "liblzma.so.5"};

static void* load_loop(void* unused) {
    (void)unused;
    while (!atomic_load(&stop)) {
        for (size_t i = 0; i < sizeof kLibraries / sizeof *kLibraries; ++i) {
            void* handle = dlopen(kLibraries[i], RTLD_NOW | RTLD_LOCAL);
            if (handle) {
                dlclose(handle);
                atomic_fetch_add(&loads, 1);
            }
        }
    }
    return NULL;
}

static attach_fn attach;
static detach_fn detach;
static char settings[4096];
static atomic_int busy;

/* Two of these at once: the one that finds the other inside an entry point
   must be told so at once (status 2, the busy message), never wait. */
static void* contend(void* unused) {
    (void)unused;
    char message[512];
    for (int i = 0; i < 30; ++i) {
        int results[2] = {attach(settings, message, sizeof message), detach(message, sizeof message)};
        for (int k = 0; k < 2; ++k) {
            if (results[k] == 2) {
                if (!strstr(message, "busy attaching or detaching")) {
                    fprintf(stderr, "status 2 but not busy: %s\n", message);
                    exit(1);
                }
                atomic_fetch_add(&busy, 1);
            }
        }
    }
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A `fdtrack dump` client that connects and says nothing: the dump thread
   waits for its request (5 s), longer than detach waits for the thread. */
static int silent_client(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int n = snprintf(address.sun_path + 1, sizeof address.sun_path - 1, "fdtrack.%d", (int)getpid());
    CHECK(connect(fd, (struct sockaddr*)&address, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0);
    return fd;
}

/* Detach while the dump thread is held: it answers 2 within about 2 s and
   leaves the process attached; once the thread is free, detach finishes.
   The thread may not have taken the client yet when detach comes (a loaded
   machine): then detach just succeeds, and it is tried again, waiting longer. */
static int held_detach(const char* settings) {
    char message[512];
    for (int wait_ms = 200; wait_ms <= 3200; wait_ms *= 2) {
        CHECK(attach(settings, message, sizeof message) == 0);
        int client = silent_client();
        usleep(wait_ms * 1000);
        double start = now_s();
        int result = detach(message, sizeof message);
        double took = now_s() - start;
        if (result == 0) {
            close(client);
            continue;
        }
        if (result != 2 || !strstr(message, "detach` again") || took > 4.0) {
            fprintf(stderr, "held detach: %d after %.1f s: %s\n", result, took, message);
            exit(1);
        }
        if (attach(settings, message, sizeof message) != 1) {
            fprintf(stderr, "attach after a held detach: %s\n", message);
            exit(1);
        }
        close(client);
        if (detach(message, sizeof message) != 0) {
            fprintf(stderr, "detach once the thread is free: %s\n", message);
            exit(1);
        }
        return 1;
    }
    return 0;
}

static uintptr_t relro_start, relro_end;

static int find_relro(struct dl_phdr_info* info, size_t size, void* data) {
    (void)size;
    (void)data;
    if (info->dlpi_name && info->dlpi_name[0]) return 0;  /* the executable comes first, unnamed */
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)* p = &info->dlpi_phdr[i];
        if (p->p_type != PT_GNU_RELRO) continue;
        relro_start = (info->dlpi_addr + p->p_vaddr) & ~(uintptr_t)(page - 1);
        relro_end = (info->dlpi_addr + p->p_vaddr + p->p_memsz) & ~(uintptr_t)(page - 1);  /* as ld.so rounds */
    }
    return 1;
}

/* The permissions /proc/self/maps shows for the page of `address`: "rw-p"... */
static void perms_of(uintptr_t address, char perms[5]) {
    FILE* maps = fopen("/proc/self/maps", "r");
    CHECK(maps);
    char line[512];
    strcpy(perms, "none");
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, p) == 3 && address >= start && address < end) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(maps);
}

int main(int argc, char** argv) {
    CHECK(argc == 3);
    void* library = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    CHECK(library);
    attach = (attach_fn)dlsym(library, "fdtrack_attach_start");
    detach = (detach_fn)dlsym(library, "fdtrack_detach_stop");
    CHECK(attach && detach);
    char message[512];
    snprintf(settings, sizeof settings, "FDTRACK_OUTPUT=%s\n", argv[2]);

    /* The program opened its own GOT page for writing: a pass must leave it so. */
    dl_iterate_phdr(find_relro, NULL);
    CHECK(relro_end > relro_start);
    take_address();
    CHECK(mprotect((void*)relro_start, relro_end - relro_start, PROT_READ | PROT_WRITE) == 0);
    char perms[5];
    CHECK(attach(settings, message, sizeof message) == 0);
    perms_of(relro_start, perms);
    if (perms[1] != 'w') {
        fprintf(stderr, "the program's writable RELRO page is %s after attach\n", perms);
        return 1;
    }
    CHECK(detach(message, sizeof message) == 0);
    perms_of(relro_start, perms);
    if (perms[1] != 'w') {
        fprintf(stderr, "the program's writable RELRO page is %s after detach\n", perms);
        return 1;
    }
    /* And one it left read-only is read-only again afterwards. */
    CHECK(mprotect((void*)relro_start, relro_end - relro_start, PROT_READ) == 0);
    CHECK(attach(settings, message, sizeof message) == 0);
    CHECK(detach(message, sizeof message) == 0);
    perms_of(relro_start, perms);
    if (perms[1] != '-') {
        fprintf(stderr, "the program's read-only RELRO page is %s after attach and detach\n", perms);
        return 1;
    }

    pthread_t loader;
    CHECK(pthread_create(&loader, NULL, load_loop, NULL) == 0);
    for (int cycle = 0; cycle < 50; ++cycle) {
        if (attach(settings, message, sizeof message) != 0) {
            fprintf(stderr, "attach %d: %s\n", cycle, message);
            return 1;
        }
        usleep(2000);
        if (detach(message, sizeof message) != 0) {
            fprintf(stderr, "detach %d: %s\n", cycle, message);
            return 1;
        }
    }
    atomic_store(&stop, 1);
    pthread_join(loader, NULL);
    printf("loads %ld\n", atomic_load(&loads));

    pthread_t contenders[2];
    for (int i = 0; i < 2; ++i) CHECK(pthread_create(&contenders[i], NULL, contend, NULL) == 0);
    for (int i = 0; i < 2; ++i) pthread_join(contenders[i], NULL);
    detach(message, sizeof message); /* whichever attach won last */
    printf("busy %d\n", atomic_load(&busy));
    printf("held %d\n", held_detach(settings));
    return EXIT_EXPECTED;
}
