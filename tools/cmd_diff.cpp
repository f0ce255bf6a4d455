// `fdtrack diff OLD NEW [--json | --html OUT] [--user-paths DIRS]`: allocation
// sites whose open count grew between two reports.
#include <iostream>
#include <memory>
#include <optional>

#include "report/report_diff.h"
#include "report/report_html.h"
#include "report/report_json.h"
#include "tools/commands.h"
#include "tools/output_file.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace {

struct DiffOptions {
    std::string old_file;
    std::string new_file;
    bool json = false;
    std::optional<std::string> html;  // --html OUT
    std::optional<std::string> user_paths;
};

int run_diff(const DiffOptions& options) {
    Report older = report_from_file(options.old_file);
    Report newer = report_from_file(options.new_file);
    apply_user_paths(options.user_paths, newer);
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    if (options.html) {
        write_output_file(*options.html, render_diff_html(older, newer, grown));
    } else {
        std::cout << (options.json ? diff_to_json(older, newer, grown) : render_diff_text(older, newer, grown));
    }
    return 0;
}

}  // namespace

Command add_diff_command(CLI::App& app) {
    auto options = std::make_shared<DiffOptions>();
    CLI::App* sub = app.add_subcommand(
        "diff", "Allocation sites whose open count grew between two reports, largest growth first");
    sub->add_option("OLD", options->old_file, "The earlier report (JSON)")->required();
    sub->add_option("NEW", options->new_file, "The later report (JSON)")->required();
    CLI::Option* json = sub->add_flag("--json", options->json, "Print the growth as JSON (schema fdtrack-diff/1)");
    sub->add_option("--html", options->html,
                    "Write the growth as one self-contained HTML page to OUT (replaced if it exists; - for stdout)")
        ->type_name("OUT")
        ->excludes(json);
    add_user_paths_option(*sub, options->user_paths,
                          "The user's own code is exactly what lies under these directories, instead of what NEW "
                          "says or fdtrack guesses ('' to guess)");
    return {sub, [options] { return run_diff(*options); }};
}

}  // namespace fdtrack::cli
