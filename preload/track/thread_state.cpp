// The per-thread state of the hooks, and the thread identity records carry.
#include "preload/track/thread_state.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

__thread int fdtrack_vfork_child __attribute__((tls_model("initial-exec"))) = 0;

namespace fdtrack {

__thread ThreadState tls __attribute__((tls_model("initial-exec"))) = {};

pid_t current_tid() {
    if (tls.tid == 0) tls.tid = static_cast<pid_t>(syscall(SYS_gettid));
    return tls.tid;
}

namespace {
// Starts at 1, so that a thread's zeroed state reads its name at first use.
std::atomic<unsigned> g_names_generation{1};
}  // namespace

const char* current_thread_name() {
    unsigned generation = g_names_generation.load(std::memory_order_relaxed);
    if (tls.name_generation != generation) {
        if (prctl(PR_GET_NAME, tls.name) != 0) tls.name[0] = '\0';
        tls.name_generation = generation;
    }
    return tls.name;
}

void thread_renamed() { g_names_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace fdtrack
