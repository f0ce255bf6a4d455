// The subcommands of the fdtrack CLI: each one adds itself to the app and
// hands back what to run when it was chosen.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;  // returns the exit status
};

Command add_run_command(CLI::App& app);
Command add_dump_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_diff_command(CLI::App& app);
Command add_metrics_command(CLI::App& app);
Command add_exporter_command(CLI::App& app);
Command add_top_command(CLI::App& app);
Command add_attach_command(CLI::App& app);
Command add_detach_command(CLI::App& app);

}  // namespace fdtrack::cli
