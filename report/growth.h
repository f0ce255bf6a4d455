// How a site's open count moved over its history: a leak is a site whose
// count keeps rising. Shared by the text report, and by what shows sites live.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/report.h"

namespace fdtrack {

struct Growth {
    bool growing = false;  // higher now than halfway through the history
    int change = 0;        // now minus the first sample
    double over_s = 0;     // from the first sample to now
    double per_minute = 0;
};

// Nothing (not growing) for fewer than two samples.
Growth growth_of(const std::vector<CountSample>& history);

// Keeps the points of `history` in its last `seconds`, starting with the
// count it held that long before its end.
void keep_last(std::vector<CountSample>& history, int64_t seconds);

// "grew +270 in 45m00s, +6.0/min", or empty when not growing.
std::string describe_growth(const Growth& growth);

}  // namespace fdtrack
