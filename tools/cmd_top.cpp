// `fdtrack top PID`: a live view of a tracked process's allocation sites,
// the growing ones first, from a counts request every --delay seconds (the
// process describes no fd for it): on a terminal the interactive screen
// (top_screen.h); with --once, --batch N, or when not on a terminal, plain
// snapshots (top_table.h), as `top -b` prints.
#include <langinfo.h>
#include <locale.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "report/control_channel.h"
#include "report/report_json.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/seconds_option.h"
#include "tools/top_screen.h"
#include "tools/top_table.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace {

// A counts answer takes milliseconds (docs/spec.md, "Control socket"); a
// full dump, only asked when the user opens a site, describes every fd.
constexpr double kCountsTimeoutS = 5;
constexpr double kDumpTimeoutS = 10;
constexpr std::string_view kCommand = "fdtrack top";

struct TopOptions {
    int pid = 0;
    double delay_s = 2;
    bool once = false;
    int batch = 0;  // 0: not given
    std::string sort = "growth";
    std::optional<std::string> user_paths;
};

int fail(const std::string& why) {
    std::cerr << kCommand << ": " << why << "\n";
    return 2;
}

double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Asks for the counts and takes them into `table`; throws ControlError or
// ReportError.
void refresh(TopTable& table, const TopOptions& options) {
    std::string answer = ask_process(options.pid, kCountsRequest, kCountsTimeoutS, kCommand);
    Report counts;
    try {
        counts = counts_from_json(answer);
    } catch (const ReportError& error) {
        throw ReportError("process " + std::to_string(options.pid) + " sent a malformed answer: " + error.what());
    }
    apply_user_paths(options.user_paths, counts);
    table.update(std::move(counts), steady_seconds());
}

SortKey sort_key(const std::string& name) {
    return name == "count" ? SortKey::count : name == "oldest" ? SortKey::oldest : SortKey::growth;
}

// `snapshots` of them, --delay apart (0: until the process exits). A process
// that stops answering ends it with status 1, as `top -b` ends when its
// process is gone.
int run_plain(TopTable& table, const TopOptions& options, int snapshots, bool utf8) {
    auto delay = std::chrono::duration<double>(options.delay_s);
    for (int shown = 0;;) {
        std::cout << render_plain(table, sort_key(options.sort), utf8) << std::flush;
        if (++shown == snapshots) return 0;
        std::this_thread::sleep_for(delay);
        try {
            refresh(table, options);
        } catch (const std::runtime_error& error) {
            if (has_exited(options.pid)) {
                std::cerr << kCommand << ": process " << options.pid << " has exited\n";
            } else {
                std::cerr << kCommand << ": " << error.what() << "\n";
            }
            return 1;
        }
    }
}

int run_top(const TopOptions& options) {
    setlocale(LC_CTYPE, "");  // for curses, and to know whether "Δ" can be shown
    bool utf8 = std::string_view(nl_langinfo(CODESET)) == "UTF-8";
    TopTable table;
    // Before the screen is taken: a process that cannot be watched is one
    // line and status 2, as with `fdtrack dump`.
    try {
        refresh(table, options);
    } catch (const std::runtime_error& error) {
        return fail(error.what());
    }
    if (options.once) return run_plain(table, options, 1, utf8);
    if (options.batch > 0) return run_plain(table, options, options.batch, utf8);
    // No keys to read or no screen to draw on (a pipe, a file, cron): what
    // `top -b` prints, until the process exits.
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return run_plain(table, options, 0, utf8);
    TopSource source;
    source.pid = options.pid;
    source.refresh = [&] { refresh(table, options); };
    source.full_dump = [&] {
        return report_from_json(ask_process(options.pid, kDumpRequest, kDumpTimeoutS, kCommand));
    };
    return run_top_screen(table, source, options.delay_s, sort_key(options.sort), utf8);
}

}  // namespace

Command add_top_command(CLI::App& app) {
    auto options = std::make_shared<TopOptions>();
    CLI::App* sub = app.add_subcommand(
        "top", "Watch a running tracked process live: its open fds and its sites, the growing ones first");
    sub->add_option("PID", options->pid, "The process to watch")->required()->check(CLI::Range(1, 1 << 22));
    sub->add_option("-d,--delay", options->delay_s, "Seconds between refreshes (default 2)")
        ->check(seconds_validator(0.1, 3600));
    CLI::Option* once = sub->add_flag("--once", options->once, "Print one snapshot as text and exit");
    sub->add_option("-n,--batch", options->batch, "Print N snapshots as text, --delay apart, and exit")
        ->check(CLI::Range(1, 1000000))
        ->excludes(once);
    sub->add_option("--sort", options->sort, "The order of the sites: growth (default), count or oldest")
        ->check(CLI::IsMember({"growth", "count", "oldest"}));
    add_user_paths_option(*sub, options->user_paths,
                          "The user's own code is exactly what lies under these directories, instead of what the "
                          "process says or fdtrack guesses ('' to guess)");
    sub->footer("On a terminal: a screen refreshed every --delay seconds; ? lists its keys, q quits.\n"
                "With --once or --batch, or when stdin or stdout is not a terminal: plain text snapshots\n"
                "(until the process exits when neither is given), as top -b prints.");
    return {sub, [options] { return run_top(*options); }};
}

}  // namespace fdtrack::cli
