// `fdtrack run [OPTIONS] -- PROG ARGS...`: run a program with libfdtrack.so
// preloaded, then print its exit report (and its followed children's) and
// exit with its status, or with --error-exitcode's when something leaked.
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "report/dump_signals.h"
#include "report/printable.h"
#include "report/report_json.h"
#include "report/report_text.h"
#include "report/suppressions.h"
#include "tools/child_process.h"
#include "tools/commands.h"
#include "tools/library_settings.h"
#include "tools/preload_path.h"
#include "tools/user_paths_option.h"

extern char** environ;

namespace fdtrack::cli {

namespace fs = std::filesystem;

namespace {

// Values are kept as the normalised strings handed to the library; empty
// means "not given", so the environment (or the library's default) applies.
struct RunOptions {
    std::string json_path;
    std::optional<int> error_exitcode;
    std::string errors_for_leak_kinds = "all";
    LibrarySettings settings;
    bool follow_children = false;
    bool gen_suppressions = false;
    std::vector<std::string> command;
};

// ---- option values -------------------------------------------------------

// Checked before the program runs, so that a typo does not cost a whole run.
CLI::Validator writable_file() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            std::error_code error;
            fs::path path = fs::absolute(text);
            if (fs::exists(path, error)) {
                if (!fs::is_regular_file(path, error)) return fmt::format("'{}' is not a regular file", text);
                if (access(path.c_str(), W_OK) != 0) return fmt::format("'{}' is not writable", text);
            } else {
                fs::path dir = path.parent_path();
                if (!fs::is_directory(dir, error)) return fmt::format("directory '{}' does not exist", dir.string());
                if (access(dir.c_str(), W_OK | X_OK) != 0) {
                    return fmt::format("cannot create '{}': directory '{}' is not writable", text, dir.string());
                }
            }
            return {};
        },
        "FILE");
}

// Which leaks --error-exitcode counts, by what interpreter shutdown did with
// them (docs/spec.md; named after valgrind's --errors-for-leak-kinds). A
// leak whose exit state is unknown counts as never closed: nothing showed
// that anything would release it.
struct LeakKinds {
    bool never_closed = false;
    bool held_until_exit = false;
};

// "all", "none", or a comma-separated list of never_closed, held_until_exit.
std::optional<LeakKinds> parse_leak_kinds(std::string_view text) {
    LeakKinds kinds;
    if (text == "all") return LeakKinds{true, true};
    if (text == "none") return kinds;
    for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find(',', start), text.size());
        std::string_view kind = text.substr(start, end - start);
        if (kind == kNeverClosed) {
            kinds.never_closed = true;
        } else if (kind == kHeldUntilExit) {
            kinds.held_until_exit = true;
        } else {
            return std::nullopt;
        }
        start = end + 1;
    }
    return kinds;
}

CLI::Validator leak_kinds() {
    return CLI::Validator(
        [](const std::string& text) -> std::string {
            if (parse_leak_kinds(text)) return {};
            return fmt::format("expected all, none, or a comma-separated list of {} and {}, got '{}'", kNeverClosed,
                               kHeldUntilExit, text);
        },
        "KINDS");
}

bool counts_as_error(const FdEntry& fd, const LeakKinds& kinds) {
    if (!is_leak(fd)) return false;
    return fd.at_exit == kHeldUntilExit ? kinds.held_until_exit : kinds.never_closed;
}

// ---- the child's environment ----------------------------------------------

std::vector<std::string> child_environment(const RunOptions& options, const std::string& library,
                                           const std::string& exit_report_prefix) {
    std::map<std::string, std::string> overrides = settings_variables(options.settings);
    if (options.follow_children) overrides["FDTRACK_FOLLOW_CHILDREN"] = "1";
    overrides["FDTRACK_EXIT_REPORT"] = exit_report_prefix;

    // Other preloads (sanitizer runtimes, jemalloc...) stay; ours goes first
    // so that our hooks see the calls the others make too.
    const char* preload = std::getenv("LD_PRELOAD");
    std::string existing = preload ? preload : "";
    overrides["LD_PRELOAD"] = existing.empty() ? library : library + ":" + existing;

    std::vector<std::string> env;
    for (char** entry = environ; *entry; ++entry) {
        std::string_view text(*entry);
        std::string name(text.substr(0, text.find('=')));
        if (!overrides.contains(name)) env.emplace_back(text);
    }
    for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);
    return env;
}

// ---- the exit report -----------------------------------------------------

// A private directory for the exit reports, removed with everything in it.
class ExitReportDir {
public:
    ExitReportDir() {
        // A TMPDIR that is not a usable directory is the environment's
        // mistake, not a reason to refuse to run the program: /tmp, as the
        // library itself falls back.
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern;
        for (std::string base : {std::string(tmp && *tmp ? tmp : "/tmp"), std::string("/tmp")}) {
            pattern = base + "/fdtrack-run.XXXXXX";
            if (mkdtemp(pattern.data())) break;
            pattern.clear();
        }
        if (pattern.empty()) {
            throw std::runtime_error(fmt::format("cannot create a temporary directory in $TMPDIR or /tmp: {}",
                                                 strerror(errno)));
        }
        path_ = pattern;
    }
    ~ExitReportDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    ExitReportDir(const ExitReportDir&) = delete;
    ExitReportDir& operator=(const ExitReportDir&) = delete;

    // The library appends ".<pid>.json".
    std::string prefix() const { return (path_ / "exit").string(); }

    // Every exit report, by pid: in the directory, or in the subdirectory
    // uid-<N> a process made for itself before it became user N (nginx's
    // workers). What the directory holds wins: a process running as N can
    // write into uid-<N> what it likes, but only as N, and only for a pid
    // the directory has no report of.
    std::map<pid_t, fs::path> reports() const {
        std::map<pid_t, fs::path> found;
        std::vector<fs::path> user_dirs;
        std::error_code error;
        for (const fs::directory_entry& entry : fs::directory_iterator(path_, error)) {
            if (entry.is_directory(error) && !entry.is_symlink(error) &&
                entry.path().filename().string().starts_with("uid-")) {
                user_dirs.push_back(entry.path());
            } else {
                add(entry, found);
            }
        }
        for (const fs::path& dir : user_dirs) {
            struct stat st {};
            if (lstat(dir.c_str(), &st) != 0) continue;
            for (const fs::directory_entry& inner : fs::directory_iterator(dir, error)) {
                struct stat file {};
                if (lstat(inner.path().c_str(), &file) == 0 && file.st_uid == st.st_uid) add(inner, found);
            }
        }
        return found;
    }

private:
    static void add(const fs::directory_entry& entry, std::map<pid_t, fs::path>& found) {
        std::string name = entry.path().filename().string();
        pid_t pid = 0;
        if (sscanf(name.c_str(), "exit.%d.json", &pid) == 1 && name == fmt::format("exit.{}.json", pid)) {
            found.emplace(pid, entry.path());
        }
    }

    fs::path path_;
};

// Bad closes always count; leaks as `kinds` says.
bool has_errors(const Report& report, const LeakKinds& kinds) {
    return !report.bad_closes.empty() || std::any_of(report.fds.begin(), report.fds.end(), [&](const FdEntry& fd) {
               return counts_as_error(fd, kinds);
           });
}

// One tracked process's exit report, suppressions applied.
struct ProcessReport {
    pid_t pid = 0;
    Report report;
};

std::string plural(size_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

// "2 leaks in 1 child (pid 1234: /bin/foo)", or with the main process too
// "5 leaks: 3 in the main process, 2 in 2 children (pid 1234: /bin/foo, ...)".
std::string where_counted(const char* one, const char* many, const std::optional<ProcessReport>& main,
                          const std::vector<ProcessReport>& children,
                          const std::function<size_t(const Report&)>& count) {
    size_t in_main = main ? count(main->report) : 0, in_children = 0;
    std::vector<std::string> guilty;
    for (const ProcessReport& child : children) {
        if (size_t n = count(child.report); n > 0) {
            in_children += n;
            guilty.push_back(fmt::format("pid {}: {}", child.pid, printable(child.report.program)));
        }
    }
    std::string children_part = fmt::format("{} ({})", plural(guilty.size(), "child", "children"),
                                            fmt::join(guilty, ", "));
    std::string total = plural(in_main + in_children, one, many);
    if (in_main == 0 && in_children == 0) return fmt::format("no {}", many);
    if (in_children == 0) return fmt::format("{} in the main process", total);
    if (in_main == 0) return fmt::format("{} in {}", total, children_part);
    return fmt::format("{}: {} in the main process, {} in {}", total, in_main, in_children, children_part);
}

// How many fds of every process's report `counted` accepts.
size_t count_fds(const std::optional<ProcessReport>& main, const std::vector<ProcessReport>& children,
                 const std::function<bool(const FdEntry&)>& counted) {
    auto in = [&](const Report& r) { return static_cast<size_t>(std::count_if(r.fds.begin(), r.fds.end(), counted)); };
    size_t n = main ? in(main->report) : 0;
    for (const ProcessReport& child : children) n += in(child.report);
    return n;
}

// The line that sums up a run with --follow-children, e.g.
// "fdtrack: 3 processes, 2 leaks in 1 child (pid 1234: /bin/foo)".
std::string combined_summary(const std::optional<ProcessReport>& main, const std::vector<ProcessReport>& children) {
    auto leaks = [](const Report& r) { return static_cast<size_t>(std::count_if(r.fds.begin(), r.fds.end(), is_leak)); };
    auto bad_closes = [](const Report& r) { return r.bad_closes.size(); };
    size_t processes = children.size() + (main ? 1 : 0);
    std::string line = fmt::format("fdtrack: {}, {}", plural(processes, "process", "processes"),
                                   where_counted("leak", "leaks", main, children, leaks));
    auto leaks_in_state = [&](std::string_view at_exit) {
        return count_fds(main, children, [&](const FdEntry& fd) { return is_leak(fd) && fd.at_exit == at_exit; });
    };
    std::vector<std::string> states;
    if (size_t n = leaks_in_state(kNeverClosed)) states.push_back(fmt::format("{} never closed", n));
    if (size_t n = leaks_in_state(kHeldUntilExit)) states.push_back(fmt::format("{} held until exit", n));
    if (!states.empty()) line += fmt::format(" ({})", fmt::join(states, ", "));
    size_t total_bad = (main ? bad_closes(main->report) : 0);
    for (const ProcessReport& child : children) total_bad += bad_closes(child.report);
    size_t suppressed = count_fds(main, children, [](const FdEntry& fd) {
        return fd.origin == "tracked" && fd.suppressed && fd.fd > 2;
    });
    if (total_bad > 0) line += "; " + where_counted("bad close", "bad closes", main, children, bad_closes);
    if (suppressed > 0) line += fmt::format(" ({} suppressed)", suppressed);
    return line + "\n";
}

// Said when --errors-for-leak-kinds let leaks through the --error-exitcode
// gate, so that a zero exit status next to a leak report is not a puzzle.
std::string ungated_leaks_note(const std::optional<ProcessReport>& main, const std::vector<ProcessReport>& children,
                               const LeakKinds& gated, const std::string& kinds_text) {
    size_t ungated =
        count_fds(main, children, [&](const FdEntry& fd) { return is_leak(fd) && !counts_as_error(fd, gated); });
    if (ungated == 0) return {};
    return fmt::format("fdtrack run: {} not counted for --error-exitcode (--errors-for-leak-kinds {})\n",
                       plural(ungated, "leak", "leaks"), kinds_text);
}

std::string describe_missing_report(const ChildResult& child) {
    if (child.signal != 0) {
        return fmt::format("it was killed by signal {} (SIG{}) before it could write one", child.signal,
                           sigabbrev_np(child.signal) ? sigabbrev_np(child.signal) : "?");
    }
    return "it exited without running exit handlers (_exit, a crash, or an exec of a program that cannot be "
           "preloaded, such as a static binary)";
}

// Where --json FILE puts a followed child's report: FILE with the child's
// pid before its .json ending (or after the name, without one).
std::string child_json_path(const std::string& path, pid_t pid) {
    constexpr std::string_view kEnding = ".json";
    std::string_view stem = path;
    if (stem.ends_with(kEnding)) stem.remove_suffix(kEnding.size());
    return fmt::format("{}.{}.json", stem, pid);
}

void write_json(const std::string& path, const Report& report) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << report_to_json(report);
    out.close();
    if (!out) throw std::runtime_error(fmt::format("--json: cannot write {}: {}", path, strerror(errno)));
}

// Nullopt when there is no readable report; an unreadable one is said so.
// The library applied the suppressions and user paths already; applying them
// again here covers a library that could not read the file.
std::optional<ProcessReport> read_exit_report(const fs::path& path, pid_t pid, const RunOptions& options,
                                              const std::vector<SuppressionRule>& suppressions) {
    try {
        // Not followed: a process that became another user wrote it in a
        // directory of that user's.
        ProcessReport process{pid, report_from_file(path.string(), Links::refused)};
        apply_suppressions(suppressions, process.report);
        apply_user_paths(options.settings.user_paths, process.report);
        return process;
    } catch (const ReportError& e) {
        std::error_code ignored;
        if (fs::exists(path, ignored)) {
            std::cerr << fmt::format("fdtrack run: the exit report of pid {} is unreadable: {}\n", pid, e.what());
        }
        return std::nullopt;
    }
}

int run_program(const RunOptions& options) {
    // A broken suppressions file is found before the run, not after it.
    std::vector<SuppressionRule> suppressions;
    if (!options.settings.suppressions.empty()) {
        try {
            suppressions = load_suppressions(options.settings.suppressions);
        } catch (const SuppressionError& e) {
            for (const std::string& line : e.errors()) std::cerr << "fdtrack: " << line << '\n';
            return 2;
        }
    }

    std::string library = find_preload_library();
    ExitReportDir reports;
    ChildResult child = run_child(options.command, child_environment(options, library, reports.prefix()));
    if (child.exec_errno != 0) {
        std::cerr << fmt::format("fdtrack run: cannot execute '{}': {}\n", printable(options.command.front()),
                                 strerror(child.exec_errno));
        // What a shell answers: 127 not found, 126 found but not executable.
        return child.exec_errno == ENOENT ? 127 : 126;
    }

    std::map<pid_t, fs::path> exit_reports = reports.reports();
    fs::path path = exit_reports.contains(child.pid) ? exit_reports[child.pid] : fs::path();
    std::optional<ProcessReport> main = read_exit_report(path, child.pid, options, suppressions);
    const LeakKinds gated = *parse_leak_kinds(options.errors_for_leak_kinds), every{true, true};
    bool failed = false;
    std::vector<SuggestedRule> suggestions;
    if (main) {
        std::cerr << render_text(main->report);
        failed = has_errors(main->report, gated);
        suggestions = suggest_suppressions(main->report);
    } else if (std::error_code ignored; !fs::exists(path, ignored)) {
        std::cerr << fmt::format("fdtrack run: no exit report from {} (pid {}): {}\n",
                                 printable(options.command.front()), child.pid, describe_missing_report(child));
    } else {
        failed = true;  // there but unreadable (said above): the gate cannot vouch for the program
    }

    // Exec'd children write their own reports; only those with leaks or bad
    // closes are shown, the summary line counts them all.
    std::vector<ProcessReport> children;
    if (options.follow_children) {
        for (const auto& [pid, other_path] : exit_reports) {
            if (pid == child.pid) continue;
            std::optional<ProcessReport> other = read_exit_report(other_path, pid, options, suppressions);
            if (!other) {
                failed = true;  // unreadable, as the main one above
                continue;
            }
            if (has_errors(other->report, every)) {
                std::cerr << fmt::format("\nfdtrack: child process {}:\n", pid) << render_text(other->report);
                failed = failed || has_errors(other->report, gated);
                for (SuggestedRule& rule : suggest_suppressions(other->report)) suggestions.push_back(std::move(rule));
            }
            children.push_back(std::move(*other));
        }
    }
    if (options.gen_suppressions && !suggestions.empty()) {
        std::cerr << "\n# fdtrack --gen-suppressions: a rule for each leak site above; paste them into a file "
                     "for --suppressions\n"
                  << render_suggestions(suggestions);
    }
    if (options.follow_children) std::cerr << '\n' << combined_summary(main, children);
    if (options.error_exitcode) std::cerr << ungated_leaks_note(main, children, gated, options.errors_for_leak_kinds);

    if (!options.json_path.empty()) {
        if (main) write_json(options.json_path, main->report);
        // Each followed child's report beside it: r.json, r.<pid>.json...
        for (const ProcessReport& other : children) write_json(child_json_path(options.json_path, other.pid), other.report);
    }
    if (failed && options.error_exitcode) return *options.error_exitcode;
    return child.status;
}

}  // namespace

Command add_run_command(CLI::App& app) {
    auto options = std::make_shared<RunOptions>();
    CLI::App* sub = app.add_subcommand("run", "Run PROG tracked and print its leak report when it exits");
    // Everything from PROG on belongs to PROG, options included.
    sub->positionals_at_end();
    sub->add_option("--json", options->json_path,
                    "Also write the exit report as JSON to FILE (with --follow-children, each child's beside it, its pid before .json)")
        ->check(writable_file().description(""))->type_name("FILE");
    sub->add_option("--error-exitcode", options->error_exitcode,
                    "Exit N if the exit report holds any leak (see --errors-for-leak-kinds) or bad close")
        ->check(whole_number(0, 255).description(""))->type_name("N");
    sub->add_option("--errors-for-leak-kinds", options->errors_for_leak_kinds,
                    "Which leaks --error-exitcode counts: never_closed, held_until_exit (closed by interpreter "
                    "shutdown), a comma-separated list of them, all or none (default all)")
        ->check(leak_kinds().description(""))->type_name("KINDS");
    add_settings_options(*sub, options->settings);
    sub->add_flag("--gen-suppressions", options->gen_suppressions,
                  "After the report, print a suppression rule for each leak site");
    sub->add_flag("--follow-children", options->follow_children,
                  "Also track exec'd children [FDTRACK_FOLLOW_CHILDREN=1]");
    sub->add_option("PROG", options->command, "The program to run, and its arguments")->required();
    return {sub, [options] { return run_program(*options); }};
}

}  // namespace fdtrack::cli
