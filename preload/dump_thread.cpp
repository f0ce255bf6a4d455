// The dump thread and the control socket behind `fdtrack dump`.
#include "preload/dump_thread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "preload/dump.h"
#include "preload/registry.h"
#include "preload/thread_state.h"
#include "report/control_channel.h"

namespace fdtrack {
namespace {

std::atomic<bool> g_running{false};
std::atomic<int> g_wake_fd{-1};   // eventfd, created before the thread
std::atomic<int> g_listen_fd{-1};
std::atomic<unsigned> g_pending{0};

// A process at its fd limit keeps failing; one report per this many seconds
// is enough to name the culprit without filling the disk.
constexpr int64_t kEmfileInterval_s = 30;
int64_t g_last_emfile_s = -kEmfileInterval_s;

int64_t monotonic_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int open_control_socket() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string name = control_socket_name(static_cast<int>(getpid()));
    memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: sun_path[0] stays NUL
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Only the process's own user (or root) may read its fd table.
bool trusted(int client) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return false;
    return peer.uid == 0 || peer.uid == geteuid();
}

void answer(int listener) {
    int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    timeval timeout{5, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    char request[64] = {};
    ssize_t n = recv(client, request, sizeof request - 1, 0);
    if (n > 0 && trusted(client) && !strncmp(request, kDumpRequest, strlen(kDumpRequest))) {
        std::string json = dump_now("signal").json;
        for (size_t sent = 0; sent < json.size();) {
            ssize_t k = send(client, json.data() + sent, json.size() - sent, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            sent += static_cast<size_t>(k);
        }
    }
    close(client);
}

// A process at its limit keeps failing: one report per kEmfileInterval_s.
// (dump_now lifts the soft limit while it writes, see dump.cpp.)
void dump_at_emfile() {
    int64_t now = monotonic_s();
    if (now - g_last_emfile_s < kEmfileInterval_s) return;
    g_last_emfile_s = now;
    dump_now("emfile");
}

void serve_pending() {
    uint64_t count;
    while (read(g_wake_fd.load(), &count, sizeof count) > 0) {
    }
    unsigned pending = g_pending.exchange(0);
    if (pending & kDumpSignal) dump_now("signal");
    if (pending & kDumpEmfile) dump_at_emfile();
    // At the limit a threshold dump could not be written; the emfile one
    // (or one less than kEmfileInterval_s old) already names the culprit.
    if ((pending & kDumpThreshold) && !(pending & kDumpEmfile)) dump_now("threshold");
}

void* run(void*) {
    Reentry own;  // everything this thread opens is fdtrack's
    prctl(PR_SET_NAME, "fdtrack");
    int listener = g_listen_fd.load();
    for (;;) {
        pollfd fds[2] = {{g_wake_fd.load(), POLLIN, 0}, {listener, POLLIN, 0}};
        int ready = poll(fds, listener >= 0 ? 2 : 1, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return nullptr;
        }
        if (fds[0].revents & POLLIN) serve_pending();
        if (listener >= 0 && (fds[1].revents & POLLIN)) answer(listener);
    }
}

}  // namespace

void ensure_dump_thread() {
    if (g_running.load(std::memory_order_acquire) || g_running.exchange(true)) return;
    Reentry own;
    g_wake_fd.store(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (g_wake_fd.load() < 0) return;
    // Listening before the thread runs: `fdtrack dump` may come right after
    // start, while the program's own threads keep the CPUs busy.
    g_listen_fd.store(open_control_socket());
    // The thread must never run the program's signal handlers.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (pthread_create(&thread, &attributes, run, nullptr) != 0) {
        static const char message[] = "fdtrack: cannot start the dump thread; only the exit report will be written\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
    }
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void request_dump(DumpRequest why) {
    int saved = errno;
    g_pending.fetch_or(why);
    int fd = g_wake_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(fd, &one, sizeof one);
        (void)ignored;
    }
    errno = saved;
}

void dump_thread_after_fork() {
    // The eventfd and the socket are shared with the parent: wake-ups and
    // `fdtrack dump` requests must reach each process's own thread.
    for (std::atomic<int>* fd : {&g_wake_fd, &g_listen_fd}) {
        int old = fd->exchange(-1);
        if (old >= 0) {
            registry().remove(old);
            syscall(SYS_close, old);
        }
    }
    g_pending.store(0);
    g_running.store(false);
    ensure_dump_thread();
}

}  // namespace fdtrack
