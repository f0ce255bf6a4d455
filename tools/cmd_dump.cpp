// `fdtrack dump PID [--json]`: ask a running tracked process for a snapshot now.
#include <iostream>
#include <memory>

#include "tools/commands.h"

namespace fdtrack::cli {

namespace {

struct DumpOptions {
    int pid = 0;
    bool json = false;
};

int run_dump(const DumpOptions&) {
    std::cerr << "fdtrack dump: not implemented yet\n";
    return 2;
}

}  // namespace

Command add_dump_command(CLI::App& app) {
    auto options = std::make_shared<DumpOptions>();
    CLI::App* sub = app.add_subcommand("dump", "Ask a running tracked process for a snapshot now and print it");
    sub->add_option("PID", options->pid, "The process to ask")->required()->check(CLI::Range(1, 1 << 22));
    sub->add_flag("--json", options->json, "Print the snapshot as JSON instead of text");
    return {sub, [options] { return run_dump(*options); }};
}

}  // namespace fdtrack::cli
