// Asking a tracked process over its control socket (control_client.h).
#include "tools/control_client.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "report/control_channel.h"
#include "report/dump_signals.h"
#include "report/input_file.h"
#include "report/report_json.h"

namespace fdtrack::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string proc_path(int pid, const char* what) { return "/proc/" + std::to_string(pid) + "/" + what; }

bool has_fdtrack_loaded(int pid) {
    std::ifstream maps(proc_path(pid, "maps"));
    for (std::string line; std::getline(maps, line);) {
        if (line.find("libfdtrack") != std::string::npos) return true;
    }
    return false;
}

// The process's real, effective and saved uids (empty if it is gone).
std::vector<uid_t> uids_of(int pid) {
    std::ifstream status(proc_path(pid, "status"));
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("Uid:", 0) != 0) continue;
        std::istringstream fields(line.substr(4));
        std::vector<uid_t> uids;
        for (uid_t uid; uids.size() < 3 && fields >> uid;) uids.push_back(uid);
        return uids;
    }
    return {};
}

bool is_zombie(int pid) {
    std::ifstream stat(proc_path(pid, "stat"));
    std::string line;
    std::getline(stat, line);
    size_t end = line.rfind(')');  // the command name may hold anything, ')' too
    return end != std::string::npos && line.compare(end, 3, ") Z") == 0;
}

// getpwuid_r: fleet.cpp asks several processes from several threads.
std::string user_name(uid_t uid) {
    passwd storage{};
    passwd* entry = nullptr;
    char buffer[4096];
    if (getpwuid_r(uid, &storage, buffer, sizeof buffer, &entry) != 0) entry = nullptr;
    return entry ? std::string(entry->pw_name) + " (uid " + std::to_string(uid) + ")" : "uid " + std::to_string(uid);
}

// Why fdtrack cannot even ask, in words a user can act on; empty if it can.
std::string why_not_askable(int pid, const std::vector<uid_t>& uids) {
    std::string process = "process " + std::to_string(pid);
    if ((kill(pid, 0) != 0 && errno == ESRCH) || uids.size() < 2) return "no process with PID " + std::to_string(pid);
    if (is_zombie(pid)) return process + " has exited; it is a zombie until its parent reaps it";
    // The process answers only its own user and root (dump_thread.cpp): say
    // so now rather than wait for an answer that will not come.
    uid_t me = geteuid();
    if (me != 0 && me != uids[1]) {
        return process + " belongs to " + user_name(uids[1]) + "; only that user or root may dump it";
    }
    return {};
}

// Why the process did not answer, in words a user can act on.
std::string why_unreachable(int pid) {
    if (!has_fdtrack_loaded(pid)) {
        return "process " + std::to_string(pid) +
               " is not tracked: libfdtrack.so is not loaded in it (start it with LD_PRELOAD=libfdtrack.so or "
               "`fdtrack run`)";
    }
    return "process " + std::to_string(pid) +
           " has libfdtrack.so loaded but is not tracking (an exec'd child without --follow-children?) or has no "
           "control socket yet (a fork child before its first fd)";
}

std::chrono::milliseconds left_until(Clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

// Connects to the abstract socket `name` within the deadline (a unix connect
// blocks while the listener's queue is full; SO_SNDTIMEO bounds it).
int connect_to(const std::string& name, Clock::time_point deadline) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    auto left = std::max<int64_t>(left_until(deadline).count(), 1);
    timeval timeout{static_cast<time_t>(left / 1000), static_cast<suseconds_t>(left % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path + 1, name.data(), name.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// The inodes of the sockets `pid` holds, or nothing when its fd table cannot
// be read (only its user and root may, and not even its user when it is not
// dumpable).
std::optional<std::set<std::string>> socket_inodes(int pid) {
    std::error_code error;
    std::filesystem::directory_iterator fds(proc_path(pid, "fd"), error);
    if (error) return std::nullopt;
    std::set<std::string> inodes;
    for (const auto& entry : fds) {
        std::string target = std::filesystem::read_symlink(entry.path(), error).string();
        if (!error && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    return inodes;
}

struct AbstractListener {
    std::string name;  // without the leading '@'
    std::string inode;
};

// The abstract unix sockets listening now, from /proc/net/unix: "Num RefCount
// Protocol Flags Type St Inode Path", abstract paths with '@'.
std::vector<AbstractListener> abstract_listeners() {
    constexpr unsigned long kListening = 0x10000;  // __SO_ACCEPTCON
    std::vector<AbstractListener> listeners;
    std::ifstream table("/proc/net/unix");
    std::string line;
    std::getline(table, line);  // the header
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string num, refs, protocol, flags, type, state, inode, path;
        if (!(fields >> num >> refs >> protocol >> flags >> type >> state >> inode >> path)) continue;
        if (path.size() < 2 || path[0] != '@' || !(strtoul(flags.c_str(), nullptr, 16) & kListening)) continue;
        listeners.push_back({path.substr(1), inode});
    }
    return listeners;
}

// The fallback names (control_channel.h) listening now. Where the target's
// fds can be read, only the sockets it holds: anyone may bind decoys by
// those names.
std::vector<std::string> fallback_names(int pid) {
    std::optional<std::set<std::string>> held = socket_inodes(pid);
    std::vector<std::string> names;
    for (AbstractListener& listener : abstract_listeners()) {
        if (held && !held->count(listener.inode)) continue;
        if (listener.name != control_socket_name(pid) && is_control_socket_name(pid, listener.name)) {
            names.push_back(std::move(listener.name));
        }
    }
    return names;
}

// The pid a control socket name is for ("fdtrack.123" or "fdtrack.123.<hex>"),
// or 0 for any other name.
int pid_of_control_socket(const std::string& name) {
    size_t dot = name.find('.');
    int pid = 0;
    if (dot == std::string::npos) return 0;
    std::from_chars(name.data() + dot + 1, name.data() + name.size(), pid);
    return pid > 0 && is_control_socket_name(pid, name) ? pid : 0;
}

// The control socket of `pid`, found by name and trusted only by its peer
// credentials: the listener must have been made by that very process, under
// one of its uids (or root). Anyone else's is closed unread, and said so.
// Returns -1 (with `refused` saying whose were found) when there is none.
int connect_to_target(int pid, const std::vector<uid_t>& uids, Clock::time_point deadline, std::string& refused,
                      std::string_view command) {
    constexpr int kNamed = 3;  // refusals named in full; decoys can be many
    std::vector<std::string> names{control_socket_name(pid)};
    int n_refused = 0;
    auto say_refused = [&] {
        if (n_refused > kNamed) refused += "; and " + std::to_string(n_refused - kNamed) + " more";
    };
    for (size_t i = 0; i < names.size(); ++i) {
        int fd = connect_to(names[i], deadline);
        if (fd >= 0) {
            ucred peer{};
            socklen_t length = sizeof peer;
            bool own_uid = false;
            if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.pid == pid) {
                for (uid_t uid : uids) own_uid = own_uid || peer.uid == uid;
                if (own_uid || peer.uid == 0) {
                    say_refused();
                    if (n_refused) std::cerr << command << ": " << refused << "; used @" << names[i] << "\n";
                    return fd;
                }
            }
            close(fd);
            if (++n_refused <= kNamed) {
                refused += std::string(n_refused > 1 ? "; " : "") + "@" + names[i] + " is held by process " +
                           std::to_string(peer.pid) + " of " + user_name(peer.uid) + ", not by process " +
                           std::to_string(pid) + ": refused";
            }
        }
        if (i == 0) {
            for (std::string& name : fallback_names(pid)) names.push_back(std::move(name));
        }
    }
    say_refused();
    return -1;
}

// The process's threads' names.
std::vector<std::string> thread_names(int pid) {
    std::vector<std::string> names;
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(proc_path(pid, "task"), error)) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (std::getline(comm, name)) names.push_back(name);
    }
    return names;
}

// A signal mask of /proc/PID/status ("SigCgt:" what it has handlers for).
uint64_t signal_mask(int pid, const char* field) {
    std::ifstream status(proc_path(pid, "status"));
    for (std::string line; std::getline(status, line);) {
        if (line.rfind(field, 0) == 0) return std::strtoull(line.c_str() + strlen(field), nullptr, 16);
    }
    return 0;
}

bool in_mask(uint64_t mask, int sig) { return mask >> (sig - 1) & 1; }

// FDTRACK_SIGNAL as the process was started with it: "USR1" when unset,
// "" when its environment was written over (a process title in its place:
// no entry with an '=') and the setting cannot be told.
std::string dump_signal_setting(int pid) {
    std::ifstream environ(proc_path(pid, "environ"), std::ios::binary);
    bool intact = false;
    for (std::string entry; std::getline(environ, entry, '\0');) {
        if (entry.rfind("FDTRACK_SIGNAL=", 0) == 0) return entry.substr(15);
        intact = intact || entry.find('=') != std::string::npos;
    }
    return intact ? "USR1" : "";
}

// What FDTRACK_SIGNAL may say for `sig` (the library's forms, docs/spec.md).
bool names_signal(const std::string& setting, int sig) {
    std::string name = setting.rfind("SIG", 0) == 0 ? setting.substr(3) : setting;
    if (name == std::to_string(sig)) return true;
    if (sig == SIGUSR1 || sig == SIGUSR2) return name == (sig == SIGUSR1 ? "USR1" : "USR2");
    int offset = sig - SIGRTMIN;
    return name == "RTMIN+" + std::to_string(offset) || (offset == 0 && name == "RTMIN");
}

// The signal that rings a process with no fdtrack thread to take a
// connection, or 0 when it has one (or its dump signal cannot be told: then
// nothing is sent that a handler of the program's own would take). Its dump
// signal is the one of the usable dump signals it catches that its
// FDTRACK_SIGNAL names (USR1 when unset), or, where its environment was
// written over, the only one it catches.
int ring_signal(int pid) {
    for (const std::string& name : thread_names(pid)) {
        if (name == "fdtrack") return 0;  // its dump thread listens
    }
    uint64_t caught = signal_mask(pid, "SigCgt:");
    std::string setting = dump_signal_setting(pid);
    int only = 0, candidates = 0;
    for (int sig = 1; sig <= SIGRTMAX; ++sig) {
        if (!is_usable_dump_signal(sig) || !in_mask(caught, sig)) continue;
        if (!setting.empty() && names_signal(setting, sig)) return sig;
        only = sig;
        ++candidates;
    }
    // Written over by the program's title: when it catches one such signal
    // only, that is fdtrack's; with several, none is sent.
    return setting.empty() && candidates == 1 ? only : 0;
}

// Rings the process `pidfd` names (not a pid: one reused meanwhile is never
// signalled) with `sig`. A program that blocks that signal or takes it
// itself (sigwait, signalfd) has a dump thread (preload/hooks/hooks.cpp).
void ring(int pidfd, int sig) {
    siginfo_t info{};
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = kControlRing;
    syscall(SYS_pidfd_send_signal, pidfd, sig, &info, 0);
}

enum class Answer { complete, timed_out, too_long };

// Reads the answer until the process closes the connection, within the
// deadline and no longer than a report may be.
Answer read_answer(int fd, Clock::time_point deadline, std::string& out) {
    char buffer[65536];
    for (;;) {
        auto left = left_until(deadline);
        if (left.count() <= 0) return Answer::timed_out;
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return Answer::timed_out;
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Answer::complete;
        if (out.size() + static_cast<size_t>(n) > kMaxReportBytes) return Answer::too_long;
        out.append(buffer, static_cast<size_t>(n));
    }
}

}  // namespace

std::vector<int> tracked_processes() {
    std::set<int> pids;
    for (const AbstractListener& listener : abstract_listeners()) {
        if (int pid = pid_of_control_socket(listener.name)) pids.insert(pid);
    }
    // The names are anyone's to bind: only a process that is there, ours to
    // ask (what why_not_askable checks) and has the library loaded counts.
    // ask_process still trusts none of them but by its peer credentials.
    std::vector<int> tracked;
    for (int pid : pids) {
        if (why_not_askable(pid, uids_of(pid)).empty() && has_fdtrack_loaded(pid)) tracked.push_back(pid);
    }
    return tracked;
}

bool holds_control_socket(int pid) {
    std::optional<std::set<std::string>> held = socket_inodes(pid);
    if (!held) return false;
    for (const AbstractListener& listener : abstract_listeners()) {
        if (held->count(listener.inode) && is_control_socket_name(pid, listener.name)) return true;
    }
    return false;
}

bool has_exited(int pid) { return (kill(pid, 0) != 0 && errno == ESRCH) || is_zombie(pid); }

std::string ask_process(int pid, std::string_view request, double timeout_s, std::string_view command) {
    std::string process = "process " + std::to_string(pid);
    std::vector<uid_t> uids = uids_of(pid);
    if (std::string why = why_not_askable(pid, uids); !why.empty()) throw ControlError(why);
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    std::string refused;
    // Only a process that listens on its own control socket is ever rung:
    // libfdtrack.so is running there, and the signal is fdtrack's
    // (ring_signal, read again each time). One that fdtrack does not track,
    // or a fork child before its first fd, is never signalled.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    auto ring_if_listening = [&] {
        if (int sig = pidfd >= 0 ? ring_signal(pid) : 0) ring(pidfd, sig);
    };
    constexpr auto kAttempt = std::chrono::milliseconds(250);
    bool rung_to_connect = ring_signal(pid) != 0;  // nobody accepts until rung
    int fd = connect_to_target(pid, uids, rung_to_connect ? std::min(deadline, Clock::now() + kAttempt) : deadline,
                               refused, command);
    // A backlog another user filled is emptied at each ring (and the
    // connection is tried again): its own listener says it is fdtrack's.
    while (fd < 0 && rung_to_connect && Clock::now() < deadline && holds_control_socket(pid)) {
        ring_if_listening();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        refused.clear();
        fd = connect_to_target(pid, uids, std::min(deadline, Clock::now() + kAttempt), refused, command);
    }
    if (fd < 0) {
        if (pidfd >= 0) close(pidfd);
        if (!refused.empty()) std::cerr << command << ": " << refused << "\n";
        throw ControlError(why_unreachable(pid));
    }
    std::string answer;
    Answer how = Answer::timed_out;
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) > 0) {
        ring_if_listening();  // its peer is that very process (connect_to_target)
        how = read_answer(fd, deadline, answer);
    }
    close(fd);
    if (pidfd >= 0) close(pidfd);
    if (how == Answer::too_long) {
        throw ControlError(process + " sent more than " + format_size(kMaxReportBytes) + ", more than any report: gave up");
    }
    if (how == Answer::timed_out) {
        std::ostringstream seconds;
        seconds << timeout_s;
        throw ControlError(process + " did not answer within " + seconds.str() + " s");
    }
    if (answer.empty()) throw ControlError(process + " closed the connection without answering");
    return answer;
}

}  // namespace fdtrack::cli
