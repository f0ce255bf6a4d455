// `fdtrack metrics PID... [--top N]`: the Prometheus text exposition of
// running tracked processes (report/report_prometheus.h), from their counts
// answers only, which cost a process with 20,000 fds a fraction of a
// millisecond where a full dump describes every fd.
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "report/report_prometheus.h"
#include "tools/commands.h"
#include "tools/fleet.h"
#include "tools/metrics_options.h"
#include "tools/seconds_option.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace {

struct MetricsCommandOptions {
    std::vector<int> pids;
    MetricsOptions metrics;
    double timeout_s = 10;
};

// A process that cannot be asked gets one line on stderr and leaves the
// others printed; the exit status says that something is missing.
int run_metrics(MetricsCommandOptions options) {
    std::sort(options.pids.begin(), options.pids.end());
    options.pids.erase(std::unique(options.pids.begin(), options.pids.end()), options.pids.end());
    std::vector<Report> reports;
    bool all_answered = true;
    for (ProcessCounts& answer : ask_counts(options.pids, options.timeout_s, "fdtrack metrics")) {
        if (answer.counts) {
            apply_user_paths(options.metrics.user_paths, *answer.counts);
            reports.push_back(std::move(*answer.counts));
        } else {
            std::cerr << "fdtrack metrics: " << answer.error << "\n";
            all_answered = false;
        }
    }
    std::cout << exposition_text(process_metrics(reports, options.metrics.top_sites));
    return all_answered ? 0 : 1;
}

}  // namespace

Command add_metrics_command(CLI::App& app) {
    auto options = std::make_shared<MetricsCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "metrics", "Print the open fds of running tracked processes in the Prometheus text format");
    sub->add_option("PID", options->pids, "The processes to ask")->required()->check(CLI::Range(1, 1 << 22));
    add_metrics_options(*sub, options->metrics);
    add_timeout_option(*sub, options->timeout_s, "Seconds each process may take to answer (default 10)");
    return {sub, [options] { return run_metrics(*options); }};
}

}  // namespace fdtrack::cli
