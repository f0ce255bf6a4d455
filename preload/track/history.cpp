// Each site's open count over time (history.h).
#include "preload/track/history.h"

#include <errno.h>

#include <algorithm>
#include <atomic>

#include "preload/track/config.h"
#include "preload/track/history_store.h"
#include "preload/track/registry.h"
#include "preload/track/site_counts.h"

namespace fdtrack {
namespace {

// Never destroyed: exit reports come after static destructors.
constinit HistoryStore g_store;
// CLOCK_MONOTONIC; 0 until the first sample: due at once.
constinit std::atomic<int64_t> g_next_due_ns{0};
// The wall-clock second before it: what a hook looks at first (time() from
// the vDSO costs a nanosecond, the monotonic clock 20).
constinit std::atomic<int64_t> g_next_due_s{0};
constinit std::atomic<bool> g_sampled{false};

// A stack's history_slot (site_counts.h): 0 not followed yet, the series
// index + 1, or this when it found no room (counted once).
constexpr uint32_t kNoRoom = UINT32_MAX;

// When a count that changed in second `changed_s` held: from the next whole
// second on (a change at 12.9 s holds at 13, not at 12; a growth judged by
// the second half of a history must not see it early), never after this
// sample; `now_s` for a count that never changed.
int64_t changed_or(int64_t changed_s, int64_t now_s) { return changed_s ? std::min(changed_s + 1, now_s) : now_s; }

// Holding the flag. Each point is dated by its count's last change, not by
// this sample: one taken late (no hook ran for an hour) dates a burst as
// one taken in time would.
void record_counts() {
    int64_t now_s = wall_clock_seconds();
    int32_t live = registry().live_count();
    g_store.record_open_fds(changed_or(registry().live_changed_s(), now_s), live);
    for (uint32_t id = 1, end = counted_ids(); id < end; ++id) {
        uint32_t slot = history_slot(id);
        if (slot == kNoRoom) continue;
        int32_t count = open_count(id);
        if (slot == 0) {
            if (count <= 0) continue;
            int index = g_store.follow();
            slot = index < 0 ? kNoRoom : static_cast<uint32_t>(index) + 1;
            set_history_slot(id, slot);
            if (slot == kNoRoom) continue;
        }
        g_store.record(static_cast<int>(slot - 1), changed_or(count_changed_s(id), now_s), count);
    }
    g_sampled.store(true, std::memory_order_release);
}

void sample(int64_t now_ns) {
    int interval = config().interval_s;
    if (interval <= 0) {
        // Looked at again in a second, not never: a new attach may set an interval.
        g_next_due_ns.store(now_ns + 1000000000, std::memory_order_relaxed);
        return;
    }
    if (!g_store.try_hold()) return;  // a sample in progress, which this hook interrupted or runs beside
    // Another thread may have sampled between the caller's look and the flag.
    if (now_ns >= g_next_due_ns.load(std::memory_order_relaxed)) {
        g_next_due_ns.store(now_ns + int64_t{interval} * 1000000000, std::memory_order_relaxed);
        g_next_due_s.store(wall_clock_seconds() + interval - 1, std::memory_order_relaxed);
        record_counts();
    }
    g_store.release();
}

}  // namespace

int next_sample_in_ms() {
    int interval = config().interval_s;
    if (interval <= 0) return -1;
    int64_t left = g_next_due_ns.load(std::memory_order_relaxed) - monotonic_ns();
    return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left / 1000000 + 1, interval * 1000));
}

void sample_history_if_due() {
    // A wall clock set back leaves the second far ahead: the monotonic clock decides.
    int interval = config().interval_s;
    if (interval <= 0) return;
    int64_t now_s = wall_clock_seconds(), due_s = g_next_due_s.load(std::memory_order_relaxed);
    if (now_s < due_s && due_s - now_s < interval) return;
    int64_t now_ns = monotonic_ns();
    if (now_ns < g_next_due_ns.load(std::memory_order_relaxed)) return;
    int saved_errno = errno;  // a hook's caller reads the errno of the call it made
    sample(now_ns);
    errno = saved_errno;
}

namespace {

// The value of a step function at `time_s` (0 before its first point).
int32_t count_at(const std::vector<HistoryPoint>& series, int64_t time_s) {
    auto after = std::upper_bound(series.begin(), series.end(), time_s,
                                  [](int64_t t, const HistoryPoint& p) { return t < p.time_s; });
    return after == series.begin() ? 0 : std::prev(after)->count;
}

// `parts` merged into one series ending at `now_count` now.
std::vector<HistoryPoint> merged(const std::vector<std::vector<HistoryPoint>>& parts, int32_t now_count) {
    std::vector<int64_t> times;
    for (const auto& part : parts) {
        for (const HistoryPoint& p : part) times.push_back(p.time_s);
    }
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    std::vector<HistoryPoint> sum;
    for (int64_t t : times) {
        int32_t count = 0;
        for (const auto& part : parts) count += count_at(part, t);
        if (sum.empty() || sum.back().count != count) sum.push_back({t, count});
    }
    // The report's own moment ends every history, changed or not.
    int64_t now_s = wall_clock_seconds();
    int64_t time_s = sum.empty() ? now_s : std::max(now_s, sum.back().time_s);
    if (!sum.empty() && sum.back().time_s == time_s) sum.back().count = now_count;
    else sum.push_back({time_s, now_count});
    return sum;
}

// Readers hold the flag while they copy, so that no sample changes a series
// under them; one that cannot get it reads anyway (history_store.h).
class ReadHold {
public:
    ReadHold() : held_(g_store.hold_a_while()) {}
    ~ReadHold() {
        if (held_) g_store.release();
    }
    ReadHold(const ReadHold&) = delete;
    ReadHold& operator=(const ReadHold&) = delete;

private:
    bool held_;
};

}  // namespace

std::vector<HistoryPoint> history_of(const std::vector<uint32_t>& stacks) {
    int32_t now_count = 0;
    for (uint32_t id : stacks) now_count += open_count(id);
    if (!g_sampled.load(std::memory_order_acquire)) return {};
    std::vector<std::vector<HistoryPoint>> parts;
    {
        ReadHold hold;
        for (uint32_t id : stacks) {
            uint32_t slot = history_slot(id);
            if (slot != 0 && slot != kNoRoom) parts.push_back(g_store.series(static_cast<int>(slot - 1)));
        }
    }
    return merged(parts, now_count);
}

std::vector<HistoryPoint> open_fds_history() {
    int32_t now_count = registry().live_count();
    if (!g_sampled.load(std::memory_order_acquire)) return {};
    std::vector<std::vector<HistoryPoint>> parts;
    {
        ReadHold hold;
        parts.push_back(g_store.open_fds());
    }
    return merged(parts, now_count);
}

size_t stacks_without_history() { return g_store.without_room(); }

void history_after_fork() { g_store.after_fork(); }

void make_history_sample_due() {
    g_next_due_ns.store(0, std::memory_order_relaxed);
    g_next_due_s.store(0, std::memory_order_relaxed);
}

bool try_hold_history_flag() { return g_store.try_hold(); }

void release_history_flag() { g_store.release(); }

}  // namespace fdtrack
