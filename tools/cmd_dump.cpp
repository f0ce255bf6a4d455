// `fdtrack dump PID [--json]`: ask a running tracked process for a snapshot
// now, through its control socket (works whatever became of the dump signal).
#include <iostream>
#include <memory>
#include <string>

#include "report/control_channel.h"
#include "report/report_json.h"
#include "report/report_text.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/seconds_option.h"

namespace fdtrack::cli {

namespace {

struct DumpOptions {
    int pid = 0;
    bool json = false;
    double timeout_s = 10;
};

int fail(const std::string& why) {
    std::cerr << "fdtrack dump: " << why << "\n";
    return 2;
}

int run_dump(const DumpOptions& options) {
    std::string answer;
    try {
        answer = ask_process(options.pid, kDumpRequest, options.timeout_s, "fdtrack dump");
    } catch (const ControlError& error) {
        return fail(error.what());
    }
    try {
        Report report = report_from_json(answer);  // checked even when printed as it came
        std::cout << (options.json ? answer : render_text(report));
        return 0;
    } catch (const ReportError& error) {
        return fail("process " + std::to_string(options.pid) + " sent a malformed report: " + error.what());
    }
}

}  // namespace

Command add_dump_command(CLI::App& app) {
    auto options = std::make_shared<DumpOptions>();
    CLI::App* sub = app.add_subcommand("dump", "Ask a running tracked process for a snapshot now and print it");
    sub->add_option("PID", options->pid, "The process to ask")->required()->check(CLI::Range(1, 1 << 22));
    sub->add_flag("--json", options->json, "Print the snapshot as JSON instead of text");
    add_timeout_option(*sub, options->timeout_s, "Seconds to wait for the answer (default 10)");
    return {sub, [options] { return run_dump(*options); }};
}

}  // namespace fdtrack::cli
