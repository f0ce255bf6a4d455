// What the hooks tell fdtrack: an fd was created, is about to be closed, or a
// call failed. The guard logic (re-entry, vfork child, exec'd child not
// followed, fdtrack's own fds) lives here once, in Hook, not in every wrapper.
#pragma once

#include <sys/syscall.h>

#include <errno.h>

#include <atomic>
#include <cstdint>

#include "preload/track/native_stack.h"
#include "preload/track/registry.h"
#include "preload/track/thread_state.h"

namespace fdtrack {

// True when this process records fds (decided once: an exec'd child is only
// tracked with FDTRACK_FOLLOW_CHILDREN=1). In a fork child, the first call
// settles it (below).
bool tracking();
// The same, from the library's constructor.
bool tracking_decided_at_load();

// A fork child of a tracked process settles (fresh registry locks and
// fork-child state, the parent's dump thread forgotten) at its first call
// into fdtrack, not in the fork handler: most children only exec or exit,
// and each page the handler wrote cost every one of them a copy (issue #10,
// item 8). The handler, registered by the library's constructor:
void fork_child_started();
// True in a fork child that has not settled: it has recorded nothing of its
// own since the fork, and still holds the parent's view.
bool is_unsettled_fork_child();

// Attach mode (preload/attach/): libfdtrack.so was dlopen'ed into a process
// already running. The constructor calls loaded_late(): nothing is tracked
// until start_attached_tracking(), which forgets any earlier attached period
// and records the fds open now as before_attach; stop_attached_tracking()
// makes every hook a plain call to the real function again and forgets what
// was recorded. A hook already inside a blocking call (accept) when the
// tracking stops may still record once when it returns: the next start
// forgets that too.
void loaded_late();
bool is_loaded_late();
void start_attached_tracking();
void stop_attached_tracking();

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
bool forget_fd(int fd, bool by_fdtrack, FdInfo* before, const void* closer);
// After the program's close() of `fd` returned `result` (errno `error`):
// notes a double close, or the close of an fd a FILE or DIR still owns.
void check_close(int fd, int result, int error, const FdInfo& before);
// Before close_range over [low, high] that names its fds (it does not run
// to the fd limit): each one fdtrack saw closed is a double close, as
// valgrind reports it.
void check_close_range(unsigned low, unsigned high);
// Forgets every fd in [low, high] except fdtrack's own, whose numbers are
// written to `own` (ascending, at most `own_max`); returns how many.
int forget_range(unsigned low, unsigned high, int* own, int own_max, const void* closer);
// A hooked call failed with `error` (EMFILE and ENFILE trigger a dump).
void call_failed(int error);

// fdtrack's long-lived fds (the dump thread's eventfd and control socket,
// libunwind's pipe) each have one holder: the int every use reads the number
// from. A program may want any number (`exec 960>f` in bash, dup2(1, 19936)),
// so before its dup2, dup3 or F_DUPFD lands on one of them, fdtrack moves its
// fd: a copy at a free number, the holder switched, uses in flight waited
// for, the old number closed, free for the program as without fdtrack.
// hold_own_fd: `*holder` now holds an own fd (from adopt_own_fd), or -1.
void hold_own_fd(int* holder);
// Closes the fd `*holder` holds, once no use is in flight; `*holder` becomes -1.
void release_held_fd(int* holder);
// Detach: closes every held own fd (report directories, libunwind's pipe,
// whose holder then reads -1 and makes a new pipe when next used).
void release_all_held_fds();
// Frees `target` if it is a held own fd (an own fd held by nobody, such as
// a report being written, stays: it is closed again soon).
void make_room_for(int target);
// fdtrack's own fds move up ahead of the program's `fd`, which came near them.
void move_ahead_of(int fd);
// The lowest held own fd in [low, high), or -1: where F_DUPFD would have
// landed without fdtrack if the kernel returned `high`.
int held_fd_between(int low, int high);
// The program names one of fdtrack's held fds (fcntl, dup, dup2's source):
// without fdtrack that number is not open, so it gets EBADF (bash probes
// F_GETFD before a redirection, and saves and restores what it finds open).
bool is_held_fd(int fd);
inline bool hides_own_fd(int fd) {
    return !fdtrack_vfork_child && tls.own_depth == 0 && registry().origin(fd) == Origin::own && is_held_fd(fd);
}

// Counts a use of a held fd (a read, write or accept on it): a move waits
// until no use is in flight, so none reaches the program's file that takes
// the number. Async-signal-safe; hold it only around calls that do not
// block (to wait on held fds, see HeldFdPoll).
class HeldFdUse {
public:
    HeldFdUse() { uses().fetch_add(1); }
    ~HeldFdUse() { uses().fetch_sub(1); }
    HeldFdUse(const HeldFdUse&) = delete;
    HeldFdUse& operator=(const HeldFdUse&) = delete;
    static int fd(int& holder) { return std::atomic_ref<int>(holder).load(); }
    static std::atomic<int>& uses();
};

// The scope of a poll() on held fds, which reads them after it begins.
// poll() looks its fds up by number again at every wake-up: after a move it
// woke for fdtrack's file, then found the program's at the old number, not
// ready, and slept on; the dump thread heard nothing more (issue #10, item
// 6). So a move first wakes a poll in progress through the held eventfd
// `wake`, and closes the old number only once the poll has returned; the
// poller reads the numbers again before its next poll. One poller at a time.
class HeldFdPoll {
public:
    explicit HeldFdPoll(int* wake);
    ~HeldFdPoll();
    HeldFdPoll(const HeldFdPoll&) = delete;
    HeldFdPoll& operator=(const HeldFdPoll&) = delete;
};

// A process forked from the tracked one (not exec'd) records into a copy of
// the registry; it reports at exit only if it created fds of its own.
bool is_fork_child();
// close(2) itself, not through libc: fdtrack's own calls to close and to
// syscall() pass through its hooks, which forget the fd in the registry (a
// write the fork handler avoids; a count of the program's a copy must keep).
inline void close_directly(int fd) {
    long result;
    asm volatile("syscall" : "=a"(result) : "a"(SYS_close), "D"(fd) : "rcx", "r11", "memory");
    (void)result;
}

// In a copy of the process fdtrack made to write a report or answer a client
// (dump.cpp at the fd limit, copies.h): what the program's threads held at
// that moment (fd uses and moves, locks) is not held in the copy.
void copy_of_the_process_started();
bool recorded_since_fork();

// The scope of one hooked call: enter; call real; record.
class Hook {
public:
    explicit Hook(const void* caller) {
        if (fdtrack_vfork_child) return;  // shares the parent's memory: touch nothing
        program_ = true;
        caller_ = caller;
        if (tls.own_depth > 0) {          // fdtrack's own I/O: hidden, not recorded
            own_ = true;
            program_ = false;
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

    // A pair filled in `fds`. libunwind keeps its pipe (made inside fdtrack's
    // own unwinding, so ours) in a static array, passed here: that array is
    // the pipe's holder, told when the program takes one of its numbers.
    void created_pair(const char* call, int* fds) {
        fds[0] = created(call, fds[0]);
        fds[1] = created(call, fds[1]);
        if (own_ && fds[0] >= 0 && fds[1] >= 0 && is_unwinder_address(reinterpret_cast<uintptr_t>(caller_)) &&
            is_unwinder_address(reinterpret_cast<uintptr_t>(fds))) {
            hold_own_fd(&fds[0]);
            hold_own_fd(&fds[1]);
        }
    }

    // Before the program's dup2 or dup3 onto `target`.
    void claiming(int target) {
        if (program_) make_room_for(target);
    }
    // After the program's F_DUPFD(_, low) returned `result`: true if fdtrack
    // held a lower number the program would have got; it is free now and
    // `result` closed, so the call is to be made again.
    bool took_held_place(int low, int result) {
        if (!program_ || result < 0) return false;
        int held = held_fd_between(low, result);
        if (held < 0) return false;
        make_room_for(held);
        undo_created(result);
        return true;
    }

    // The return address in the code that called the hooked function.
    const void* caller() const { return caller_; }

    // Before the real close: false if the program may not close `fd`.
    bool closing(int fd) {
        if (!active_ && !own_) return true;
        int saved = errno;
        bool allowed = forget_fd(fd, own_, &before_close_, caller_);
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
    static void undo_created(int fd);

    bool active_ = false;
    bool own_ = false;
    bool program_ = false;  // the program's own call (not fdtrack's, not a vfork child's)
    const void* caller_ = nullptr;
    uint32_t stack_ = kStackNotCaptured;  // one call, one stack, however many fds it creates
    FdInfo before_close_;
};

}  // namespace fdtrack
