// The options that fdtrack metrics and fdtrack exporter share: what the
// metrics show of each process (report/report_prometheus.h).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

struct MetricsOptions {
    size_t top_sites = 10;                  // --top: sites with a series of their own per process
    std::optional<std::string> user_paths;  // --user-paths: names each site's location
};

// Adds --top N and --user-paths DIR:DIR to `command`.
void add_metrics_options(CLI::App& command, MetricsOptions& options);

}  // namespace fdtrack::cli
