// What the hooks tell fdtrack: an fd was created, is about to be closed, or a
// call failed. The guard logic (re-entry, vfork child, exec'd child not
// followed, fdtrack's own fds) lives here once, in Hook, not in every wrapper.
#pragma once

#include <errno.h>

#include <cstdint>

#include "preload/native_stack.h"
#include "preload/registry.h"
#include "preload/thread_state.h"

namespace fdtrack {

// True when this process records fds (decided once: an exec'd child is only
// tracked with FDTRACK_FOLLOW_CHILDREN=1).
bool tracking();

// Whether an image this process execs now will be tracked too: the same pid
// (a wrapper script exec'ing python), or children followed on request.
bool exec_stays_tracked();

// The stack of a hooked call not captured yet.
inline constexpr uint32_t kStackNotCaptured = UINT32_MAX;

// Records `fd` as created by `call` on this thread, with its stacks. `stack`
// is the hooked call's interned stack: captured here when it is still
// kStackNotCaptured, then reused, so the fds one call creates (a pipe's two
// ends, the fds of an SCM_RIGHTS message) cost one capture.
void record_fd(const char* call, int fd, bool held_by_stream, uint32_t* stack);
// Moves an fd that fdtrack itself created above the program's range and
// hides it from the program and the report. Returns the fd to use.
int adopt_own_fd(int fd);
// Forgets `fd` before it is closed, copying what the registry knew of it to
// `before`. False when the program tries to close one of fdtrack's own fds:
// it must get EBADF, as if fdtrack were not there.
bool forget_fd(int fd, bool by_fdtrack, FdInfo* before);
// After the program's close() of `fd` returned `result` (errno `error`):
// notes a double close, or the close of an fd a FILE or DIR still owns.
void check_close(int fd, int result, int error, const FdInfo& before);
// Forgets every fd in [low, high] except fdtrack's own, whose numbers are
// written to `own` (ascending, at most `own_max`); returns how many.
int forget_range(unsigned low, unsigned high, int* own, int own_max);
// A hooked call failed with `error` (EMFILE and ENFILE trigger a dump).
void call_failed(int error);

// A process forked from the tracked one (not exec'd) records into a copy of
// the registry; it reports at exit only if it created fds of its own.
bool is_fork_child();
bool recorded_since_fork();
void forget_recorded_since_fork();

// The scope of one hooked call: enter; call real; record.
class Hook {
public:
    explicit Hook(const void* caller) {
        if (fdtrack_vfork_child) return;  // shares the parent's memory: touch nothing
        if (tls.own_depth > 0) {          // fdtrack's own I/O: hidden, not recorded
            own_ = true;
            return;
        }
        if (tls.hook_depth > 0) return;   // a hook reached from inside a real call
        // libunwind's own pipe, made while it holds its lock (the program's
        // exceptions or profiler may use libunwind too): unwinding from here
        // would deadlock on that lock.
        if (is_unwinder_address(reinterpret_cast<uintptr_t>(caller))) return;
        ++tls.hook_depth;                 // before tracking(): a first call parses the config
        active_ = tracking();
        if (!active_) --tls.hook_depth;
    }
    ~Hook() {
        if (active_) --tls.hook_depth;
    }
    Hook(const Hook&) = delete;
    Hook& operator=(const Hook&) = delete;

    // The real call returned `fd`. `movable` is false for fds whose number
    // cannot change (owned by a FILE or DIR, received in a message...).
    int created(const char* call, int fd, bool movable = true, bool held_by_stream = false) {
        if (!active_ && !own_) return fd;
        int saved = errno;
        if (active_) {
            if (fd >= 0) record_fd(call, fd, held_by_stream, &stack_);
            else call_failed(saved);
        } else if (fd >= 0 && movable) {
            fd = adopt_own_fd(fd);
        }
        errno = saved;
        return fd;
    }

    // An fd owned by a FILE or DIR (fopen, opendir...): not movable.
    int created_for_stream(const char* call, int fd) { return created(call, fd, false, true); }

    // Before the real close: false if the program may not close `fd`.
    bool closing(int fd) {
        if (!active_ && !own_) return true;
        int saved = errno;
        bool allowed = forget_fd(fd, own_, &before_close_);
        errno = saved;
        return allowed;
    }

    // After the program's own close(fd) returned `result`.
    void closed(int fd, int result) {
        if (!active_) return;
        int saved = errno;
        check_close(fd, result, saved, before_close_);
        errno = saved;
    }

    bool active() const { return active_; }
    bool own() const { return own_; }

private:
    bool active_ = false;
    bool own_ = false;
    uint32_t stack_ = kStackNotCaptured;  // one call, one stack, however many fds it creates
    FdInfo before_close_;
};

}  // namespace fdtrack
