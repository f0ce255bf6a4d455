// When fdtrack dumps by itself: the open count reaching the threshold, and a
// call failing with "Too many open files".
#pragma once

#include <cstdint>

namespace fdtrack {

// At most one "Too many open files" report per this many seconds.
inline constexpr int64_t kEmfileDumpInterval_s = 30;

// After each recorded fd: dumps once when the count reaches the threshold.
void fd_count_rose();
// After each close: re-arms the threshold once the count is well below it.
void fd_count_fell();
// A hooked call failed with EMFILE or ENFILE: dumps, rate-limited.
void out_of_fds();
// At dump time: the open count is still at or above the threshold.
bool threshold_still_reached();
// At attach: the threshold is computed anew from the settings given then.
void reset_triggers();

}  // namespace fdtrack
