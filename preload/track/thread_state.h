// Per-thread state of the hooks: the re-entry guard, the vfork-child flag and
// the cached thread identity. Initial-exec TLS, so it needs no allocation and
// works before any constructor has run.
#pragma once

#include <sys/types.h>

// Set by our vfork() wrapper (vfork.S) in the child, which shares the parent's
// memory until it execs: hooks there must touch no state at all.
extern "C" __thread int fdtrack_vfork_child __attribute__((tls_model("initial-exec")));

namespace fdtrack {

struct ThreadState {
    int hook_depth;   // > 0 inside a hooked call (nested hooks pass through)
    int own_depth;    // > 0 while fdtrack's own code runs (capture, init, dumps)
    pid_t tid;        // 0 until first needed; reset in a fork child
    char name[16];    // the thread's comm, read again after any thread is renamed
    unsigned name_generation;  // thread_renamed()'s count when `name` was read
    bool forking_copy;  // around fdtrack's own fork of a copy of the process (a dump at
                        // the fd limit, an answer to `fdtrack dump`), inherited by the copy
};

extern __thread ThreadState tls __attribute__((tls_model("initial-exec")));

// Marks the calling thread as running fdtrack's own code: hooks it reaches
// pass straight through, untracked (libunwind's pipe, our report files).
class Reentry {
public:
    Reentry() { ++tls.own_depth; }
    ~Reentry() { --tls.own_depth; }
    Reentry(const Reentry&) = delete;
    Reentry& operator=(const Reentry&) = delete;
};

inline bool in_fdtrack() { return tls.hook_depth > 0 || tls.own_depth > 0 || fdtrack_vfork_child; }

pid_t current_tid();
const char* current_thread_name();  // 15 chars at most, NUL-terminated

// Some thread was renamed (pthread_setname_np): every thread reads its name
// again at its next record. CPython 3.14 names OS threads after Thread.name,
// also when a thread renames itself later.
void thread_renamed();

// In a fork child the only thread is the one that forked, with a new tid.
// Inline: the fork handler runs it in every child (tracker.h).
inline void reset_thread_state_after_fork() { tls.tid = 0; }

}  // namespace fdtrack
