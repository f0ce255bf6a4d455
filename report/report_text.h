// The human-readable report: leaks grouped by allocation site, biggest first,
// each with its examples, the user's own frame and the stacks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "report/report.h"

namespace fdtrack {

std::string render_text(const Report& report);

// Where the user should look: the innermost frame of the user's own code,
// e.g. "app.py:42 in handle_image" or "leaks.c:34 in leak_open". Python
// frames win when present; the standard library, site-packages, libc, the
// interpreter and fdtrack itself are skipped.
std::string user_location(const Site& site);

// One line for stderr after a dump, e.g.
// "fdtrack: 12 fds open from leaks.c:34 in leak_open (openat)".
std::string top_site_summary(const Report& report);

// The Python then native stack of a site, innermost first, each line starting
// with `indent`; at most `max_frames` frames of each (0: all).
std::string render_stacks(const Site& site, std::string_view indent, size_t max_frames = 0);

// "12.5s", "3m07s", "2h05m".
std::string format_age(double seconds);

}  // namespace fdtrack
