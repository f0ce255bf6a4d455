// `fdtrack report FILE [--json | --html OUT] [--suppressions RULES] [--user-paths DIRS]`:
// render a saved JSON report as text, as normalised JSON or as an HTML page,
// optionally with suppressions applied and other directories taken as the user's code.
#include <iostream>
#include <memory>
#include <optional>

#include "report/report_html.h"
#include "report/report_json.h"
#include "report/suppressions.h"
#include "report/report_text.h"
#include "tools/commands.h"
#include "tools/output_file.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace {

struct ReportOptions {
    std::string file;
    bool json = false;
    std::optional<std::string> html;  // --html OUT
    std::string suppressions;
    std::optional<std::string> user_paths;
};

int run_report(const ReportOptions& options) {
    Report report = report_from_file(options.file);
    apply_user_paths(options.user_paths, report);
    if (!options.suppressions.empty()) {
        try {
            apply_suppressions(load_suppressions(options.suppressions), report);
        } catch (const SuppressionError& e) {
            for (const std::string& line : e.errors()) std::cerr << "fdtrack: " << line << '\n';
            return 2;
        }
    }
    if (options.html) {
        write_output_file(*options.html, render_html(report));
    } else {
        std::cout << (options.json ? report_to_json(report) : render_text(report));
    }
    return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
    auto options = std::make_shared<ReportOptions>();
    CLI::App* sub = app.add_subcommand("report", "Render a saved JSON report as text (or normalised JSON, or an HTML page)");
    sub->add_option("FILE", options->file, "A report written by fdtrack (fdtrack.<pid>.<seq>.json); - for stdin")
        ->required();
    CLI::Option* json = sub->add_flag("--json", options->json, "Print normalised JSON instead of text");
    sub->add_option("--html", options->html,
                    "Write the report as one self-contained HTML page to OUT (replaced if it exists; - for stdout)")
        ->type_name("OUT")
        ->excludes(json);
    sub->add_option("--suppressions", options->suppressions,
                    "Mark the leaks that match a rule in FILE as suppressed (docs/suppressions.md)")
        ->type_name("FILE");
    add_user_paths_option(*sub, options->user_paths,
                          "The user's own code is exactly what lies under these directories, instead of what the "
                          "report says or fdtrack guesses ('' to guess)");
    return {sub, [options] { return run_report(*options); }};
}

}  // namespace fdtrack::cli
