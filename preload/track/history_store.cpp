// Where the history keeps its series (history_store.h).
#include "preload/track/history_store.h"

#include <sched.h>

#include <algorithm>

#include "preload/track/arena.h"
#include "preload/track/registry.h"

namespace fdtrack {
namespace {

constexpr int64_t kReaderWait_ns = 100'000'000;

// A full series keeps its newer half and every other point of the older.
uint32_t thin(HistoryPoint* points, uint32_t size) {
    uint32_t older = size / 2;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < size; ++i) {
        if (i < older && i % 2 == 1) continue;
        points[kept++] = points[i];
    }
    return kept;
}

// A series read while it was being thinned (beside its sampler, or in a fork
// child of a process forked then) holds points that go back in time: only
// those that go forward and change the count are kept, a series readers accept.
size_t tidy(HistoryPoint* points, size_t size) {
    size_t kept = 0;
    for (size_t i = 0; i < size; ++i) {
        const HistoryPoint* last = kept ? &points[kept - 1] : nullptr;
        if (last && (points[i].time_s < last->time_s || points[i].count == last->count)) continue;
        points[kept++] = points[i];
    }
    return kept;
}

}  // namespace

bool HistoryStore::try_hold() { return !held_.exchange(true, std::memory_order_acquire); }

bool HistoryStore::hold_a_while() {
    int64_t give_up = monotonic_ns() + kReaderWait_ns;
    while (!try_hold()) {
        if (monotonic_ns() >= give_up) return false;
        sched_yield();
    }
    return true;
}

void HistoryStore::release() { held_.store(false, std::memory_order_release); }

int HistoryStore::follow() {
    if (followed_ >= kHistoryStacks) {
        without_room_.fetch_add(1, std::memory_order_relaxed);
        return -1;
    }
    return static_cast<int>(followed_++);
}

void HistoryStore::record(int index, int64_t time_s, int32_t count) { append(stacks_[index], time_s, count); }

void HistoryStore::record_open_fds(int64_t time_s, int32_t count) { append(open_fds_, time_s, count); }

// Only changes are kept: a count holds until the next point. A time never
// goes back: readers refuse that.
void HistoryStore::append(Series& series, int64_t time_s, int32_t count) {
    HistoryPoint* points = series.points.load(std::memory_order_relaxed);
    if (!points) {
        // Reserved whole at the first point; the kernel backs its pages as they fill.
        points = static_cast<HistoryPoint*>(arena_alloc(kHistoryPoints * sizeof(HistoryPoint)));
        if (!points) return;  // out of memory: tried again at the next sample
        series.points.store(points, std::memory_order_release);
    }
    uint32_t size = series.size.load(std::memory_order_relaxed);
    if (size > 0) {
        const HistoryPoint& last = points[size - 1];
        if (last.count == count) return;
        time_s = std::max(time_s, last.time_s);
    }
    if (size >= kHistoryPoints) size = thin(points, size);
    points[size] = {time_s, count};
    series.size.store(size + 1, std::memory_order_release);
}

std::vector<HistoryPoint> HistoryStore::copy(const Series& series) {
    uint32_t size = std::min<uint32_t>(series.size.load(std::memory_order_acquire), kHistoryPoints);
    const HistoryPoint* points = series.points.load(std::memory_order_acquire);
    if (!points) return {};
    std::vector<HistoryPoint> out(points, points + size);
    out.resize(tidy(out.data(), out.size()));
    return out;
}

std::vector<HistoryPoint> HistoryStore::series(int index) const { return copy(stacks_[index]); }

std::vector<HistoryPoint> HistoryStore::open_fds() const { return copy(open_fds_); }

void HistoryStore::after_fork() {
    if (!held_.load(std::memory_order_relaxed)) return;
    auto put_in_order = [](Series& series) {
        HistoryPoint* points = series.points.load(std::memory_order_relaxed);
        uint32_t size = series.size.load(std::memory_order_relaxed);
        if (points) series.size.store(static_cast<uint32_t>(tidy(points, size)), std::memory_order_relaxed);
    };
    for (Series& series : stacks_) put_in_order(series);
    put_in_order(open_fds_);
    release();
}

}  // namespace fdtrack
