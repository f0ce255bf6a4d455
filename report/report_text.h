// The human-readable report: leaks grouped by allocation site, biggest first,
// each with its examples, the user's own frame and the stacks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "report/report.h"

namespace fdtrack {

std::string render_text(const Report& report);

// Where the user should look: the innermost frame of the user's own code
// (user_frame in report/user_code.h, with the report's user_paths), e.g.
// "app.py:42 in handle_image" or "leaks.c:34 in leak_open".
std::string user_location(const Site& site, const std::vector<std::string>& user_paths);

// One line for stderr after a dump, e.g.
// "fdtrack: 12 fds open from leaks.c:34 in leak_open (openat)".
std::string top_site_summary(const Report& report);

// One line of a site's native stack as the reports show it: a frame, or a
// run of `count` frames of the interpreter's own folded into one line.
struct StackRow {
    size_t first = 0;  // index into Site::frames
    size_t count = 1;
};

// The native stack's lines, innermost first: under a site with Python frames,
// each run of two or more interpreter frames (is_interpreter_module) is one row.
std::vector<StackRow> native_rows(const Site& site);

// The Python then native stack of a site, innermost first, each line starting
// with `indent`; at most `max_frames` lines of each (0: all). Under a site with
// Python frames, runs of the interpreter's native frames fold into one line.
std::string render_stacks(const Site& site, std::string_view indent, size_t max_frames = 0);

// One line per fd, each starting with `indent`, aligned:
// "fd 5  file  3m07s  /srv/app/data.db  [cloexec]  thread 812 worker".
std::string render_fds(const std::vector<const FdEntry*>& fds, std::string_view indent);

// "12.5s", "3m07s", "2h05m".
std::string format_age(double seconds);

}  // namespace fdtrack
