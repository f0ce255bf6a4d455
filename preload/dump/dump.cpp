// Report output: file naming, atomic writes, the output directory, and the
// one-line stderr notice.
#include "preload/dump/dump.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>
#include <vector>

#include "preload/track/config.h"
#include "preload/track/registry.h"
#include "preload/dump/report_files.h"
#include "preload/dump/snapshot.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/report_json.h"
#include "report/report_text.h"

namespace fdtrack {
namespace {

std::atomic<int> g_sequence{0};
std::atomic<bool> g_exit_written{false};
// Said once per program, by it or by any copy of it that writes its reports
// (copies.h): in memory shared with the copies once there are any.
std::atomic<bool> g_output_warned_here{false};
std::atomic<bool>* g_output_warned_shared = nullptr;  // null, not &here: no relocation at load (issue #10)

std::atomic<bool>& output_warned() { return g_output_warned_shared ? *g_output_warned_shared : g_output_warned_here; }

// The exit report of a CPython program is written as its interpreter begins
// to shut down; finish_exit_report() then tells which of its fds shutdown
// closed. Allocated once, only in such a program, never freed: the
// destructor that reads it runs after static destructors.
struct ExitBeforeShutdown {
    std::vector<std::pair<int, int64_t>> open;  // fd and its record's creation time, at the report
    Dumped written;
};
ExitBeforeShutdown* g_before_shutdown = nullptr;

// Writes both files of one report as `name`.{json,txt} in `place`; both or none.
bool write_report(ReportPlace place, const std::string& name, const std::string& json, const Report& report) {
    if (!write_report_file(place, name + ".json", json)) return false;
    if (write_report_file(place, name + ".txt", render_text(report))) return true;
    int error = errno;
    remove_report_file(place, name + ".json");
    errno = error;
    return false;
}

// `fdtrack.<pid>.<seq>.{json,txt}` in the output directory, or in the
// private default one when FDTRACK_OUTPUT cannot be written (read-only, full,
// missing, /proc for root): the report matters more than where.
bool write_to_output(Dumped& dumped, const std::string& name, const Report& report) {
    dumped.place = ReportPlace::output;
    bool written = write_report(dumped.place, name, dumped.json, report);
    if (!written && config().output_dir) {
        if (!output_warned().exchange(true)) {
            say(std::string("cannot write to FDTRACK_OUTPUT=") + config().output_dir + " (" + strerror(errno) +
                "); writing reports to " + default_output_dir() + " instead");
        }
        dumped.place = ReportPlace::default_output;
        written = write_report(dumped.place, name, dumped.json, report);
    }
    if (!written) {
        say("could not write " + report_path(dumped.place, name) + ".{json,txt}: " + strerror(errno));
        return false;
    }
    dumped.name = name + ".json";
    dumped.path = report_path(dumped.place, dumped.name);
    dumped.with_text = true;
    return true;
}

// Takes the snapshot and writes it: `fdtrack.<pid>.<seq>.{json,txt}` in the
// output directory with the stderr notice, or, for the exit report under
// `fdtrack run`, the JSON file it asked for. `pid` and `limit` are the
// program's (this may be a forked copy).
Dumped write_dump(const char* trigger, int pid, int sequence, rlim_t limit,
                  const std::function<void(const std::vector<int>&)>& described = {}) {
    Report report = take_snapshot(trigger, described);
    report.pid = pid;
    report.rlimit_nofile = limit;
    bool exit = !strcmp(trigger, "exit");
    // Until shutdown proves otherwise (finish_exit_report), every fd open as
    // the interpreter begins to shut down stays open.
    if (exit && g_before_shutdown) {
        for (FdEntry& fd : report.fds) fd.at_exit = kNeverClosed;
    }
    Dumped dumped;
    dumped.json = report_to_json(report);
    if (exit && config().exit_report) {
        std::string name = exit_report_name(pid);
        if (write_report_file(ReportPlace::exit_reports, name, dumped.json)) {
            dumped.place = ReportPlace::exit_reports;
            dumped.name = name;
            dumped.path = report_path(dumped.place, name);
            return dumped;
        }
        // A daemon that outlived `fdtrack run` (pg_ctl start): its directory
        // is gone, and nobody waits for this report there.
        std::string why = errno == ENOENT ? "fdtrack run has ended" : strerror(errno);
        say("could not leave the exit report for fdtrack run (" + why + "): it goes to the output directory");
    }
    std::string name = "fdtrack." + std::to_string(pid) + "." + std::to_string(sequence);
    if (!write_to_output(dumped, name, report)) return dumped;
    std::string summary = top_site_summary(report);
    if (summary.rfind("fdtrack: ", 0) == 0) summary.erase(0, 9);
    say(std::string(trigger) + " report " + dumped.path + " (and .txt): " + summary);
    return dumped;
}

// In a copy: each fd once described is closed, the copy's, not the program's,
// stdin and stdout too (a `$(program)` waits for every holder of its pipe);
// stderr stays for the report's notice.
void close_in_this_copy(const std::vector<int>& described) {
    for (int fd : described) {
        if (fd == STDERR_FILENO) continue;
        close_directly(fd);
        registry().vacate(fd);
    }
}

// Close to the fd limit a dump needs fds the program does not have to spare
// (/proc, ELF files for symbols, the report files), exactly when it matters
// (EMFILE, the exit of a leaking program). Lifting the program's limit would
// let its other threads past it; taking fds from under it races them.
// Instead a forked copy of the process writes the dump: it has the same fds,
// memory and records, raises its own soft limit (RLIMIT_NOFILE is per
// process), and once the fds are described closes its copies of them, which
// no thread of the program can take back there.
// What the copy wrote, handed back through a shared page (it has no fd to
// spare for a pipe).
struct CopyResult {
    bool with_text;
    ReportPlace place;
    char path[4000];
    char name[256];
};

Dumped write_dump_from_a_copy(const char* trigger, int sequence, rlim_t limit) {
    int pid = static_cast<int>(getpid());
    void* page = mmap(nullptr, sizeof(CopyResult), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return write_dump(trigger, pid, sequence, limit);
    auto* result = new (page) CopyResult{};
    // Per thread, so that a fork another thread of the program makes at this
    // moment is not taken for the copy (fork_child_started).
    tls.forking_copy = true;
    pid_t copy = fork();
    tls.forking_copy = false;
    if (copy < 0) {
        munmap(page, sizeof(CopyResult));
        return write_dump(trigger, pid, sequence, limit);
    }
    if (copy == 0) {
        make_room_in_this_copy(-1);
        Dumped dumped;
        try {
            dumped = write_dump(trigger, pid, sequence, limit, close_in_this_copy);
        } catch (...) {
            _exit(1);  // the parent says no report was written
        }
        if (dumped.path.size() < sizeof result->path && dumped.name.size() < sizeof result->name) {
            memcpy(result->path, dumped.path.c_str(), dumped.path.size() + 1);
            memcpy(result->name, dumped.name.c_str(), dumped.name.size() + 1);
            result->with_text = dumped.with_text;
            result->place = dumped.place;
        }
        _exit(0);
    }
    if (!wait_for_copy(copy)) say(std::string("the ") + trigger + " dump did not finish within 10 s and was abandoned");
    Dumped dumped;
    dumped.path = result->path;  // empty if the copy wrote nothing (or was killed)
    dumped.name = result->name;
    dumped.with_text = result->with_text;
    dumped.place = result->place;
    munmap(page, sizeof(CopyResult));
    return dumped;
}

bool near_fd_limit(rlim_t limit) {
    constexpr rlim_t kSpare = 32;  // what a dump may need, with room to spare
    return static_cast<rlim_t>(registry().live_count()) + kSpare >= limit;
}

// Also written by a copy: the dumps the fd count asked for. A leak does not
// wait for its threshold dump: written in the process, that dump took the
// last fds from under the program, which failed 3 fds earlier than
// untracked, and then could not write itself (issue #10, item 6). At EMFILE
// the table is full even of fds no hook saw.
bool asked_for_by_the_count(const char* trigger) {
    return !strcmp(trigger, "threshold") || !strcmp(trigger, "emfile");
}

}  // namespace

int take_dump_sequence() { return g_sequence.fetch_add(1) + 1; }

void write_dump_in_this_copy(const char* trigger, int pid, int sequence, rlim_t limit) {
    Reentry own;
    try {
        write_dump(trigger, pid, sequence, limit, close_in_this_copy);
    } catch (const std::exception& e) {
        say(std::string("could not take the ") + trigger + " report: " + e.what());
    } catch (...) {
        say(std::string("could not take the ") + trigger + " report");
    }
}

Dumped dump_now(const char* trigger) {
    Reentry own;
    int saved = errno;
    Dumped dumped;
    // Called from the dump thread, a destructor and Python's atexit: no
    // exception (out of memory, most likely) may leave it.
    try {
        rlimit limit{};
        getrlimit(RLIMIT_NOFILE, &limit);
        int sequence = take_dump_sequence();
        // Whatever asked: a dump signal at the limit too.
        bool at_limit = near_fd_limit(limit.rlim_cur) || asked_for_by_the_count(trigger);
        dumped = at_limit ? write_dump_from_a_copy(trigger, sequence, limit.rlim_cur)
                          : write_dump(trigger, static_cast<int>(getpid()), sequence, limit.rlim_cur);
    } catch (const std::exception& e) {
        say(std::string("could not take the ") + trigger + " report: " + e.what());
    } catch (...) {
        say(std::string("could not take the ") + trigger + " report");
    }
    errno = saved;
    return dumped;
}

namespace {

// What `take` reports, as JSON for a client of the control socket; empty
// (the client says the process did not answer) if it could not be taken.
std::string answer(Report (*take)()) {
    Reentry own;
    int saved = errno;
    std::string json;
    try {
        json = report_to_json(take());
    } catch (...) {
        json.clear();
    }
    errno = saved;
    return json;
}

}  // namespace

std::string snapshot_json() {
    return answer([] { return take_snapshot("signal"); });
}

std::string counts_json() { return answer(take_counts); }

void write_exit_report() {
    if (g_exit_written.exchange(true)) return;
    dump_now("exit");
}

void write_exit_report_before_shutdown() {
    if (g_exit_written.load()) return;
    Reentry own;
    try {
        auto* pending = new ExitBeforeShutdown;
        Registry& r = registry();
        for (int fd = 0, max = r.max_fd(); fd <= max; ++fd) {
            FdInfo info = r.get(fd);
            if (is_open_origin(info.origin) && info.origin != Origin::own)
                pending->open.emplace_back(fd, info.created_ns);
        }
        g_before_shutdown = pending;
    } catch (...) {
        // Out of memory: the report is still written, with no exit states.
    }
    ExitBeforeShutdown* pending = g_before_shutdown;
    if (g_exit_written.exchange(true)) return;
    Dumped written = dump_now("exit");
    if (pending) pending->written = std::move(written);
}

void finish_exit_report() {
    ExitBeforeShutdown* pending = g_before_shutdown;
    if (!pending || pending->written.path.empty()) return;
    g_before_shutdown = nullptr;
    Reentry own;
    int saved = errno;
    const Dumped& written = pending->written;
    try {  // from a destructor: nothing may leave
        std::vector<int> closed;
        for (auto [fd, created_ns] : pending->open) {
            FdInfo now = registry().get(fd);
            if (!is_open_origin(now.origin) || now.created_ns != created_ns) closed.push_back(fd);
        }
        if (closed.empty()) {  // the report already says never_closed for each
            errno = saved;
            return;
        }
        std::optional<std::string> json = read_report_file(written.place, written.name);
        if (!json) {
            say("could not mark what interpreter shutdown closed in " + written.path + ": " + strerror(errno));
            errno = saved;
            return;
        }
        Report report = report_from_json(*json);
        for (FdEntry& fd : report.fds) {
            if (std::binary_search(closed.begin(), closed.end(), fd.fd)) fd.at_exit = kHeldUntilExit;
        }
        std::string text_name = written.name.substr(0, written.name.size() - 5) + ".txt";
        bool ok = write_report_file(written.place, written.name, report_to_json(report)) &&
                  (!written.with_text || write_report_file(written.place, text_name, render_text(report)));
        if (!ok) say("could not mark what interpreter shutdown closed in " + written.path + ": " + strerror(errno));
    } catch (const std::exception& e) {
        say(std::string("could not mark what interpreter shutdown closed in the exit report: ") + e.what());
    } catch (...) {
    }
    errno = saved;
}

void share_dump_state_with_copies() {
    void* page = mmap(nullptr, sizeof(std::atomic<bool>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return;  // each copy may say it again
    std::atomic<bool>* before = g_output_warned_shared;
    g_output_warned_shared = new (page) std::atomic<bool>(output_warned().load());
    // A fork child drops its view of its parent's.
    if (before) munmap(before, sizeof(std::atomic<bool>));
}

void say(const std::string& line) {
    std::string text = "fdtrack: " + line + "\n";
    ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
}

void make_room_in_this_copy(int keep) {
    rlimit lifted{};
    if (getrlimit(RLIMIT_NOFILE, &lifted) == 0 && lifted.rlim_cur < lifted.rlim_max) {
        lifted.rlim_cur = lifted.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lifted);
    }
    for (int fd = 0; fd <= registry().max_fd(); ++fd) {
        // The report directories stay: the copy may have no other way to them
        // (a chroot, a change of user).
        if (fd != keep && registry().origin(fd) == Origin::own && !is_report_place_fd(fd)) syscall(SYS_close, fd);
    }
}

bool wait_for_copy(pid_t copy) {
    constexpr int kPatience_ms = 10000;
    for (int waited = 0;; waited += 10) {
        int status;
        pid_t done = waitpid(copy, &status, WNOHANG);
        if (done == copy || (done < 0 && errno != EINTR)) return true;  // ECHILD: the program reaped it
        if (waited >= kPatience_ms) {
            kill(copy, SIGKILL);
            waitpid(copy, &status, 0);
            return false;
        }
        usleep(10000);
    }
}

void reset_dump_state_after_fork() {
    g_exit_written.store(false);
    g_before_shutdown = nullptr;  // the parent's report, not this child's
    g_sequence.store(0);
}

}  // namespace fdtrack
