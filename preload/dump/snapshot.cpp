// Turns the registry and the stack table into a Report.
#include "preload/dump/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "preload/track/config.h"
#include "preload/track/bad_closes.h"
#include "preload/hooks/exec_handover.h"
#include "preload/dump/fd_describe.h"
#include "preload/track/fork_safe_mutex.h"
#include "preload/track/history.h"
#include "preload/track/registry.h"
#include "preload/track/stack_table.h"
#include "preload/dump/symbolizer.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/growth.h"
#include "report/suppressions.h"
#include "report/user_code.h"

namespace fdtrack {
namespace {

// The frames of each stack, symbolised once for every later report: a stack
// never changes once interned, and keeps the names of the code it was
// captured in even after its module is unloaded. Never freed: exit reports
// come after static destructors.
constinit ForkSafeMutex g_symbolized_lock;
constinit std::unordered_map<uint32_t, Site>* g_symbolized = nullptr;

// The size of the kernel's fd table (FDSize in /proc/self/status): no fd is
// at or above it. 0 when it cannot be read.
long fd_table_size() {
    // thread-self: the main thread's may be gone (its leader exited), and
    // with it /proc/self/status's fd table line.
    int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[8192];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    const char* line = strstr(text, "\nFDSize:");
    return line ? atol(line + strlen("\nFDSize:")) : 0;
}

// One poll() over every number below `end`: POLLNVAL says it is not open.
// At 19,000 fds it costs a twentieth of listing /proc/self/fd, where the
// kernel builds a dentry for each. False when poll refused.
bool poll_open_fds(int end, std::vector<int>& fds) {
    std::vector<pollfd> all(static_cast<size_t>(end));
    for (int fd = 0; fd < end; ++fd) all[fd] = {fd, 0, 0};
    int ready;
    do {
        ready = poll(all.data(), all.size(), 0);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return false;
    for (const pollfd& p : all) {
        if (!(p.revents & POLLNVAL)) fds.push_back(p.fd);
    }
    return true;
}

// The fds open now, from the kernel's point of view.
std::vector<int> open_fds() {
    constexpr rlim_t kPolledAtMost = 1 << 16;  // beyond, the poll array costs more than listing
    std::vector<int> fds;
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    // Only numbers below the soft limit can be polled. One above it was
    // opened before the limit was lowered; the fd table, grown in powers of
    // two, is often larger than the limit with none there: the numbers
    // between are asked one by one.
    long table = fd_table_size();
    if (limit.rlim_cur <= kPolledAtMost && table > 0 && static_cast<rlim_t>(table) <= limit.rlim_cur + kPolledAtMost &&
        poll_open_fds(static_cast<int>(limit.rlim_cur), fds)) {
        for (long fd = static_cast<long>(limit.rlim_cur); fd < table; ++fd) {
            if (syscall(SYS_fcntl, fd, F_GETFD) >= 0) fds.push_back(static_cast<int>(fd));
        }
        return fds;
    }
    fds.clear();
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) {
        // No /proc (a chroot without it): every number below the limit is
        // asked, a few milliseconds at 20,000, rather than trusting the records.
        int top = static_cast<int>(std::min<rlim_t>(std::max<rlim_t>(limit.rlim_cur, registry().max_fd() + 1), 1 << 20));
        for (int fd = 0; fd < top; ++fd) {
            if (syscall(SYS_fcntl, fd, F_GETFD) >= 0) fds.push_back(fd);
        }
        return fds;
    }
    int own = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        int fd = atoi(entry->d_name);
        if (fd != own) fds.push_back(fd);
    }
    closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
}


std::vector<std::string> read_argv() {
    std::vector<std::string> argv;
    std::string cmdline = read_file("/proc/self/cmdline");
    for (size_t start = 0; start < cmdline.size();) {
        size_t end = cmdline.find('\0', start);
        if (end == std::string::npos) end = cmdline.size();
        argv.push_back(cmdline.substr(start, end - start));
        start = end + 1;
    }
    return argv;
}

// nginx, redis and postgres write their process title over argv in main:
// the command line is read before main, right after the library's
// constructor, and kept (never freed: exit reports come after static
// destructors).
const std::vector<std::string>* g_argv_at_start = nullptr;

std::vector<std::string> own_argv() { return g_argv_at_start ? *g_argv_at_start : read_argv(); }

std::string own_program() {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    return n > 0 ? std::string(path, n) : std::string();
}

std::string utc_now() {
    time_t now = wall_clock_seconds();
    tm utc;
    gmtime_r(&now, &utc);
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

const char* origin_name(Origin origin) {
    switch (origin) {
        case Origin::tracked: return "tracked";
        case Origin::inherited: return "inherited";
        case Origin::before_attach: return "before_attach";
        default: return "unknown";
    }
}

// ---- FDTRACK_SUPPRESSIONS (issue 5) ----------------------------------------
// Read at the first snapshot, not at start-up: parsing allocates, and the
// program may never dump. A bad file is said once and then applies no rule,
// since half a file would hide leaks nobody chose to hide. Never freed: the
// exit report may be written after static destructors have run.
// A file that cannot be read (a directory, FIFO or /dev/zero: issue 9) is one
// line and no rule; no exception may leave here, it would abort the program.
const std::vector<SuppressionRule>& configured_suppressions() {
    static const std::vector<SuppressionRule>* rules = [] {
        auto* parsed = new std::vector<SuppressionRule>();
        const char* path = config().suppressions;
        if (!path) return parsed;
        auto say = [](const std::string& text) {
            ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
            (void)ignored;
        };
        std::string text;
        try {
            text = read_suppressions_file(path);
        } catch (const std::exception& e) {
            say(fmt::format("fdtrack: FDTRACK_SUPPRESSIONS: {}; no suppressions apply\n", e.what()));
            return parsed;
        }
        try {
            *parsed = parse_suppressions(text, path);
        } catch (const SuppressionError& e) {
            std::string lines;
            for (const std::string& line : e.errors()) lines += "fdtrack: " + line + "\n";
            say(lines + "fdtrack: FDTRACK_SUPPRESSIONS: the file has errors, so no suppressions apply\n");
        } catch (const std::exception& e) {
            say(fmt::format("fdtrack: FDTRACK_SUPPRESSIONS: {}; no suppressions apply\n", e.what()));
        }
        return parsed;
    }();
    return *rules;
}
// ---- end FDTRACK_SUPPRESSIONS ----------------------------------------------

// One Python line is one site for its user, even when CPython 3.11 reaches
// it through different C paths (its specialising interpreter changes them
// once code is warm): sites with the same call and Python stack are merged
// into the one with the lowest id. Returns which site each merged one went to.
std::map<int, int> merge_python_sites(Report& report) {
    std::map<std::string, size_t> first_with;  // call + Python stack -> index in `merged`
    std::map<int, int> merged_into;
    std::vector<Site> merged;
    for (Site& site : report.sites) {
        if (site.python.empty()) {
            merged.push_back(std::move(site));
            continue;
        }
        std::string key = site.call;
        for (const PythonFrame& f : site.python) key += "\n" + f.file + ":" + std::to_string(f.line) + " " + f.function;
        auto [it, fresh] = first_with.emplace(key, merged.size());
        if (fresh) {
            merged.push_back(std::move(site));
            continue;
        }
        Site& into = merged[it->second];
        into.count += site.count;
        into.oldest_age_s = std::max(into.oldest_age_s, site.oldest_age_s);
        into.newest_age_s = std::min(into.newest_age_s, site.newest_age_s);
        merged_into[site.id] = into.id;
    }
    report.sites = std::move(merged);
    for (FdEntry& fd : report.fds) {
        if (fd.site && merged_into.count(*fd.site)) fd.site = merged_into[*fd.site];
    }
    return merged_into;
}

// Each site's history, merged from its stacks' (history.h).
void add_history(Report& report, const std::map<int, int>& merged_into) {
    if (config().interval_s <= 0) return;
    // A sample due since the program's last change: without a dump thread
    // (copies.h) none is taken while no hook runs, and its points carry the
    // time of that change, not now's.
    sample_history_if_due();
    std::map<int, std::vector<uint32_t>> stacks;
    for (const Site& site : report.sites) stacks[site.id].push_back(static_cast<uint32_t>(site.id));
    for (auto [from, into] : merged_into) stacks[into].push_back(static_cast<uint32_t>(from));
    auto samples = [](const std::vector<HistoryPoint>& points) {
        std::vector<CountSample> out;
        out.reserve(points.size());
        for (const HistoryPoint& p : points) out.push_back({p.time_s, p.count});
        return out;
    };
    for (Site& site : report.sites) site.history = samples(history_of(stacks[site.id]));
    report.history_interval_s = config().interval_s;
    report.open_history = samples(open_fds_history());
}

void add_bad_closes(Report& report, Symbolizer& symbolizer) {
    std::set<int> known;
    for (const Site& site : report.sites) known.insert(site.id);
    auto site_of = [&](uint32_t id) -> std::optional<int> {
        if (id == 0) return std::nullopt;
        if (known.insert(static_cast<int>(id)).second) {
            Site site = symbolize_site(id, symbolizer);  // no fd open from it: count 0
            site.id = static_cast<int>(id);
            report.sites.push_back(std::move(site));
        }
        return static_cast<int>(id);
    };
    for (const BadCloseRecord& bad : bad_closes()) {
        BadClose entry;
        entry.fd = bad.fd;
        entry.error = bad.error;
        entry.site = site_of(bad.site);
        entry.opened_site = site_of(bad.opened_site);
        entry.previous_close_site = site_of(bad.previous_close_site);
        report.bad_closes.push_back(std::move(entry));
    }
}

}  // namespace

namespace {

// The cached frames of a stack symbolize_stacks() has seen.
Site symbolized_site(uint32_t stack_id) {
    std::lock_guard lock(g_symbolized_lock);
    if (g_symbolized) {
        if (auto found = g_symbolized->find(stack_id); found != g_symbolized->end()) return found->second;
    }
    Site site;  // out of memory
    site.id = static_cast<int>(stack_id);
    return site;
}

}  // namespace

Site symbolize_site(uint32_t stack_id, Symbolizer& symbolizer) {
    symbolize_stacks({stack_id}, symbolizer);
    return symbolized_site(stack_id);
}

void symbolize_stacks(const std::vector<uint32_t>& stack_ids, Symbolizer& symbolizer) {
    std::lock_guard lock(g_symbolized_lock);
    if (!g_symbolized) g_symbolized = new std::unordered_map<uint32_t, Site>;
    std::unordered_map<uint32_t, const StackNode*> missing;
    for (uint32_t id : stack_ids) {
        if (g_symbolized->count(id)) continue;
        if (const Site* handed_over = foreign_site(id)) {
            g_symbolized->emplace(id, *handed_over);
            continue;
        }
        missing.emplace(id, nullptr);
    }
    if (missing.empty()) return;
    stack_table().for_each([&](const StackNode& stack) {
        if (auto found = missing.find(stack.id); found != missing.end()) found->second = &stack;
    });
    for (auto [id, stack] : missing) {
        Site site;
        site.id = static_cast<int>(id);
        for (int i = 0; stack && i < stack->n_native; ++i) {
            const std::vector<NativeFrame>& frames = symbolizer.symbolize(stack->native[i]);
            site.frames.insert(site.frames.end(), frames.begin(), frames.end());
        }
        for (int i = 0; stack && i < stack->n_python; ++i) {
            const PyFrameText& f = stack->python[i];
            site.python.push_back({f.function, f.file, f.line});
        }
        g_symbolized->emplace(id, std::move(site));
    }
}

void symbolized_sites_after_fork() {
    if (g_symbolized_lock.reset_after_fork()) g_symbolized = nullptr;  // caught mid-insert: symbolised again
}

void remember_command_line() {
    Reentry own;
    try {
        if (!g_argv_at_start) g_argv_at_start = new std::vector<std::string>(read_argv());
    } catch (...) {
        // Read again at the first report.
    }
}

namespace {

// Set in a copy of the process: the program's pid and fd limit (0: this process's).
int g_program_pid = 0;
rlim_t g_program_limit = 0;

// What every report says of the process, before its fds.
Report report_of_this_process(const char* trigger) {
    Report report;
    report.pid = g_program_pid ? g_program_pid : static_cast<int>(getpid());
    report.program = own_program();
    report.argv = own_argv();
    report.trigger = trigger;
    report.time = utc_now();
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    report.rlimit_nofile = g_program_pid ? g_program_limit : limit.rlim_cur;
    if (config().user_paths) report.user_paths = split_user_paths(config().user_paths);
    return report;
}

// One more fd of `site`, opened by `call`, `age` seconds ago.
void count_in(Site& site, const char* call, double age) {
    if (site.count++ == 0) {
        site.call = call ? call : "";
        site.oldest_age_s = site.newest_age_s = age;
    }
    site.oldest_age_s = std::max(site.oldest_age_s, age);
    site.newest_age_s = std::min(site.newest_age_s, age);
}

// The sites counted (by stack id) symbolised into `report`, with their history.
void add_sites(Report& report, const std::map<uint32_t, Site>& counted, Symbolizer& symbolizer) {
    std::vector<uint32_t> stack_ids;
    for (const auto& [id, site] : counted) stack_ids.push_back(id);
    symbolize_stacks(stack_ids, symbolizer);
    for (const auto& [id, count] : counted) {
        Site site = symbolized_site(id);
        site.id = static_cast<int>(id);
        site.count = count.count;
        site.call = count.call;
        site.oldest_age_s = count.oldest_age_s;
        site.newest_age_s = count.newest_age_s;
        report.sites.push_back(std::move(site));
    }
    add_history(report, merge_python_sites(report));
}

void largest_sites_first(Report& report) {
    std::stable_sort(report.sites.begin(), report.sites.end(),
                     [](const Site& a, const Site& b) { return a.count > b.count; });
}

}  // namespace

Report take_snapshot(const char* trigger, const std::function<void(const std::vector<int>&)>& described) {
    Reentry own;  // what we open here is fdtrack's, not the program's
    Report report = report_of_this_process(trigger);

    int64_t now = monotonic_ns();
    FdDescriber describer;
    std::map<uint32_t, Site> sites;  // by stack id
    std::vector<int> listed = open_fds();
    for (int fd : listed) {
        FdInfo info = registry().get(fd);
        if (info.origin == Origin::own) continue;
        FdDescription what = describer.describe(fd);
        FdEntry entry;
        entry.fd = fd;
        entry.origin = origin_name(info.origin);
        entry.kind = what.kind;
        entry.target = what.target;
        entry.state = what.state;
        entry.cloexec = what.cloexec;
        entry.nonblock = what.nonblock;
        if (info.origin == Origin::tracked) {
            entry.call = info.call ? info.call : "";
            // Another thread may have opened it after `now` was read.
            entry.age_s = info.created_ns < now ? double(now - info.created_ns) / 1e9 : 0.0;
            entry.tid = info.tid;
            entry.thread = info.thread;
            entry.site = static_cast<int>(info.stack);
            count_in(sites[info.stack], info.call, entry.age_s);
        }
        report.fds.push_back(std::move(entry));
    }
    report.open_count = static_cast<int>(report.fds.size());
    if (is_loaded_late()) {
        report.open_before_attach = static_cast<int>(std::count_if(
            report.fds.begin(), report.fds.end(), [](const FdEntry& fd) { return fd.origin == "before_attach"; }));
    }
    if (described) described(listed);

    Symbolizer symbolizer;
    add_sites(report, sites, symbolizer);
    add_bad_closes(report, symbolizer);
    largest_sites_first(report);
    apply_suppressions(configured_suppressions(), report);
    return report;
}

// Plain reads, not std::ifstream: iostreams would link libstdc++'s locale
// machinery into the library, whose constructors run in every process.
std::string read_file(const char* path) {
    std::string text;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return text;
    char buffer[4096];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    return text;
}

void report_for_program(int pid, rlim_t limit) {
    g_program_pid = pid;
    g_program_limit = limit;
}

Report take_counts() {
    Reentry own;
    Report report = report_of_this_process("counts");
    report.schema = kCountsSchema;

    // The registry alone: no /proc, no fd described, so that `fdtrack top`
    // may ask every 2 s of a process with 20,000 fds.
    int64_t now = monotonic_ns();
    std::map<uint32_t, Site> sites;
    int before_attach = 0;
    for (int fd = 0, max = registry().max_fd(); fd <= max; ++fd) {
        FdInfo info = registry().get(fd);
        before_attach += info.origin == Origin::before_attach;
        if (info.origin != Origin::tracked) continue;
        count_in(sites[info.stack], info.call, info.created_ns < now ? double(now - info.created_ns) / 1e9 : 0.0);
    }
    report.open_count = registry().live_count();
    if (is_loaded_late()) report.open_before_attach = before_attach;

    Symbolizer symbolizer;
    add_sites(report, sites, symbolizer);
    // What watches live asks every few seconds and needs the last minutes:
    // the last hour, not every day a series holds (a full report has them).
    constexpr int64_t kHour_s = 3600;
    for (Site& site : report.sites) keep_last(site.history, kHour_s);
    keep_last(report.open_history, kHour_s);
    largest_sites_first(report);
    return report;
}

}  // namespace fdtrack
