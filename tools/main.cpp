// The fdtrack command line: picks the subcommand and turns every failure into
// a one-line message and exit status 2.
#include <cstring>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/commands.h"

#ifndef FDTRACK_VERSION
#define FDTRACK_VERSION "(version not set by the build)"
#endif

namespace {

constexpr int kUsageError = 2;

// CLI11 only says "A subcommand is required" for a mistyped command.
bool is_unknown_command(const CLI::App& app, int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub->check_name(argv[1])) return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace fdtrack::cli;

    CLI::App app{"fdtrack: find file-descriptor leaks", "fdtrack"};
    app.set_version_flag("--version", "fdtrack " FDTRACK_VERSION);
    app.require_subcommand(1);
    app.footer("Run 'fdtrack COMMAND --help' for the options of a command.\n"
               "The contract (options, environment, report schema): docs/spec.md in the source tree.");
    std::vector<Command> commands = {add_run_command(app), add_dump_command(app), add_report_command(app),
                                     add_diff_command(app), add_metrics_command(app), add_exporter_command(app),
                                     add_top_command(app), add_attach_command(app), add_detach_command(app)};

    if (argc < 2) {
        std::cerr << app.help();
        return kUsageError;
    }
    if (is_unknown_command(app, argc, argv)) {
        std::cerr << "fdtrack: unknown command '" << argv[1] << "' (commands: run, dump, report, diff, metrics, exporter, top, attach, detach; see fdtrack --help)\n";
        return kUsageError;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string where = "fdtrack";
        for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
        std::cerr << where << ": " << e.what() << " (see " << where << " --help)\n";
        return kUsageError;
    }

    for (const Command& command : commands) {
        if (!command.app->parsed()) continue;
        try {
            return command.run();
        } catch (const std::exception& e) {
            std::cerr << "fdtrack " << command.app->get_name() << ": " << e.what() << '\n';
            return kUsageError;
        }
    }
    return kUsageError;
}
