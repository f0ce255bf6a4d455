// Where the history (history.h) keeps its series: bounded, in memory from
// the arena (no malloc), written by one sampler at a time under a flag that
// samplers only try, so that a hook inside a signal handler, or on another
// thread, skips a sample rather than waits; readers may read without it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "preload/track/history.h"

namespace fdtrack {

class HistoryStore {
public:
    // The samplers' flag: taken only if free. A sample that finds it taken
    // interrupted another (or runs beside one) and is skipped.
    bool try_hold();
    // The readers' way: waits up to about 100 ms. False when it waited in
    // vain (a fork child's copy of a flag held mid-sample, a stopped
    // thread): the caller reads all the same, and does not release it.
    bool hold_a_while();
    void release();

    // Holding the flag. A series for one more stack: its index, or -1 when
    // kHistoryStacks are followed already (counted in without_room()).
    int follow();
    // Holding the flag. Adds a point to stack series `index`, or to the
    // process's, when `count` differs from its last; at `time_s`, or at the
    // last point's time if that is later (a clock set back, a stale stamp).
    void record(int index, int64_t time_s, int32_t count);
    void record_open_fds(int64_t time_s, int32_t count);

    // Copies, oldest first, safe to take without the flag too.
    std::vector<HistoryPoint> series(int index) const;
    std::vector<HistoryPoint> open_fds() const;
    size_t without_room() const { return without_room_.load(std::memory_order_relaxed); }

    // In a fork child: a flag held at the fork is free again, and a series
    // caught mid-change is put back in order.
    void after_fork();

private:
    struct Series {
        // Points [0, size) are written; the size is published after the point.
        std::atomic<HistoryPoint*> points{nullptr};
        std::atomic<uint32_t> size{0};
    };
    static void append(Series& series, int64_t time_s, int32_t count);
    static std::vector<HistoryPoint> copy(const Series& series);

    std::atomic<bool> held_{false};
    Series stacks_[kHistoryStacks];
    Series open_fds_;
    uint32_t followed_ = 0;  // under the flag
    std::atomic<size_t> without_room_{0};
};

}  // namespace fdtrack
