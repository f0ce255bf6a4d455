/* A program with its own allocator whose initialisation opens a file (as
 * tcmalloc and others read /proc or /sys at start-up): fdtrack's hook is
 * reached from inside malloc before the allocator is ready, and must neither
 * allocate nor deadlock there. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char arena[64 << 20];
static size_t used;
static int initialising, ready;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int config_fd = -1;

static void init_allocator(void) {
    initialising = 1;
    config_fd = open("/proc/self/status", O_RDONLY); /* LEAK: allocator-init */
    initialising = 0;
    ready = 1;
}

void* malloc(size_t size) {
    if (initialising) {  /* re-entered while initialising: the allocator cannot serve yet */
        static const char msg[] = "custom_malloc: malloc re-entered during allocator initialisation\n";
        write(2, msg, sizeof msg - 1);
        _exit(98);
    }
    pthread_mutex_lock(&lock);  /* a non-recursive lock: re-entry would deadlock */
    if (!ready) init_allocator();
    size = (size + 15) & ~(size_t)15;
    void* p = NULL;
    if (used + size + 16 <= sizeof arena) {
        *(size_t*)(arena + used) = size;
        p = arena + used + 16;
        used += size + 16;
    }
    pthread_mutex_unlock(&lock);
    if (!p) errno = ENOMEM;
    return p;
}

void free(void* p) { (void)p; }

void* calloc(size_t n, size_t size) {
    void* p = malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void* realloc(void* old, size_t size) {
    void* p = malloc(size);
    if (p && old) {
        size_t old_size = *(size_t*)((char*)old - 16);
        memcpy(p, old, old_size < size ? old_size : size);
    }
    return p;
}

void* memalign(size_t alignment, size_t size) {
    void* p = malloc(size + alignment);
    return p ? (void*)(((size_t)p + alignment - 1) & ~(alignment - 1)) : NULL;
}
int posix_memalign(void** out, size_t alignment, size_t size) {
    *out = memalign(alignment, size);
    return *out ? 0 : ENOMEM;
}
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int main(void) {
    char* first = malloc(32); /* initialises the allocator, which opens a file */
    CHECK(first != NULL && config_fd >= 0);
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: after-init */
    CHECK(fd >= 0);
    return EXIT_EXPECTED;
}
