// How a site's open count moved over its history (growth.h).
#include "report/growth.h"

#include <algorithm>

#include <fmt/format.h>

#include "report/report_text.h"

namespace fdtrack {
namespace {

// The count the step function `history` held at `time`.
int count_at(const std::vector<CountSample>& history, int64_t time) {
    int count = history.front().count;
    for (const CountSample& sample : history) {
        if (sample.time > time) break;
        count = sample.count;
    }
    return count;
}

}  // namespace

Growth growth_of(const std::vector<CountSample>& history) {
    Growth growth;
    if (history.size() < 2) return growth;
    const CountSample &first = history.front(), &now = history.back();
    growth.change = now.count - first.count;
    growth.over_s = static_cast<double>(now.time - first.time);
    if (growth.over_s > 0) growth.per_minute = growth.change * 60.0 / growth.over_s;
    // A pool that filled up at start and stays full is not growing; a leak
    // still rises in the second half of what was watched.
    int64_t halfway = first.time + (now.time - first.time) / 2;
    growth.growing = growth.change > 0 && now.count > count_at(history, halfway);
    return growth;
}

void keep_last(std::vector<CountSample>& history, int64_t seconds) {
    if (history.empty()) return;
    int64_t since = history.back().time - seconds;
    auto first = std::find_if(history.begin(), history.end(), [&](const CountSample& p) { return p.time >= since; });
    if (first == history.begin()) return;
    int held = std::prev(first)->count;
    history.erase(history.begin(), first);
    if (history.front().time > since) history.insert(history.begin(), {since, held});
}

std::string describe_growth(const Growth& growth) {
    if (!growth.growing) return {};
    return fmt::format("grew {:+} in {}, {:+.1f}/min", growth.change, format_age(growth.over_s), growth.per_minute);
}

}  // namespace fdtrack
