// The interactive `fdtrack top` on a terminal, drawn with ncurses: the table
// of sites refreshed every few seconds, a site's stacks and fds on Enter,
// and the keys to sort, move, refresh and quit.
#pragma once

#include <functional>
#include <string>

#include "report/report.h"
#include "tools/top_table.h"

namespace fdtrack::cli {

// What the screen asks of the watched process. Each throws ControlError or
// ReportError with a message for the user.
struct TopSource {
    int pid = 0;
    std::function<void()> refresh;     // a counts request, into the table
    std::function<Report()> full_dump;  // every fd, when the user opens a site
};

// Runs until the user quits; `table` holds the first answer already, the
// sites are in `sort` order until a key changes it. `utf8`: the terminal's
// locale shows "Δ". Returns the exit status (0), or throws when the terminal
// cannot be driven.
int run_top_screen(TopTable& table, const TopSource& source, double delay_s, SortKey sort, bool utf8);

}  // namespace fdtrack::cli
