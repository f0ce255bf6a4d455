/* The fdtrack C API: lets a program or its tests ask the preloaded libfdtrack.so which fds were
 * opened since a checkpoint and are still open, where each was opened, and to write a dump now.
 *
 * Nothing here needs libfdtrack at link time. Each function below is a static inline wrapper
 * that looks the library's symbol up with dlsym(RTLD_DEFAULT) on first use; when the program
 * runs without the preload every call is a harmless no-op (see each function for what it
 * returns then). glibc 2.34 and later have dlsym in libc; older ones need -ldl.
 *
 * Usable from C and C++. Thread-safe. Not async-signal-safe.
 */
#ifndef FDTRACK_FDTRACK_H
#define FDTRACK_FDTRACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One fd, as fdtrack recorded its creation. */
typedef struct fdtrack_fd_info {
    int fd;
    int tid;             /* the thread that created it */
    uint32_t site;       /* its allocation site: the "site" id of the JSON reports */
    uint64_t created_ns; /* CLOCK_MONOTONIC when it was created */
    char call[24];       /* the libc function that created it: "openat", "socket", "pipe2"... */
    char thread[16];     /* that thread's name */
} fdtrack_fd_info;

#ifdef FDTRACK_IMPLEMENTATION
/* What libfdtrack.so exports (preload/entry/api.cpp); programs use the wrappers below instead. */
int fdtrack_active(void);
uint64_t fdtrack_checkpoint(void);
int fdtrack_open_since(uint64_t checkpoint, fdtrack_fd_info* out, int max);
int fdtrack_format_fd(int fd, char* buf, size_t cap);
int fdtrack_ignore_fd(int fd);
int fdtrack_dump(const char* reason);
#else

#include <dlfcn.h>

#ifdef RTLD_DEFAULT
#define FDTRACK_RTLD_DEFAULT_ RTLD_DEFAULT
#else /* RTLD_DEFAULT needs _GNU_SOURCE in C; it is the null handle in glibc and musl */
#define FDTRACK_RTLD_DEFAULT_ ((void*)0)
#endif

/* The library's `name`, looked up once per call site's translation unit; null without it. */
static inline void* fdtrack_resolve_(void** cache, const char* name) {
    static char missing;
    void* found = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!found) {
        found = dlsym(FDTRACK_RTLD_DEFAULT_, name);
        if (!found) found = &missing;
        __atomic_store_n(cache, found, __ATOMIC_RELEASE);
    }
    return found == (void*)&missing ? (void*)0 : found;
}

typedef int (*fdtrack_active_fn_)(void);
typedef uint64_t (*fdtrack_checkpoint_fn_)(void);
typedef int (*fdtrack_open_since_fn_)(uint64_t, fdtrack_fd_info*, int);
typedef int (*fdtrack_format_fd_fn_)(int, char*, size_t);
typedef int (*fdtrack_ignore_fd_fn_)(int);
typedef int (*fdtrack_dump_fn_)(const char*);

/* Declares `fdtrack_fn_`, the library's function `name` or null. */
#define FDTRACK_SYMBOL_(name)                                                                      \
    static void* fdtrack_cache_;                                                                   \
    name##_fn_ fdtrack_fn_ = __extension__(name##_fn_) fdtrack_resolve_(&fdtrack_cache_, #name)

/* 1 when libfdtrack.so is preloaded and tracking this process; 0 otherwise (also in an exec'd
 * child that fdtrack does not follow). */
static inline int fdtrack_active(void) {
    FDTRACK_SYMBOL_(fdtrack_active);
    return fdtrack_fn_ ? fdtrack_fn_() : 0;
}

/* A token for "now": fds created after this call are "since" it. 0 when not tracking (and
 * fdtrack_open_since(0, ...) lists every tracked fd that is open). */
static inline uint64_t fdtrack_checkpoint(void) {
    FDTRACK_SYMBOL_(fdtrack_checkpoint);
    return fdtrack_fn_ ? fdtrack_fn_() : 0;
}

/* The fds created after `checkpoint` that are still open, in fd order, leaving out those passed to
 * fdtrack_ignore_fd and the standard streams 0-2 (never leaks, as in the exit report). Fills at most `max` entries of `out` and returns how many there are in all
 * (so a result above `max` asks for a bigger array). 0 when not tracking. */
static inline int fdtrack_open_since(uint64_t checkpoint, fdtrack_fd_info* out, int max) {
    FDTRACK_SYMBOL_(fdtrack_open_since);
    return fdtrack_fn_ ? fdtrack_fn_(checkpoint, out, max) : 0;
}

/* Where `fd` was opened, as text for a test failure: a first line such as
 *   "fd 5 (file /etc/hostname) opened by openat at leaks.c:34 in leak_open, 0.2s ago on thread app"
 * followed by its Python and native stacks, one frame a line. Writes at most `cap` bytes,
 * NUL-terminated, and returns the length of the whole text (as snprintf does); -1 when `fd` is
 * not a tracked open fd or fdtrack is not tracking (then `buf` holds ""). Symbolises: slow. */
static inline int fdtrack_format_fd(int fd, char* buf, size_t cap) {
    FDTRACK_SYMBOL_(fdtrack_format_fd);
    if (fdtrack_fn_) return fdtrack_fn_(fd, buf, cap);
    if (buf && cap > 0) buf[0] = '\0';
    return -1;
}

/* Declares `fd` open on purpose (a long-lived connection, a cache file): fdtrack_open_since
 * leaves it out until it is closed. Returns 0, or -1 when `fd` is not a tracked open fd or
 * fdtrack is not tracking. */
static inline int fdtrack_ignore_fd(int fd) {
    FDTRACK_SYMBOL_(fdtrack_ignore_fd);
    return fdtrack_fn_ ? fdtrack_fn_(fd) : -1;
}

/* Writes a dump now, with trigger "api", where the other dumps go (fdtrack.<pid>.<seq>.json and
 * .txt in FDTRACK_OUTPUT) and says so on stderr, after a line naming `reason` when one is given.
 * Returns 0 when the dump was written, -1 otherwise (not tracking, or the files could not be
 * written). */
static inline int fdtrack_dump(const char* reason) {
    FDTRACK_SYMBOL_(fdtrack_dump);
    return fdtrack_fn_ ? fdtrack_fn_(reason) : -1;
}

#undef FDTRACK_SYMBOL_

#endif /* FDTRACK_IMPLEMENTATION */

#ifdef __cplusplus
}
#endif

#endif /* FDTRACK_FDTRACK_H */
