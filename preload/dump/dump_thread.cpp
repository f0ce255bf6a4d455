// The dump thread and the control socket behind `fdtrack dump`.
#include "preload/track/child_path.h"
#include "preload/dump/dump_thread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>

#include "preload/attach/got_patch.h"
#include "preload/dump/control_socket.h"
#include "preload/dump/copies.h"
#include "preload/dump/dump_signal.h"
#include "preload/track/config.h"
#include "preload/dump/dump.h"
#include "preload/track/history.h"
#include "preload/dump/triggers.h"
#include "preload/track/registry.h"
#include "preload/dump/snapshot.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"

namespace fdtrack {
namespace {

std::atomic<bool> g_running{false};
// Requests are answered, by the thread or by copies (ensure_request_service).
std::atomic<bool> g_service_ready{false};
std::atomic<bool> g_by_copies{false};
std::atomic<bool> g_stopping{false};
pthread_t g_thread;
bool g_joinable = false;
// Attached, the thread wakes at least this often to redirect objects loaded
// behind the dlopen hook's back.
constexpr int kAttachedWake_ms = 1000;
// Holders of fdtrack's own fds (tracker.h): the program may take their
// numbers, so every use reads them again, through HeldFdUse.
int g_wake_fd = -1;  // eventfd, created before the thread
int g_listen_fd = -1;
std::atomic<unsigned> g_pending{0};

// Accepting fails while the process is at its fd limit, and the connection
// stays queued: the listener stays readable. Polling it again at once spins
// (issue 9, row 9); it is left alone this long after each failure.
constexpr int kAcceptBackoff_ms = 500;
// How long detach waits for the thread to end (stop_dump_thread).
constexpr int kJoinPatience_s = 2;

// The program has no fd to spare for the connection: a copy of the process
// answers it (answer_queue_in_this_copy). The dump thread waits for it, since
// the program must not reap it; a lock held by another thread at the fork
// could stop the copy, so it is killed after a while (wait_for_copy).
void answer_from_a_copy() {
    int pid = static_cast<int>(getpid());
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    pid_t copy;
    {
        HeldFdUse use;  // the copy gets the listener by this number
        int listener = HeldFdUse::fd(g_listen_fd);
        tls.forking_copy = true;  // it keeps the listener: no fork child of the program's (fork_child_started)
        copy = fork();
        tls.forking_copy = false;
        if (copy == 0) answer_queue_in_this_copy(listener, pid, limit.rlim_cur);
    }
    if (copy > 0) wait_for_copy(copy);
}

// Takes one connection: other users' are closed at once, unread, so they
// cannot hold the thread (and with it the owner and the dump signal).
// Returns false when accepting failed for lack of fds or memory.
bool answer() {
    int client;
    {
        HeldFdUse use;
        client = accept4(HeldFdUse::fd(g_listen_fd), nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (client < 0) return !out_of_resources(errno);
    if (trusted(client)) serve(client, snapshot_json);
    close(client);
    return true;
}

// Held by whoever takes the requested dumps: the dump thread, or the thread
// that ends the program (take_requested_dumps). A flag, not a mutex: a fork
// child drops one its parent's thread held at the fork.
std::atomic<bool> g_serving{false};

class Serving {
public:
    Serving() {
        while (g_serving.exchange(true, std::memory_order_acquire)) usleep(1000);
    }
    ~Serving() { g_serving.store(false, std::memory_order_release); }
    Serving(const Serving&) = delete;
    Serving& operator=(const Serving&) = delete;
};

// Takes the dumps asked for so far (inside Serving).
void serve_requests() {
    unsigned pending = g_pending.exchange(0);
    if (pending & kDumpSignal) dump_now("signal");
    if (pending & kDumpEmfile) dump_now("emfile");  // at most one a kEmfileDumpInterval_s (triggers.cpp)
    // A threshold dump that arrives with an emfile one says nothing more; one
    // whose count has fallen back again by now (postgres probing how many fds
    // it may open) would show a count far below the threshold.
    if ((pending & kDumpThreshold) && !(pending & kDumpEmfile) && threshold_still_reached()) dump_now("threshold");
}

void serve_pending() {
    {
        HeldFdUse use;
        uint64_t count;
        while (read(HeldFdUse::fd(g_wake_fd), &count, sizeof count) > 0) {
        }
    }
    Serving serving;
    serve_requests();
}

void* run(void*) {
    Reentry own;  // everything this thread opens is fdtrack's
    prctl(PR_SET_NAME, "fdtrack");
    if (g_pending.load()) serve_pending();  // a fork child's dump signal, before it had this thread
    int64_t listener_paused_until = 0;
    for (;;) {
        pollfd fds[2];
        bool listening;
        int ready;
        {
            // Read again each time: a move of fdtrack's fds (the program
            // took a number) wakes this poll and waits for it to return.
            HeldFdPoll polling(&g_wake_fd);
            int listener = HeldFdUse::fd(g_listen_fd);
            int64_t pause_left = listener_paused_until - (monotonic_ns() / 1000000);
            listening = listener >= 0 && pause_left <= 0;
            int timeout = listener >= 0 && !listening ? static_cast<int>(pause_left) : -1;
            if (int sample_in = next_sample_in_ms(); sample_in >= 0 && (timeout < 0 || sample_in < timeout)) {
                timeout = sample_in;
            }
            if (is_loaded_late() && (timeout < 0 || timeout > kAttachedWake_ms)) timeout = kAttachedWake_ms;
            fds[0] = {HeldFdUse::fd(g_wake_fd), POLLIN, 0};
            fds[1] = {listener, POLLIN, 0};
            ready = poll(fds, listening ? 2 : 1, timeout);
        }
        if (g_stopping.load()) return nullptr;
        if (is_loaded_late()) redirect_new_objects();
        sample_history_if_due();
        if (ready < 0) {
            if (errno == EINTR) continue;
            return nullptr;
        }
        if (fds[0].revents & POLLIN) serve_pending();
        if (listening && (fds[1].revents & POLLIN) && !answer()) {
            answer_from_a_copy();
            listener_paused_until = (monotonic_ns() / 1000000) + kAcceptBackoff_ms;
        }
    }
}

// The control socket, opened once for the thread or the copies.
void listen_once() {
    if (std::atomic_ref<int>(g_listen_fd).load() >= 0) return;
    int listener = -1;
    try {  // called from hooks: nothing may leave (its names are std::strings)
        listener = open_control_socket();
    } catch (...) {
        listener = -1;  // no `fdtrack dump`; the dump signal still works
    }
    std::atomic_ref<int>(g_listen_fd).store(listener);
    hold_own_fd(&g_listen_fd);
}

// Copies can answer only while the program has one thread (a lock another
// thread holds would be held in the copy for good) and while the dump signal
// is fdtrack's and not blocked, to ring: attached, with FDTRACK_SIGNAL=none,
// or once the program took or blocked the signal, the thread answers.
bool copies_can_answer() {
    int dump_signal = config().dump_signal;
    if (is_loaded_late() || !__libc_single_threaded || !keeps_dump_handler(dump_signal)) return false;
    sigset_t blocked;  // inherited blocked across exec: rings would wait for good
    return pthread_sigmask(SIG_BLOCK, nullptr, &blocked) == 0 && sigismember(&blocked, dump_signal) == 0;
}

}  // namespace

void ensure_request_service() {
    if (g_service_ready.load(std::memory_order_acquire) || g_service_ready.exchange(true)) return;
    if (!copies_can_answer()) {
        ensure_dump_thread();
        // At the fd limit (no eventfd) or out of threads: tried again at the next fd.
        if (!g_running.load()) g_service_ready.store(false);
        return;
    }
    Reentry own;
    listen_once();
    answer_by_copies(&g_listen_fd);  // first: the handler relies on what it learns
    g_by_copies.store(true);
    // A fork child's requests from before it had a way to answer them.
    if (g_pending.load()) answer_in_a_copy_now();
}

void serve_with_a_thread() {
    // A fork child that has not settled holds its parent's numbers; it
    // decides anew when it settles.
    if (is_unsettled_fork_child() || !g_by_copies.load() || !g_by_copies.exchange(false)) return;
    int saved = errno;  // from hooks of calls that succeeded
    stop_answering_by_copies();
    ensure_dump_thread();
    if (!g_running.load()) g_service_ready.store(false);  // the next fd tries again
    errno = saved;
}

bool answered_by_copies() { return g_by_copies.load(std::memory_order_relaxed); }

unsigned take_pending_requests() { return g_pending.exchange(0); }

void add_pending_requests(unsigned requests) { g_pending.fetch_or(requests); }

void ensure_dump_thread() {
    if (g_running.load(std::memory_order_acquire) || g_running.exchange(true)) return;
    Reentry own;
    int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
        g_running.store(false);  // at the fd limit: the next call that creates an fd tries again
        return;
    }
    std::atomic_ref<int>(g_wake_fd).store(wake);
    hold_own_fd(&g_wake_fd);
    // Listening before the thread runs: `fdtrack dump` may come right after
    // start, while the program's own threads keep the CPUs busy.
    listen_once();
    // The thread must never run the program's signal handlers.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    // Attached, detach joins it; under the preload nobody does.
    bool joinable = is_loaded_late();
    pthread_attr_setdetachstate(&attributes, joinable ? PTHREAD_CREATE_JOINABLE : PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    g_stopping.store(false);
    if (pthread_create(&thread, &attributes, run, nullptr) == 0) {
        // Named before this returns, not once it runs: the CLI tells by this
        // name that a thread answers (and that no ring is needed).
        pthread_setname_np(thread, "fdtrack");
        g_thread = thread;
        g_joinable = joinable;
    } else {
        static const char message[] = "fdtrack: cannot start the dump thread; only the exit report will be written\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
    }
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

bool stop_dump_thread() {
    if (!g_running.load()) return true;
    g_stopping.store(true);
    {
        HeldFdUse use;
        int fd = HeldFdUse::fd(g_wake_fd);
        uint64_t one = 1;
        if (fd >= 0) {
            ssize_t ignored = write(fd, &one, sizeof one);
            (void)ignored;
        }
    }
    // Bounded: a dump it is writing or an answer to `fdtrack dump` (up to
    // 30 s, control_socket.cpp) may hold it, and detach runs in a thread the injector
    // borrowed and may abandon. Past the bound the thread stays as it is,
    // joinable and with its fds, so nothing it may still use is released or
    // reset under it; it sees g_stopping when done, and the next call joins it.
    if (g_joinable) {
        timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += kJoinPatience_s;
        if (pthread_timedjoin_np(g_thread, nullptr, &deadline) == ETIMEDOUT) return false;
    }
    g_joinable = false;
    release_held_fd(&g_listen_fd);
    release_held_fd(&g_wake_fd);
    g_pending.store(0);
    g_running.store(false);
    return true;
}

void request_dump(DumpRequest why) {
    int saved = errno;
    g_pending.fetch_or(why);
    // A fork child that has not settled still names its parent's eventfd,
    // closed at the fork: the request waits for the child's own thread.
    if (is_unsettled_fork_child()) {
        errno = saved;
        return;
    }
    if (answered_by_copies()) {
        answer_in_a_copy_now();  // from a hook: a threshold or the fd limit
        errno = saved;
        return;
    }
    HeldFdUse use;
    int fd = HeldFdUse::fd(g_wake_fd);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(fd, &one, sizeof one);
        (void)ignored;
    }
    errno = saved;
}

void take_requested_dumps() {
    Serving serving;  // after the dump the thread may be writing
    serve_requests();
}

FDTRACK_CHILD_PATH void dump_thread_in_fork_child(bool parent_settled) {
    // The eventfd and the socket are the parent's: closed at once, so that a
    // child never holds its parent's control socket (one that outlived the
    // parent would keep its name) and wake-ups never reach the parent's
    // thread. Reads and system calls only: a page written here is copied in
    // every child (issue #10, item 8); the numbers are forgotten when the
    // child settles (dump_thread_after_fork).
    for (int* fd : {&g_wake_fd, &g_listen_fd}) {
        int old = std::atomic_ref<int>(*fd).load();
        if (old >= 0 && parent_settled) close_directly(old);
    }
    if (g_pending.load(std::memory_order_relaxed)) g_pending.store(0);  // the parent's requests
}

void dump_thread_after_fork() {
    g_serving.store(false);  // a thread of the parent's may have held it at the fork
    for (int* fd : {&g_wake_fd, &g_listen_fd}) {
        int old = std::atomic_ref<int>(*fd).exchange(-1);
        if (old >= 0) registry().remove(old);  // closed at the fork (dump_thread_in_fork_child)
    }
    g_running.store(false);
    g_service_ready.store(false);
    g_by_copies.store(false);
    forget_copies_after_fork();
    // No thread yet (issue 10, item 8: a thread and a socket in every child
    // cost each fork about 0.2 ms, and most children only exec or exit):
    // the child's first call that creates an fd sets up its own answering
    // (ensure_request_service, from record_fd).
}

}  // namespace fdtrack
