// `fdtrack report FILE [--json]`: render a saved JSON report as text, or as normalised JSON.
#include <iostream>
#include <memory>

#include "report/report_json.h"
#include "report/report_text.h"
#include "tools/commands.h"

namespace fdtrack::cli {

namespace {

struct ReportOptions {
    std::string file;
    bool json = false;
};

int run_report(const ReportOptions& options) {
    Report report = report_from_file(options.file);
    std::cout << (options.json ? report_to_json(report) : render_text(report));
    return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
    auto options = std::make_shared<ReportOptions>();
    CLI::App* sub = app.add_subcommand("report", "Render a saved JSON report as text (or normalised JSON)");
    sub->add_option("FILE", options->file, "A report written by fdtrack (fdtrack.<pid>.<seq>.json); - for stdin")
        ->required();
    sub->add_flag("--json", options->json, "Print normalised JSON instead of text");
    return {sub, [options] { return run_report(*options); }};
}

}  // namespace fdtrack::cli
