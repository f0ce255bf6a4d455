// The HTML report (fdtrack report --html, fdtrack diff --html): one page that
// opens from disk, the template of report/html/ with the report as its data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/report.h"
#include "report/report_diff.h"

namespace fdtrack {

// The page of one report: what `fdtrack report --json` prints, plus what the
// text report decides about each site (its headline, growth, the user's frame,
// the folded native stack), so that the page and the text agree.
std::string render_html(const Report& report);

// The page of `fdtrack diff`: its JSON (fdtrack-diff/1) plus the same about
// each grown site, and the newer report's program, argv and history.
std::string render_diff_html(const Report& older, const Report& newer, const std::vector<SiteGrowth>& grown);

// JSON text that may stand inside a <script> element: every '<', '>' and '&'
// (which JSON holds only inside strings) written as a \u escape, so no name
// in it can close the element ("</script>") or open a comment ("<!--");
// JSON.parse reads the same value back.
std::string script_safe_json(std::string_view json);

}  // namespace fdtrack
