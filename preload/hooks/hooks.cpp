// Every libc entry point that creates or closes a descriptor, in one place.
// Each wrapper reads "enter; call the real function; tell the tracker"; the
// guard logic lives in Hook (tracker.h). Adding an fd-creating function whose
// result is the new fd is one RETURNS_FD line (plus its test).
#include <alloca.h>
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <pty.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/fsuid.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <type_traits>

#include "preload/hooks/hooks.h"

#include "preload/track/child_path.h"

#include "preload/dump/copies.h"
#include "preload/dump/dump_signal.h"
#include "preload/dump/dump_thread.h"
#include "preload/track/config.h"
#include "preload/hooks/exec_handover.h"
#include "preload/hooks/real_symbol.h"
#include "preload/dump/report_files.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"

// The _FORTIFY_SOURCE entry points are only declared when fortification is on.
extern "C" {
int __open_2(const char*, int);
int __open64_2(const char*, int);
int __openat_2(int, const char*, int);
int __openat64_2(int, const char*, int);
}

namespace {

using fdtrack::Hook;
using fdtrack::in_fdtrack;
using fdtrack::Real;

// Calls the real function; if libc has none, fails like an unimplemented call.
template <typename Fn, typename... Args>
inline auto call_real(Real<Fn>& real, Args... args) {
    Fn fn = real.get();
    using R = decltype(fn(args...));
    if (__builtin_expect(fn == nullptr, 0)) {
        errno = ENOSYS;
        if constexpr (std::is_pointer_v<R>) return R(nullptr);
        else if constexpr (std::is_void_v<R>) return;
        else return R(-1);
    }
    return fn(args...);
}

// open() and friends read a mode argument only when they may create a file.
inline bool takes_mode(int flags) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

inline int stream_fd(FILE* stream) {
    int saved = errno;
    int fd = stream ? fileno(stream) : -1;  // -1 for memory streams
    errno = saved;
    return fd;
}

inline int dir_fd(DIR* dir) {
    int saved = errno;
    int fd = dir ? dirfd(dir) : -1;
    errno = saved;
    return fd;
}

}  // namespace

#define FDTRACK_EXPORT __attribute__((visibility("default")))

// Defines the exported symbol `name` (an asm label, so glibc's own C++
// declaration with its exception specification does not clash) and the typed
// handle on the real function, real_name.
#define HOOK(ret, name, params) ATTRIBUTED_HOOK(, ret, name, params)
#define ATTRIBUTED_HOOK(attributes, ret, name, params)                                \
    static constinit Real<decltype(&::name)> real_##name{#name};                      \
    extern "C" FDTRACK_EXPORT attributes ret hook_##name params __asm__(#name);        \
    extern "C" attributes ret hook_##name params
#define CALL(name, ...) call_real(real_##name __VA_OPT__(, ) __VA_ARGS__)
// Enters the hook; who called it decides whether it is tracked (tracker.h).
#define ENTER Hook hook(__builtin_return_address(0))

// --- Functions whose result is the new fd ------------------------------------
#define RETURNS_FD(name, params, ...) \
    HOOK(int, name, params) { ENTER; return hook.created(#name, CALL(name, __VA_ARGS__)); }

RETURNS_FD(__open_2, (const char* path, int flags), path, flags)
RETURNS_FD(__open64_2, (const char* path, int flags), path, flags)
RETURNS_FD(__openat_2, (int dir, const char* path, int flags), dir, path, flags)
RETURNS_FD(__openat64_2, (int dir, const char* path, int flags), dir, path, flags)
RETURNS_FD(creat, (const char* path, mode_t mode), path, mode)
RETURNS_FD(creat64, (const char* path, mode_t mode), path, mode)
RETURNS_FD(mkstemp, (char* tmpl), tmpl)
RETURNS_FD(mkstemp64, (char* tmpl), tmpl)
RETURNS_FD(mkostemp, (char* tmpl, int flags), tmpl, flags)
RETURNS_FD(mkostemp64, (char* tmpl, int flags), tmpl, flags)
RETURNS_FD(mkstemps, (char* tmpl, int suffix), tmpl, suffix)
RETURNS_FD(mkstemps64, (char* tmpl, int suffix), tmpl, suffix)
RETURNS_FD(mkostemps, (char* tmpl, int suffix, int flags), tmpl, suffix, flags)
RETURNS_FD(mkostemps64, (char* tmpl, int suffix, int flags), tmpl, suffix, flags)
RETURNS_FD(socket, (int domain, int type, int protocol), domain, type, protocol)
RETURNS_FD(accept, (int fd, sockaddr* addr, socklen_t* len), fd, addr, len)
RETURNS_FD(accept4, (int fd, sockaddr* addr, socklen_t* len, int flags), fd, addr, len, flags)
RETURNS_FD(epoll_create, (int size), size)
RETURNS_FD(epoll_create1, (int flags), flags)
RETURNS_FD(eventfd, (unsigned int count, int flags), count, flags)
RETURNS_FD(timerfd_create, (int clock, int flags), clock, flags)
RETURNS_FD(inotify_init, ())
RETURNS_FD(inotify_init1, (int flags), flags)
RETURNS_FD(fanotify_init, (unsigned int flags, unsigned int event_flags), flags, event_flags)
RETURNS_FD(memfd_create, (const char* name, unsigned int flags), name, flags)
RETURNS_FD(pidfd_open, (pid_t pid, unsigned int flags), pid, flags)
RETURNS_FD(pidfd_getfd, (int pidfd, int target, unsigned int flags), pidfd, target, flags)
RETURNS_FD(posix_openpt, (int flags), flags)
RETURNS_FD(getpt, ())
RETURNS_FD(shm_open, (const char* name, int flags, mode_t mode), name, flags, mode)
RETURNS_FD(open_by_handle_at, (int mount, file_handle* handle, int flags), mount, handle, flags)

// --- The open family: a mode argument only with O_CREAT or O_TMPFILE ----------
#define OPEN_LIKE(name, params, ...)                                   \
    HOOK(int, name, params) {                                          \
        mode_t mode = 0;                                               \
        if (takes_mode(flags)) {                                       \
            va_list ap;                                                \
            va_start(ap, flags);                                       \
            mode = va_arg(ap, mode_t);                                 \
            va_end(ap);                                                \
        }                                                              \
        ENTER;                                                     \
        return hook.created(#name, CALL(name, __VA_ARGS__, mode));     \
    }

OPEN_LIKE(open, (const char* path, int flags, ...), path, flags)
OPEN_LIKE(open64, (const char* path, int flags, ...), path, flags)
OPEN_LIKE(openat, (int dir, const char* path, int flags, ...), dir, path, flags)
OPEN_LIKE(openat64, (int dir, const char* path, int flags, ...), dir, path, flags)

// The program waits for the dump signal itself (signalfd, sigwait...): it
// blocks it, so fdtrack's handler never runs and a client's ring would reach
// the program; the dump thread answers instead (copies.h).
inline void program_waits_for(const sigset_t* signals) {
    int dump_signal = fdtrack::config().dump_signal;
    if (!in_fdtrack() && signals && fdtrack::answered_by_copies() && sigismember(signals, dump_signal) == 1 &&
        !fdtrack::maybe_inside_the_allocator())
        fdtrack::serve_with_a_thread();
}

HOOK(int, signalfd, (int fd, const sigset_t* mask, int flags)) {
    program_waits_for(mask);
    ENTER;
    int result = CALL(signalfd, fd, mask, flags);
    return fd == -1 ? hook.created("signalfd", result) : result;  // else it updated `fd`'s mask
}

// --- The dup family: the program may not copy fdtrack's own fds (EBADF, as if
// they were not open), and may take their numbers: fdtrack moves them first
// (tracker.h, make_room_for). dup2 and dup3 onto a live fd close it
// implicitly; the new record replaces it.
#define HIDE_OWN(fd)                  \
    if (fdtrack::hides_own_fd(fd)) { \
        errno = EBADF;                \
        return -1;                    \
    }
HOOK(int, dup, (int fd)) {
    HIDE_OWN(fd)
    ENTER;
    return hook.created("dup", CALL(dup, fd));
}
HOOK(int, dup2, (int fd, int target)) {
    HIDE_OWN(fd)
    ENTER;
    hook.claiming(target);
    int result = CALL(dup2, fd, target);
    return fd == target ? result : hook.created("dup2", result);
}
HOOK(int, dup3, (int fd, int target, int flags)) {
    HIDE_OWN(fd)
    ENTER;
    hook.claiming(target);
    return hook.created("dup3", CALL(dup3, fd, target, flags));
}

#define FCNTL_LIKE(name)                                                                   \
    HOOK(int, name, (int fd, int cmd, ...)) {                                              \
        va_list ap;                                                                        \
        va_start(ap, cmd);                                                                 \
        void* arg = va_arg(ap, void*); /* every fcntl argument fits in a register */       \
        va_end(ap);                                                                        \
        HIDE_OWN(fd)                                                                       \
        if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) return CALL(name, fd, cmd, arg);     \
        ENTER;                                                                             \
        int low = static_cast<int>(reinterpret_cast<intptr_t>(arg));                       \
        int result = CALL(name, fd, cmd, arg);                                             \
        /* the lowest free fd >= low, had fdtrack not held one: free it, ask again */     \
        for (int tries = 0; tries < 8 && hook.took_held_place(low, result); ++tries)       \
            result = CALL(name, fd, cmd, arg);                                             \
        return hook.created(#name, result);                                                \
    }
FCNTL_LIKE(fcntl)
FCNTL_LIKE(fcntl64)

// --- Functions that fill a pair of fds -----------------------------------------
#define FILLS_PAIR(name, params, fds, ...)                                 \
    HOOK(int, name, params) {                                              \
        ENTER;                                                         \
        int result = CALL(name, __VA_ARGS__);                              \
        if (result == 0) {                                                 \
            hook.created_pair(#name, fds);                                 \
        } else {                                                           \
            hook.created(#name, -1);                                       \
        }                                                                  \
        return result;                                                     \
    }

FILLS_PAIR(pipe, (int fds[2]), fds, fds)
FILLS_PAIR(pipe2, (int fds[2], int flags), fds, fds, flags)
FILLS_PAIR(socketpair, (int domain, int type, int protocol, int fds[2]), fds, domain, type, protocol, fds)

HOOK(int, openpty, (int* master, int* slave, char* name, const termios* term, const winsize* size)) {
    ENTER;
    int result = CALL(openpty, master, slave, name, term, size);
    if (result == 0) {
        hook.created("openpty", *master, false);
        hook.created("openpty", *slave, false);
    }
    return result;
}

// --- stdio and dirent: glibc opens their fds internally, out of our reach ------
#define RETURNS_STREAM(name, params, ...)                                  \
    HOOK(FILE*, name, params) {                                            \
        ENTER;                                                         \
        FILE* stream = CALL(name, __VA_ARGS__);                            \
        hook.created_for_stream(#name, stream ? stream_fd(stream) : -1);   \
        return stream;                                                     \
    }

RETURNS_STREAM(fopen, (const char* path, const char* mode), path, mode)
RETURNS_STREAM(fopen64, (const char* path, const char* mode), path, mode)
RETURNS_STREAM(fdopen, (int fd, const char* mode), fd, mode)  // the stream now owns the fd
RETURNS_STREAM(tmpfile, ())
RETURNS_STREAM(tmpfile64, ())
HOOK(FILE*, popen, (const char* command, const char* mode)) {
    ENTER;
    // popen starts a child: see posix_spawn below
    auto handover = hook.active() ? fdtrack::hand_over_before_spawn("/bin/sh", nullptr) : fdtrack::Handover{};
    FILE* stream;
    {
        fdtrack::SignalsAsTheProgramSetThem signals;
        stream = CALL(popen, command, mode);
    }
    hook.created_for_stream("popen", stream ? stream_fd(stream) : -1);
    return stream;
}

// freopen closes the stream's old fd and opens a new one, maybe the same number.
#define FREOPEN_LIKE(name)                                                                   \
    HOOK(FILE*, name, (const char* path, const char* mode, FILE* stream)) {                  \
        ENTER;                                                                           \
        hook.closing(stream_fd(stream));                                                     \
        FILE* result = CALL(name, path, mode, stream);                                       \
        hook.created_for_stream(#name, result ? stream_fd(result) : -1);                     \
        return result;                                                                       \
    }
FREOPEN_LIKE(freopen)
FREOPEN_LIKE(freopen64)

#define RETURNS_DIR(name, params, ...)                                     \
    HOOK(DIR*, name, params) {                                             \
        ENTER;                                                         \
        DIR* dir = CALL(name, __VA_ARGS__);                                \
        hook.created_for_stream(#name, dir ? dir_fd(dir) : -1);            \
        return dir;                                                        \
    }
RETURNS_DIR(opendir, (const char* path), path)
RETURNS_DIR(fdopendir, (int fd), fd)

// --- Closing ---------------------------------------------------------------------
HOOK(int, close, (int fd)) {
    ENTER;
    if (!hook.closing(fd)) {
        errno = EBADF;  // one of fdtrack's own: without fdtrack this number is not open
        return -1;
    }
    int result = CALL(close, fd);
    hook.closed(fd, result);  // a double close, or the fd of a live FILE or DIR?
    return result;
}

// Closing a stream or directory closes its fd; it is forgotten first because
// another thread may get the number back as soon as the kernel frees it.
#define CLOSES_STREAM(name, type, fd_of)                  \
    HOOK(int, name, (type* handle)) {                     \
        ENTER;                                        \
        if (handle) hook.closing(fd_of(handle));          \
        return CALL(name, handle);                        \
    }
CLOSES_STREAM(fclose, FILE, stream_fd)
CLOSES_STREAM(pclose, FILE, stream_fd)
CLOSES_STREAM(closedir, DIR, dir_fd)

namespace {
constexpr int kMaxOwnFds = 64;
int close_range_sparing_own(Hook& hook, unsigned low, unsigned high, int flags);
}  // namespace

HOOK(int, close_range, (unsigned int low, unsigned int high, int flags)) {
    ENTER;
    return close_range_sparing_own(hook, low, high, flags);
}

namespace {

// close_range over [low, high], skipping fdtrack's own fds so that a program
// that closes "every fd" does not pull them from under us.
int close_range_sparing_own(Hook& hook, unsigned low, unsigned high, int flags) {
    // Errors the kernel gives (an empty range, flags it does not know) are its to give.
    constexpr int kKnownFlags = CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE;
    if (!hook.active() || (flags & CLOSE_RANGE_CLOEXEC) || low > high || (flags & ~kKnownFlags))
        return CALL(close_range, low, high, flags);
    int saved = errno;
    fdtrack::check_close_range(low, high);
    int own[kMaxOwnFds];
    int n_own = fdtrack::forget_range(low, high, own, kMaxOwnFds, hook.caller());
    errno = saved;
    int result = 0;
    unsigned from = low;
    for (int i = 0; i <= n_own && result == 0; ++i) {
        unsigned to = i < n_own ? static_cast<unsigned>(own[i]) - 1 : high;
        if (i < n_own && static_cast<unsigned>(own[i]) == from) {
            from = own[i] + 1u;
            continue;
        }
        if (from <= to) result = CALL(close_range, from, to, flags);
        if (i < n_own) from = own[i] + 1u;
    }
    return result;
}

}  // namespace

HOOK(void, closefrom, (int low)) {
    ENTER;
    if (!hook.active()) return CALL(closefrom, low);
    int saved = errno;
    if (close_range_sparing_own(hook, static_cast<unsigned>(low), ~0u, 0) != 0) {
        CALL(closefrom, low);  // no close_range in this kernel: glibc has a fallback
    }
    errno = saved;
}

// --- fds received over unix sockets (SCM_RIGHTS) ---------------------------------
namespace {

void record_received(Hook& hook, const char* call, const msghdr* msg) {
    if (!hook.active() || !msg || !msg->msg_control) return;
    for (const cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(const_cast<msghdr*>(msg), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const auto* fds = reinterpret_cast<const unsigned char*>(CMSG_DATA(c));
        for (size_t i = 0; i < n; ++i) {
            int fd;
            memcpy(&fd, fds + i * sizeof(int), sizeof fd);
            hook.created(call, fd, false);
        }
    }
}

}  // namespace

HOOK(ssize_t, recvmsg, (int fd, msghdr* msg, int flags)) {
    ENTER;
    ssize_t result = CALL(recvmsg, fd, msg, flags);
    if (result >= 0) record_received(hook, "recvmsg", msg);
    return result;
}

HOOK(int, recvmmsg, (int fd, mmsghdr* msgs, unsigned int n, int flags, timespec* timeout)) {
    ENTER;
    int result = CALL(recvmmsg, fd, msgs, n, flags, timeout);
    for (int i = 0; i < result; ++i) record_received(hook, "recvmmsg", &msgs[i].msg_hdr);
    return result;
}

// --- syscall(): programs call it for what glibc long lacked (pidfd_open) -----------
namespace {

const char* creating_syscall(long number) {
    switch (number) {
        case SYS_open: return "open";
        case SYS_openat: return "openat";
        case SYS_openat2: return "openat2";
        case SYS_creat: return "creat";
        case SYS_socket: return "socket";
        case SYS_accept: return "accept";
        case SYS_accept4: return "accept4";
        case SYS_dup: return "dup";
        case SYS_dup2: return "dup2";
        case SYS_dup3: return "dup3";
        case SYS_epoll_create: return "epoll_create";
        case SYS_epoll_create1: return "epoll_create1";
        case SYS_eventfd: return "eventfd";
        case SYS_eventfd2: return "eventfd2";
        case SYS_timerfd_create: return "timerfd_create";
        case SYS_signalfd: return "signalfd";
        case SYS_signalfd4: return "signalfd4";
        case SYS_inotify_init: return "inotify_init";
        case SYS_inotify_init1: return "inotify_init1";
        case SYS_fanotify_init: return "fanotify_init";
        case SYS_memfd_create: return "memfd_create";
        case SYS_memfd_secret: return "memfd_secret";
        case SYS_pidfd_open: return "pidfd_open";
        case SYS_pidfd_getfd: return "pidfd_getfd";
        case SYS_userfaultfd: return "userfaultfd";
        case SYS_perf_event_open: return "perf_event_open";
        case SYS_io_uring_setup: return "io_uring_setup";
        case SYS_open_by_handle_at: return "open_by_handle_at";
        default: return nullptr;
    }
}

}  // namespace

HOOK(long, syscall, (long number, ...)) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& arg : a) arg = va_arg(ap, long);  // the kernel takes at most six
    va_end(ap);
    const char* creates = creating_syscall(number);
    bool pair = number == SYS_pipe || number == SYS_pipe2 || number == SYS_socketpair;
    if (!creates && !pair && number != SYS_close && number != SYS_close_range) {
        return CALL(syscall, number, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    ENTER;
    if (number == SYS_dup2 || number == SYS_dup3) hook.claiming(static_cast<int>(a[1]));
    if (number == SYS_close) {
        if (!hook.closing(static_cast<int>(a[0]))) {
            errno = EBADF;
            return -1;
        }
    } else if (number == SYS_close_range) {
        return close_range_sparing_own(hook, static_cast<unsigned>(a[0]), static_cast<unsigned>(a[1]),
                                       static_cast<int>(a[2]));
    }
    long result = CALL(syscall, number, a[0], a[1], a[2], a[3], a[4], a[5]);
    bool updates_existing = (number == SYS_signalfd || number == SYS_signalfd4) && a[0] != -1;
    bool same_fd = number == SYS_dup2 && a[0] == a[1];
    if (creates && !updates_existing && !same_fd) {
        result = hook.created(creates, static_cast<int>(result), false);
    } else if (pair) {
        int* fds = reinterpret_cast<int*>(number == SYS_socketpair ? a[3] : a[0]);
        if (result == 0) {
            hook.created(number == SYS_socketpair ? "socketpair" : "pipe2", fds[0], false);
            hook.created(number == SYS_socketpair ? "socketpair" : "pipe2", fds[1], false);
        }
    }
    return result;
}

// --- exec and spawn: fds without CLOEXEC carry their allocation site across ------
namespace {

// What an exec hands over to the new image, if it stays tracked. A fork
// child that execs an image that is not followed (most exec at once) is not
// settled for it (tracker.h): it has nothing to hand over.
FDTRACK_CHILD_PATH fdtrack::Handover hand_over_for_exec(const void* caller, const char* image, char* const* envp) {
    if (fdtrack::is_unsettled_fork_child() && !fdtrack::exec_stays_tracked()) return {};
    Hook hook(caller);
    return hook.active() ? fdtrack::hand_over_before_exec(image, envp) : fdtrack::Handover{};
}

}  // namespace

// ENV is the environment the new image gets (nullptr: this process's).
// IMAGE is the program the new image runs (nullptr when only a search or an fd knows).
#define EXECS(name, params, IMAGE, ENV, ...)                                           \
    ATTRIBUTED_HOOK(FDTRACK_CHILD_PATH, int, name, params) {                           \
        auto handover = hand_over_for_exec(__builtin_return_address(0), IMAGE, ENV); \
        fdtrack::SignalsAsTheProgramSetThem signals;                                   \
        return CALL(name, __VA_ARGS__);                                                \
    }
EXECS(execve, (const char* path, char* const argv[], char* const envp[]), path, envp, path, argv, envp)
EXECS(execv, (const char* path, char* const argv[]), path, nullptr, path, argv)
EXECS(execvp, (const char* file, char* const argv[]), file, nullptr, file, argv)
EXECS(execvpe, (const char* file, char* const argv[], char* const envp[]), file, envp, file, argv, envp)
EXECS(fexecve, (int fd, char* const argv[], char* const envp[]), nullptr, envp, fd, argv, envp)
EXECS(execveat, (int dir, const char* path, char* const argv[], char* const envp[], int flags), nullptr, envp, dir, path,
      argv, envp, flags)

void fdtrack::resolve_exec_functions() {
    real_execve.prepare();
    real_execv.prepare();
    real_execvp.prepare();
    real_execvpe.prepare();
    real_fexecve.prepare();
    real_execveat.prepare();
}

namespace {

// execl and friends take their arguments inline; glibc turns them into an
// argv array and calls execve internally, out of our reach, so we do the same.
#define COLLECT_ARGS(first, argv, ap)                                           \
    size_t argc = 1;                                                            \
    va_start(ap, first);                                                        \
    while (va_arg(ap, const char*)) ++argc;                                     \
    va_end(ap);                                                                 \
    auto** argv = static_cast<char**>(alloca((argc + 1) * sizeof(char*)));     \
    va_start(ap, first);                                                        \
    argv[0] = const_cast<char*>(first);                                         \
    for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(ap, char*);             \

}  // namespace

HOOK(int, execl, (const char* path, const char* arg, ...)) {
    va_list ap;
    COLLECT_ARGS(arg, argv, ap)
    va_end(ap);
    return hook_execv(path, argv);
}

HOOK(int, execlp, (const char* file, const char* arg, ...)) {
    va_list ap;
    COLLECT_ARGS(arg, argv, ap)
    va_end(ap);
    return hook_execvp(file, argv);
}

HOOK(int, execle, (const char* path, const char* arg, ...)) {
    va_list ap;
    COLLECT_ARGS(arg, argv, ap)
    char* const* envp = va_arg(ap, char* const*);  // after the terminating NULL
    va_end(ap);
    return hook_execve(path, argv, envp);
}

#define SPAWNS(ret, name, params, IMAGE, ENV, ...)                                                          \
    HOOK(ret, name, params) {                                                                                \
        ENTER;                                                                                               \
        auto handover = hook.active() ? fdtrack::hand_over_before_spawn(IMAGE, ENV) : fdtrack::Handover{};   \
        fdtrack::SignalsAsTheProgramSetThem signals;                                                  \
        return CALL(name, __VA_ARGS__);                                                               \
    }
SPAWNS(int, posix_spawn,
       (pid_t * pid, const char* path, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attributes,
        char* const argv[], char* const envp[]),
       path, envp, pid, path, actions, attributes, argv, envp)
SPAWNS(int, posix_spawnp,
       (pid_t * pid, const char* file, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attributes,
        char* const argv[], char* const envp[]),
       file, envp, pid, file, actions, attributes, argv, envp)
SPAWNS(int, system, (const char* command), "/bin/sh", nullptr, command)

// --- The dump signal: the program's own handler wins; SIG_DFL or SIG_IGN does not ------
HOOK(int, sigaction, (int signum, const struct sigaction* action, struct sigaction* old)) {
    if (in_fdtrack() || !fdtrack::keeps_dump_handler(signum)) return CALL(sigaction, signum, action, old);
    struct sigaction before;
    if (fdtrack::answer_for_dump_signal(signum, action, &before)) {
        if (old) *old = before;
        return 0;
    }
    // A real handler: the program's from now on; so far it was told `before`.
    int result = CALL(sigaction, signum, action, nullptr);
    if (result == 0 && old) *old = before;
    return result;
}

HOOK(sighandler_t, signal, (int signum, sighandler_t handler)) {
    if (in_fdtrack() || !fdtrack::keeps_dump_handler(signum)) return CALL(signal, signum, handler);
    struct sigaction action {}, before;
    action.sa_handler = handler;
    if (fdtrack::answer_for_dump_signal(signum, &action, &before)) return before.sa_handler;
    return CALL(signal, signum, handler) == SIG_ERR ? SIG_ERR : before.sa_handler;
}

// The program blocks the dump signal: a client's ring would wait as long
// (postgres blocks every signal but while it waits in select, and a backend
// all of its authentication), so the dump thread answers. Not from inside
// the allocator, which a signal handler calling this may have interrupted:
// the next call decides.
inline void program_masks(int how, const sigset_t* set) {
    if (!set || (how != SIG_BLOCK && how != SIG_SETMASK) || in_fdtrack() || !fdtrack::answered_by_copies()) return;
    int dump_signal = fdtrack::config().dump_signal;
    if (sigismember(set, dump_signal) == 1 && !fdtrack::maybe_inside_the_allocator()) fdtrack::serve_with_a_thread();
}

HOOK(int, sigprocmask, (int how, const sigset_t* set, sigset_t* old)) {
    int result = CALL(sigprocmask, how, set, old);
    if (result == 0) program_masks(how, set);
    return result;
}

HOOK(int, pthread_sigmask, (int how, const sigset_t* set, sigset_t* old)) {
    int result = CALL(pthread_sigmask, how, set, old);
    if (result == 0) program_masks(how, set);
    return result;
}

HOOK(int, sigwait, (const sigset_t* set, int* signum)) {
    program_waits_for(set);
    return CALL(sigwait, set, signum);
}

HOOK(int, sigwaitinfo, (const sigset_t* set, siginfo_t* info)) {
    program_waits_for(set);
    return CALL(sigwaitinfo, set, info);
}

HOOK(int, sigtimedwait, (const sigset_t* set, siginfo_t* info, const struct timespec* timeout)) {
    program_waits_for(set);
    return CALL(sigtimedwait, set, info, timeout);
}

// --- Threads: once the program has two, the dump thread answers (copies.h) ----------
HOOK(int, pthread_create, (pthread_t * thread, const pthread_attr_t* attributes, void* (*start)(void*), void* argument)) {
    int result = CALL(pthread_create, thread, attributes, start, argument);
    if (result == 0 && !in_fdtrack() && fdtrack::answered_by_copies()) fdtrack::serve_with_a_thread();
    return result;
}

// --- Thread names, which records carry -------------------------------------------
HOOK(int, pthread_setname_np, (pthread_t thread, const char* name)) {
    int result = CALL(pthread_setname_np, thread, name);
    if (result == 0 && !fdtrack_vfork_child) fdtrack::thread_renamed();
    return result;
}

// --- Changes of root and of user, after which reports must still be written ----------
// (report_files.h). A vfork child shares the parent's memory: it touches nothing.
inline bool prepares_report_places() { return !in_fdtrack() && !fdtrack_vfork_child && fdtrack::tracking(); }

HOOK(int, chroot, (const char* path)) {
    if (prepares_report_places()) fdtrack::hold_report_places();
    return CALL(chroot, path);
}

// Each gives the effective user (which creates files) after the call.
#define CHANGES_USER(name, params, new_euid, ...)                                     \
    HOOK(int, name, params) {                                                         \
        if (prepares_report_places()) fdtrack::hand_report_places_to(new_euid);       \
        return CALL(name, __VA_ARGS__);                                               \
    }
CHANGES_USER(setuid, (uid_t uid), uid, uid)
CHANGES_USER(seteuid, (uid_t euid), euid, euid)
CHANGES_USER(setreuid, (uid_t ruid, uid_t euid), euid, ruid, euid)
CHANGES_USER(setresuid, (uid_t ruid, uid_t euid, uid_t suid), euid, ruid, euid, suid)
// The user files are created as; its own after setfsuid, whatever the effective one.
CHANGES_USER(setfsuid, (uid_t fsuid), fsuid, fsuid)

// Called by vfork.S when the vfork system call fails.
extern "C" __attribute__((visibility("hidden"))) int fdtrack_vfork_failed(int error) {
    errno = error;
    return -1;
}
