// The control socket (control_socket.h).
#include "preload/dump/control_socket.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "preload/dump/dump.h"
#include "preload/dump/report_files.h"
#include "preload/dump/snapshot.h"
#include "preload/track/registry.h"
#include "preload/track/tracker.h"
#include "report/control_channel.h"
#include "report/report_json.h"

namespace fdtrack {
namespace {

// A trusted client gets this long to send its request and to take the answer.
constexpr int kClientPatience_s = 5;
constexpr int kSendDeadline_s = 30;

int listen_on(const std::string& name) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: sun_path[0] stays NUL
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    // A backlog of 64: connections from other users are dropped as soon as
    // they are accepted, so a queue filled by them empties at once (with one
    // thread, at the owner's next ring: copies.h).
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 64) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

// 16 hex digits nobody can guess, or empty.
std::string random_suffix() {
    unsigned char bytes[8];
    if (getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bytes)) return {};
    static const char hex[] = "0123456789abcdef";
    std::string suffix;
    for (unsigned char b : bytes) {
        suffix += hex[b >> 4];
        suffix += hex[b & 15];
    }
    return suffix;
}

// Abstract names belong to whoever binds first: another user may hold ours,
// waiting for this pid. Then a name nobody can predict, which `fdtrack dump`
// finds in /proc/net/unix (and trusts only by its peer credentials).
}  // namespace

int open_control_socket() {
    int pid = static_cast<int>(getpid());
    std::string name = control_socket_name(pid);
    int fd = listen_on(name);
    if (fd >= 0 || errno != EADDRINUSE) return fd;
    for (int attempt = 0; attempt < 3 && fd < 0; ++attempt) {
        std::string suffix = random_suffix();
        if (suffix.empty()) break;
        std::string fallback = control_socket_fallback_name(pid, suffix);
        fd = listen_on(fallback);
        if (fd >= 0) {
            say("the control socket name @" + name + " is taken by another process; listening on @" + fallback +
                " instead (`fdtrack dump " + std::to_string(pid) + "` finds it)");
        }
    }
    if (fd < 0) say("the control socket name @" + name + " is taken by another process; `fdtrack dump` will not work");
    return fd;
}

bool trusted(int client) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return false;
    return peer.uid == 0 || peer.uid == geteuid();
}

// Waits for the request of a trusted client, then sends what `report_json`
// makes (a full report) or the counts, all within a bounded time.
void serve(int client, const std::function<std::string()>& report_json) {
    timeval timeout{kClientPatience_s, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    char request[64] = {};
    ssize_t n = recv(client, request, sizeof request - 1, 0);
    if (n <= 0) return;
    std::string json;
    if (!strcmp(request, kDumpRequest)) json = report_json();
    else if (!strcmp(request, kCountsRequest)) json = counts_json();
    else return;
    int64_t deadline = (monotonic_ns() / 1000000) + kSendDeadline_s * 1000;
    for (size_t sent = 0; sent < json.size() && (monotonic_ns() / 1000000) < deadline;) {
        ssize_t k = send(client, json.data() + sent, json.size() - sent, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        sent += static_cast<size_t>(k);
    }
}

bool out_of_resources(int error) { return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM; }

void answer_in_this_copy(int client, int keep) {
    serve(client, [&] {
        return report_to_json(take_snapshot("signal", [&](const std::vector<int>& described) {
            for (int fd : described) {
                if (fd == client || fd == keep || is_report_place_fd(fd)) continue;
                close_directly(fd);  // the copy's
                registry().vacate(fd);
            }
        }));
    });
}

// In the copy forked at the fd limit: it answers every queued connection the
// way the dump thread would, with fds of its own, and leaves. Like the copy
// that writes dumps there (dump.cpp), it first closes fdtrack's own fds and
// lifts its own soft limit; a snapshot closes the fds it has described.
[[noreturn]] void answer_queue_in_this_copy(int listener, int program_pid, rlim_t program_limit) {
    make_room_in_this_copy(listener);
    report_for_program(program_pid, program_limit);
    for (;;) {
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0 && errno == EINTR) continue;
        if (client < 0) break;
        if (trusted(client)) answer_in_this_copy(client, listener);
        close(client);
    }
    _exit(0);
}

}  // namespace fdtrack
