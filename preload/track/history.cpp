// Each site's open count over time (history.h).
#include "preload/track/history.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "preload/track/config.h"
#include "preload/track/fork_safe_mutex.h"
#include "preload/track/registry.h"
#include "preload/track/site_counts.h"

namespace fdtrack {
namespace {

using Series = std::vector<HistoryPoint>;

struct History {
    int64_t next_due_ns = 0;  // CLOCK_MONOTONIC
    std::unordered_map<uint32_t, Series> stacks;
    Series open_fds;
    size_t without_room = 0;
};

// Sampled on the dump thread, read by whichever thread writes a report.
// Allocated at the first sample, never freed: exit reports come after static
// destructors.
constinit History* g_history = nullptr;
constinit ForkSafeMutex g_lock;
constinit int64_t g_retry_ns = 0;  // when to try again to allocate the history


int64_t unix_time_s() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

// A full series keeps its newer half and every other point of the older.
void thin(Series& series) {
    size_t older = series.size() / 2;
    size_t kept = 0;
    for (size_t i = 0; i < series.size(); ++i) {
        if (i < older && i % 2 == 1) continue;
        series[kept++] = series[i];
    }
    series.resize(kept);
}

// Only changes are kept: a count holds until the next point. A wall clock
// set back (NTP, a resumed VM) never makes a time go back: readers refuse that.
void append(Series& series, int64_t time_s, int32_t count) {
    if (!series.empty() && series.back().count == count) return;
    if (!series.empty()) time_s = std::max(time_s, series.back().time_s);
    if (series.size() >= kHistoryPoints) thin(series);
    series.push_back({time_s, count});
}

// The value of a step function at `time_s` (0 before its first point).
int32_t count_at(const Series& series, int64_t time_s) {
    auto after = std::upper_bound(series.begin(), series.end(), time_s,
                                  [](int64_t t, const HistoryPoint& p) { return t < p.time_s; });
    return after == series.begin() ? 0 : std::prev(after)->count;
}

}  // namespace

int next_sample_in_ms() {
    int interval = config().interval_s;
    if (interval <= 0) return -1;
    std::lock_guard lock(g_lock);
    int64_t due = g_history ? g_history->next_due_ns : g_retry_ns;  // none yet: at once, or after a failed allocation
    int64_t left = due - monotonic_ns();
    return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left / 1000000 + 1, interval * 1000));
}

void sample_history_if_due() {
    int interval = config().interval_s;
    if (interval <= 0) return;
    std::lock_guard lock(g_lock);
    int64_t now = monotonic_ns();
    try {
        if (!g_history) g_history = new History;
        History& h = *g_history;
        if (now < h.next_due_ns) return;
        h.next_due_ns = now + int64_t{interval} * 1000000000;
        int64_t time_s = unix_time_s();
        append(h.open_fds, time_s, registry().live_count());
        for (uint32_t id = 1, end = counted_ids(); id < end; ++id) {
            int32_t count = open_count(id);
            auto found = h.stacks.find(id);
            if (found == h.stacks.end()) {
                if (count <= 0) continue;
                if (h.stacks.size() >= kHistoryStacks) {
                    ++h.without_room;
                    continue;
                }
                found = h.stacks.emplace(id, Series{}).first;
            }
            append(found->second, time_s, count);
        }
    } catch (...) {
        // Out of memory: the samples so far stay; a first one is tried again at the interval.
        g_retry_ns = now + int64_t{interval} * 1000000000;
    }
}

namespace {

// `parts` merged into one series ending at `now_count` now (under the lock).
std::vector<HistoryPoint> merged(const std::vector<const Series*>& parts, int32_t now_count) {
    std::vector<int64_t> times;
    for (const Series* part : parts) {
        for (const HistoryPoint& p : *part) times.push_back(p.time_s);
    }
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    std::vector<HistoryPoint> sum;
    for (int64_t t : times) {
        int32_t count = 0;
        for (const Series* part : parts) count += count_at(*part, t);
        if (sum.empty() || sum.back().count != count) sum.push_back({t, count});
    }
    // The report's own moment ends every history, changed or not.
    int64_t time_s = sum.empty() ? unix_time_s() : std::max(unix_time_s(), sum.back().time_s);
    if (!sum.empty() && sum.back().time_s == time_s) sum.back().count = now_count;
    else sum.push_back({time_s, now_count});
    return sum;
}

}  // namespace

std::vector<HistoryPoint> history_of(const std::vector<uint32_t>& stacks) {
    int32_t now_count = 0;
    for (uint32_t id : stacks) now_count += open_count(id);
    std::lock_guard lock(g_lock);
    if (!g_history) return {};
    std::vector<const Series*> parts;
    for (uint32_t id : stacks) {
        auto found = g_history->stacks.find(id);
        if (found != g_history->stacks.end()) parts.push_back(&found->second);
    }
    return merged(parts, now_count);
}

std::vector<HistoryPoint> open_fds_history() {
    int32_t now_count = registry().live_count();
    std::lock_guard lock(g_lock);
    if (!g_history) return {};
    return merged({&g_history->open_fds}, now_count);
}

size_t stacks_without_history() {
    std::lock_guard lock(g_lock);
    return g_history ? g_history->without_room : 0;
}

void history_after_fork() {
    if (g_lock.reset_after_fork()) g_history = nullptr;  // caught mid-sample: a new one (the old is left, not freed)
}

}  // namespace fdtrack
