// The report model (schema fdtrack/1, see docs/spec.md): what the preload library
// writes and what the CLI reads, renders and diffs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fdtrack {

inline constexpr const char* kSchema = "fdtrack/1";
// The answer to a counts request: a report without fds (docs/spec.md).
inline constexpr const char* kCountsSchema = "fdtrack-counts/1";

// The values of FdEntry::at_exit.
inline constexpr std::string_view kNeverClosed = "never_closed";
inline constexpr std::string_view kHeldUntilExit = "held_until_exit";

struct NativeFrame {
    std::string function;  // demangled; empty when unknown
    std::string file;      // empty when the module has no debug info
    int line = 0;          // 0 when unknown
    std::string module;
    uint64_t address = 0;
};

struct PythonFrame {
    std::string function;
    std::string file;
    int line = 0;
};

// An open count at a time (Unix seconds): one point of a history, which
// holds a count until the next point.
struct CountSample {
    int64_t time = 0;
    int count = 0;
    bool operator==(const CountSample&) const = default;
};

struct Site {
    int id = 0;
    int count = 0;           // fds of this site open in this report
    std::string call;
    double oldest_age_s = 0;  // age of the oldest and newest fd of this site
    double newest_age_s = 0;
    std::vector<NativeFrame> frames;  // innermost first
    std::vector<PythonFrame> python;  // innermost first
    std::vector<CountSample> history;  // oldest first, ending at the report's time; empty: none kept
};

struct FdEntry {
    int fd = -1;
    std::string origin;  // "tracked" | "inherited" | "before_attach" | "unknown"
    std::string call;    // empty unless tracked
    std::string kind;    // file dir pipe fifo socket epoll eventfd timerfd signalfd inotify memfd pidfd chr other
    std::string target;
    std::string state;   // TCP sockets only
    bool cloexec = false;
    bool nonblock = false;
    double age_s = 0;
    int tid = 0;
    std::string thread;
    std::optional<int> site;  // set when origin == "tracked"
    bool suppressed = false;
    // Exit reports of CPython programs only, taken as the interpreter begins to
    // shut down: "held_until_exit" when shutdown then closed it (an object still
    // referenced at exit), "never_closed" when it stayed open; empty: unknown.
    std::string at_exit;
};

struct BadClose {
    int fd = -1;
    std::string error;  // "double_close" | "never_opened" | "owned_by_stream"
    std::optional<int> site;
    std::optional<int> previous_close_site;
    std::optional<int> opened_site;
};

struct Report {
    std::string schema = kSchema;
    int pid = 0;
    std::string program;
    std::vector<std::string> argv;
    std::string trigger;  // "exit" | "signal" | "emfile" | "threshold" | "api"
    std::string time;     // ISO 8601 UTC
    uint64_t rlimit_nofile = 0;
    int open_count = 0;
    // Attached (`fdtrack attach`): how many of the open fds were open before
    // the attach (origin "before_attach"), counted apart; unset under the preload.
    std::optional<int> open_before_attach;
    // The directories whose code is the user's (--user-paths); empty: guessed.
    std::vector<std::string> user_paths;
    std::vector<FdEntry> fds;
    std::vector<Site> sites;
    std::vector<BadClose> bad_closes;
    int history_interval_s = 0;              // 0: the process kept no history
    std::vector<CountSample> open_history;   // all open fds (not fdtrack's), oldest first
};

// A leak, in an exit report: a tracked fd that no suppression matched.
inline bool is_leak(const FdEntry& fd) {
    return fd.origin == "tracked" && !fd.suppressed && fd.fd > 2;
}

}  // namespace fdtrack
