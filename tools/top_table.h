// What `fdtrack top` shows of a process, from its successive counts answers:
// the header (open fds against the limit, and their rate) and each site's
// row (count, change per minute, oldest age, call, the user's line), sorted;
// and one snapshot as plain text, for --once and --batch.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"

namespace fdtrack::cli {

// The window of "change per minute": what top shows is what grows now, not
// since the process started (the text report's "grew +N" says that).
inline constexpr double kRateWindowS = 60;

// A count at a time, in seconds on any one clock.
struct CountPoint {
    double time_s = 0;
    int count = 0;
};

// The change per minute over the last `window_s` seconds of a step series
// (each count holds until the next point) that ends now, at its last point;
// over the whole series when it is shorter. Nothing for fewer than two
// points or less than a second between the start and now.
std::optional<double> per_minute_over(const std::vector<CountPoint>& series, double window_s = kRateWindowS);

enum class SortKey { growth, count, oldest };

// "growth", "count", "oldest".
const char* sort_name(SortKey key);
// The next key in that order, and the previous one (both wrap around).
SortKey next_sort(SortKey key);
SortKey previous_sort(SortKey key);

struct TopRow {
    const Site* site = nullptr;           // in TopTable::report()
    std::optional<double> per_minute;     // nothing: not known yet
    std::string call;                     // printable
    std::string where;                    // the user's line, printable
};

// The watched process, as of its latest counts answer, with what top saw of
// it before: each site's rate comes from the site's history when the
// process keeps one (FDTRACK_INTERVAL), else from the counts of earlier
// refreshes (a site absent from the previous answer had no fd open then).
class TopTable {
public:
    // Takes the answer received at `now_s` (a steady clock, in seconds).
    void update(Report counts, double now_s);

    const Report& report() const { return report_; }
    bool empty() const { return updates_ == 0; }

    // The sites, sorted: growth puts the sites that grow first, the fastest
    // first, then the rest by count; count and oldest put the largest first.
    // Ties go by site id, so rows do not jump between refreshes.
    std::vector<TopRow> rows(SortKey key) const;

    // The change per minute of all the process's open fds.
    std::optional<double> open_per_minute() const;

    // A site of the latest answer by id (null once it has no fd open).
    const Site* site(int id) const;

    // The user's line of `site`, printable: "app.py:42 in handler".
    std::string where(const Site& site) const;

private:
    Report report_;
    int updates_ = 0;
    double last_update_s_ = 0;
    // What top saw itself, kept for the last kRateWindowS: the fallback
    // when the process keeps no history.
    std::map<int, std::vector<CountPoint>> seen_;
    std::vector<CountPoint> open_seen_;
};

// "+12.0", "-3.5", "0" (less than 0.05 either way), "-" when not known.
std::string format_rate(const std::optional<double>& per_minute);

// "523/1024 (51%)", "523/unlimited", "523/?" when the limit is not known.
std::string format_open_count(int open, uint64_t limit);

// The fraction of the limit in use, from 0 to 1; nothing when the limit is
// not known or unlimited.
std::optional<double> fraction_of_limit(int open, uint64_t limit);

// The header lines both views show: the process and when it answered, its
// command, its fds; with a bar `bar_width` wide of the fds against the limit
// (0: none).
std::vector<std::string> header_lines(const TopTable& table, int bar_width = 0);

// The column titles, and one row. `utf8`: the terminal can show "Δ/MIN",
// else the title says "D/MIN".
std::string table_title(bool utf8);
std::string table_line(const TopRow& row);

// One snapshot as plain text: the header, a blank line, the table; and a
// blank line after it, so that snapshots in a row read apart (top -b).
std::string render_plain(const TopTable& table, SortKey key, bool utf8);

}  // namespace fdtrack::cli
