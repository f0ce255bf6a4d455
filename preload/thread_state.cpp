// The per-thread state of the hooks, and the thread identity records carry.
#include "preload/thread_state.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread int fdtrack_vfork_child __attribute__((tls_model("initial-exec"))) = 0;

namespace fdtrack {

__thread ThreadState tls __attribute__((tls_model("initial-exec"))) = {};

pid_t current_tid() {
    if (tls.tid == 0) tls.tid = static_cast<pid_t>(syscall(SYS_gettid));
    return tls.tid;
}

const char* current_thread_name() {
    if (tls.name[0] == '\0' && prctl(PR_GET_NAME, tls.name) != 0) tls.name[0] = '\0';
    return tls.name;
}

void reset_thread_state_after_fork() {
    tls.tid = 0;
}

}  // namespace fdtrack
