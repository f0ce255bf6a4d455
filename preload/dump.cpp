// Report output: file naming, atomic writes, the output directory, and the
// one-line stderr notice.
#include "preload/dump.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <optional>

#include "preload/config.h"
#include "preload/fd_reserve.h"
#include "preload/registry.h"
#include "preload/snapshot.h"
#include "preload/thread_state.h"
#include "report/report_json.h"
#include "report/report_text.h"

namespace fdtrack {
namespace {

std::atomic<int> g_sequence{0};
std::atomic<bool> g_exit_written{false};
std::atomic<bool> g_output_warned{false};
std::atomic<int> g_headroom_users{0};
std::atomic<rlim_t> g_headroom_original{0};  // 0: not lifted
std::atomic<rlim_t> g_headroom_lifted{0};

// A dump needs fds of its own (the report files, ELF files for symbols,
// /proc): a process at its limit would get no report, or one without
// symbols, exactly when it matters (EMFILE, the exit of a leaking program).
// For those dumps the soft limit is lifted a little while they run, and only
// then: a lift lets the program's other threads past their limit meanwhile,
// so it is small. The first of overlapping lifts lifts, the last restores,
// unless the program set a limit of its own meanwhile. Where the soft limit
// already equals the hard one, the dump uses the fds reserved at start
// (fd_reserve.h) instead.
class Headroom {
public:
    explicit Headroom(bool wanted) : counted_(wanted) {
        if (!wanted || g_headroom_users.fetch_add(1) != 0) return;
        constexpr rlim_t kSpare = 32, kLift = 16;
        rlimit limit{};
        if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
        if (static_cast<rlim_t>(registry().live_count()) + kSpare < limit.rlim_cur) return;
        if (limit.rlim_cur >= limit.rlim_max) {
            spare_.emplace();
            return;
        }
        rlim_t original = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max - original > kLift ? original + kLift : limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return;
        g_headroom_lifted.store(limit.rlim_cur);
        g_headroom_original.store(original);
    }
    ~Headroom() {
        if (!counted_ || g_headroom_users.fetch_sub(1) != 1) return;
        rlim_t original = g_headroom_original.exchange(0);
        rlimit limit{};
        if (!original || getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur != g_headroom_lifted.load()) return;
        limit.rlim_cur = original;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    Headroom(const Headroom&) = delete;
    Headroom& operator=(const Headroom&) = delete;

    // The report shows the program's own limit, not the lifted one.
    static void restore_limit_in(Report& report) {
        if (rlim_t original = g_headroom_original.load()) report.rlimit_nofile = original;
    }

private:
    bool counted_;
    std::optional<ReserveReleased> spare_;
};

void say(const std::string& line) {
    std::string text = "fdtrack: " + line + "\n";
    ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
}

// Writes `content` to `path` through a temporary name, so a reader (fdtrack
// dump) never sees half a report.
bool write_atomically(const std::string& path, const std::string& content) {
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    bool ok = done == content.size();
    ok = (close(fd) == 0) && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
    unlink(tmp.c_str());
    return false;
}

// access() alone passes a regular file, and passes /proc for root.
bool writable_dir(const char* dir) {
    struct stat st;
    return dir && *dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

std::string temp_dir() {
    const char* tmp = getenv("TMPDIR");
    return writable_dir(tmp) ? tmp : "/tmp";
}

// FDTRACK_OUTPUT, else the current directory if writable, else the temp dir.
std::string output_dir() {
    if (const char* chosen = config().output_dir) return chosen;
    if (writable_dir(".")) {
        char cwd[4096];
        return getcwd(cwd, sizeof cwd) ? cwd : ".";
    }
    return temp_dir();
}

// Writes both files of one report as `dir`/`name`.{json,txt}; both or none.
bool write_report(const std::string& dir, const std::string& name, const std::string& json, const Report& report) {
    std::string base = dir + "/" + name;
    if (!write_atomically(base + ".json", json)) return false;
    if (write_atomically(base + ".txt", render_text(report))) return true;
    int error = errno;
    unlink((base + ".json").c_str());
    errno = error;
    return false;
}

}  // namespace

Dumped dump_now(const char* trigger) {
    Reentry own;
    Headroom room(!strcmp(trigger, "emfile") || !strcmp(trigger, "exit"));
    Report report = take_snapshot(trigger);
    Headroom::restore_limit_in(report);
    Dumped dumped{{}, report_to_json(report)};
    std::string name = "fdtrack." + std::to_string(report.pid) + "." + std::to_string(g_sequence.fetch_add(1) + 1);
    std::string dir = output_dir();
    bool written = write_report(dir, name, dumped.json, report);
    if (!written && dir != temp_dir()) {
        // Some unwritable directories pass writable_dir (read-only or full
        // file systems, /proc for root): the report matters more than where.
        if (config().output_dir && !g_output_warned.exchange(true)) {
            say(std::string("cannot write to FDTRACK_OUTPUT=") + dir + " (" + strerror(errno) +
                "); writing reports to the temp dir instead");
        }
        dir = temp_dir();
        written = write_report(dir, name, dumped.json, report);
    }
    if (!written) {
        say("could not write " + dir + "/" + name + ".{json,txt}: " + strerror(errno));
        return dumped;
    }
    std::string base = dir + "/" + name;
    dumped.path = base + ".json";
    std::string summary = top_site_summary(report);
    if (summary.rfind("fdtrack: ", 0) == 0) summary.erase(0, 9);
    say(std::string(trigger) + " report " + dumped.path + " (and .txt): " + summary);
    return dumped;
}

void write_exit_report() {
    if (g_exit_written.exchange(true)) return;
    Reentry own;
    int saved = errno;
    if (const char* prefix = config().exit_report) {
        Headroom room(true);
        Report report = take_snapshot("exit");
        Headroom::restore_limit_in(report);
        std::string path = std::string(prefix) + "." + std::to_string(report.pid) + ".json";
        if (!write_atomically(path, report_to_json(report))) say("could not write the exit report " + path);
    } else {
        dump_now("exit");
    }
    errno = saved;
}

void reset_dump_state_after_fork() {
    g_headroom_users.store(0);
    g_exit_written.store(false);
    g_sequence.store(0);
}

}  // namespace fdtrack
