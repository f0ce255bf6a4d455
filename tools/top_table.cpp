// What `fdtrack top` shows of a process (top_table.h).
#include "tools/top_table.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "report/printable.h"
#include "report/report_text.h"

namespace fdtrack::cli {
namespace {

// Below this a rate reads as 0: a count that moved by one in an hour does not grow now.
constexpr double kLeastRate = 0.05;

bool grows(const std::optional<double>& per_minute) { return per_minute && *per_minute >= kLeastRate; }

std::vector<CountPoint> points_of(const std::vector<CountSample>& history) {
    std::vector<CountPoint> points;
    points.reserve(history.size());
    for (const CountSample& sample : history) points.push_back({static_cast<double>(sample.time), sample.count});
    return points;
}

// Keeps what the window needs: the points inside it and the one before, the
// count at its start.
void keep_window(std::vector<CountPoint>& series, double now_s) {
    size_t drop = 0;
    while (drop + 1 < series.size() && series[drop + 1].time_s <= now_s - kRateWindowS) ++drop;
    series.erase(series.begin(), series.begin() + static_cast<ptrdiff_t>(drop));
}

// The process's history when it keeps one, else what top saw itself.
std::optional<double> rate_from(const std::vector<CountSample>& history, const std::vector<CountPoint>* seen) {
    if (history.size() >= 2) return per_minute_over(points_of(history));
    return seen ? per_minute_over(*seen) : std::nullopt;
}

}  // namespace

std::optional<double> per_minute_over(const std::vector<CountPoint>& series, double window_s) {
    if (series.size() < 2) return std::nullopt;
    const CountPoint& now = series.back();
    double start_s = now.time_s - window_s;
    CountPoint from = series.front();
    for (const CountPoint& point : series) {
        if (point.time_s > start_s) break;
        from = {start_s, point.count};  // the count it held when the window opened
    }
    double span_s = now.time_s - from.time_s;
    if (!(span_s >= 1)) return std::nullopt;
    return (now.count - from.count) * 60.0 / span_s;
}

const char* sort_name(SortKey key) {
    switch (key) {
        case SortKey::growth: return "growth";
        case SortKey::count: return "count";
        case SortKey::oldest: return "oldest";
    }
    return "?";
}

SortKey next_sort(SortKey key) {
    return key == SortKey::growth ? SortKey::count : key == SortKey::count ? SortKey::oldest : SortKey::growth;
}

SortKey previous_sort(SortKey key) { return next_sort(next_sort(key)); }

void TopTable::update(Report counts, double now_s) {
    std::map<int, std::vector<CountPoint>> seen;
    for (const Site& site : counts.sites) {
        std::vector<CountPoint>& series = seen[site.id];
        if (auto before = seen_.find(site.id); before != seen_.end()) {
            series = std::move(before->second);
        } else if (updates_ > 0) {
            series.push_back({last_update_s_, 0});  // not in the last answer: no fd of it was open
        }
        series.push_back({now_s, site.count});
        keep_window(series, now_s);
    }
    seen_ = std::move(seen);
    open_seen_.push_back({now_s, counts.open_count});
    keep_window(open_seen_, now_s);
    report_ = std::move(counts);
    last_update_s_ = now_s;
    ++updates_;
}

std::vector<TopRow> TopTable::rows(SortKey key) const {
    std::vector<TopRow> rows;
    for (const Site& site : report_.sites) {
        auto seen = seen_.find(site.id);
        rows.push_back({&site, rate_from(site.history, seen == seen_.end() ? nullptr : &seen->second),
                        site.call.empty() ? "?" : printable(site.call), where(site)});
    }
    auto by_key = [key](const TopRow& a, const TopRow& b) {
        switch (key) {
            case SortKey::growth:
                if (grows(a.per_minute) != grows(b.per_minute)) return grows(a.per_minute);
                if (grows(a.per_minute) && *a.per_minute != *b.per_minute) return *a.per_minute > *b.per_minute;
                break;
            case SortKey::oldest:
                if (a.site->oldest_age_s != b.site->oldest_age_s) return a.site->oldest_age_s > b.site->oldest_age_s;
                break;
            case SortKey::count: break;
        }
        if (a.site->count != b.site->count) return a.site->count > b.site->count;
        return a.site->id < b.site->id;
    };
    std::sort(rows.begin(), rows.end(), by_key);
    return rows;
}

std::optional<double> TopTable::open_per_minute() const { return rate_from(report_.open_history, &open_seen_); }

const Site* TopTable::site(int id) const {
    for (const Site& site : report_.sites) {
        if (site.id == id) return &site;
    }
    return nullptr;
}

std::string TopTable::where(const Site& site) const { return user_location(site, report_.user_paths); }

std::string format_rate(const std::optional<double>& per_minute) {
    if (!per_minute || !std::isfinite(*per_minute)) return "-";
    if (std::fabs(*per_minute) < kLeastRate) return "0";
    return fmt::format("{:+.1f}", *per_minute);
}

std::optional<double> fraction_of_limit(int open, uint64_t limit) {
    // RLIM_INFINITY, and 0 when the process could not read its limit.
    if (limit == 0 || limit == UINT64_MAX) return std::nullopt;
    return std::clamp(static_cast<double>(open) / static_cast<double>(limit), 0.0, 1.0);
}

std::string format_open_count(int open, uint64_t limit) {
    if (limit == UINT64_MAX) return fmt::format("{}/unlimited", open);
    if (limit == 0) return fmt::format("{}/?", open);
    return fmt::format("{}/{} ({:.0f}%)", open, limit, 100.0 * static_cast<double>(open) / static_cast<double>(limit));
}

std::vector<std::string> header_lines(const TopTable& table, int bar_width) {
    const Report& report = table.report();
    std::vector<std::string> lines;
    lines.push_back(fmt::format("fdtrack top: pid {} ({}), {}", report.pid,
                                report.program.empty() ? "?" : printable(report.program),
                                report.time.empty() ? "?" : printable(report.time)));
    if (!report.argv.empty()) {
        std::string command;
        for (const std::string& arg : report.argv) command += (command.empty() ? "" : " ") + printable(arg);
        lines.push_back("  command: " + command);
    }
    std::string bar;
    if (std::optional<double> used = fraction_of_limit(report.open_count, report.rlimit_nofile); used && bar_width > 0) {
        int full = static_cast<int>(std::lround(*used * bar_width));
        bar = fmt::format(" [{}{}]", std::string(full, '#'), std::string(bar_width - full, '.'));
    }
    std::vector<TopRow> rows = table.rows(SortKey::count);
    size_t growing = std::count_if(rows.begin(), rows.end(), [](const TopRow& row) { return grows(row.per_minute); });
    lines.push_back(fmt::format("  fds: {} open{}, {}/min; {} site{}, {} growing",
                                format_open_count(report.open_count, report.rlimit_nofile), bar,
                                format_rate(table.open_per_minute()), rows.size(), rows.size() == 1 ? "" : "s",
                                growing));
    if (report.open_before_attach) {
        lines.push_back(fmt::format("  attached: {} open before fdtrack attach, not counted in any site",
                                    *report.open_before_attach == 1 ? std::string("1 fd")
                                                                    : fmt::format("{} fds", *report.open_before_attach)));
    }
    return lines;
}

std::string table_title(bool utf8) {
    return fmt::format("{:>6} {:>8} {:>7}  {:<14} {}", "COUNT", utf8 ? "Δ/MIN" : "D/MIN", "OLDEST", "CALL", "WHERE");
}

std::string table_line(const TopRow& row) {
    return fmt::format("{:>6} {:>8} {:>7}  {:<14} {}", row.site->count, format_rate(row.per_minute),
                       format_age(row.site->oldest_age_s), row.call, row.where);
}

std::string render_plain(const TopTable& table, SortKey key, bool utf8) {
    std::string out;
    for (const std::string& line : header_lines(table)) out += line + "\n";
    out += "\n" + table_title(utf8) + "\n";
    std::vector<TopRow> rows = table.rows(key);
    for (const TopRow& row : rows) out += table_line(row) + "\n";
    if (rows.empty()) out += "(no tracked fd open)\n";
    return out + "\n";
}

}  // namespace fdtrack::cli
