// Comparing two reports of one process: which allocation sites hold more
// open fds now than before, matched by their stacks since ids are not stable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/report.h"

namespace fdtrack {

// Counts are sums over the sites that share a stack, hence 64 bits.
struct SiteGrowth {
    int64_t old_count = 0;  // 0 when the site is new
    int64_t new_count = 0;
    Site site;          // as in the newer report
};

// Sites whose count grew, largest growth first (ties: larger new count, then
// lower site id).
std::vector<SiteGrowth> diff_reports(const Report& older, const Report& newer);

std::string render_diff_text(const Report& older, const Report& newer, const std::vector<SiteGrowth>& grown);

// {"schema": "fdtrack-diff/1", "old": {...}, "new": {...},
//  "grown": [{"old_count", "new_count", "growth", "site": {...}}]}
// where old/new hold pid, time and open_count, and "site" is as in fdtrack/1.
std::string diff_to_json(const Report& older, const Report& newer, const std::vector<SiteGrowth>& grown);

}  // namespace fdtrack
