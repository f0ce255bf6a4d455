// Each site's open count over time: the dump thread samples the per-stack
// counts (site_counts.h) every FDTRACK_INTERVAL seconds and keeps, per stack,
// the samples where its count changed, in bounded memory; every report
// carries them (docs/spec.md, "History").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fdtrack {

// One point of a series: at `time_s` (Unix time) the count was `count`.
struct HistoryPoint {
    int64_t time_s;
    int32_t count;
};

// About a day at full rate at the default interval (8192 samples of 10 s)
// before the older half of a series is thinned to every other point; at most
// kHistoryStacks stacks are followed: 256 × 8192 × 16 bytes = 32 MiB at worst
// (every count changing at every sample), a few KiB for a steady program.
inline constexpr size_t kHistoryPoints = 8192;
inline constexpr size_t kHistoryStacks = 256;

// Milliseconds until the next sample is due (the dump thread's poll timeout),
// -1 when history is off.
int next_sample_in_ms();

// Takes the samples that are due: the dump thread calls it when it wakes.
void sample_history_if_due();

// The merged series of `stacks` (one site), oldest first, ending with their
// count now; empty when no history was kept.
std::vector<HistoryPoint> history_of(const std::vector<uint32_t>& stacks);

// The same for all the process's open fds (not fdtrack's).
std::vector<HistoryPoint> open_fds_history();

// Stacks that had fds open but found no room among kHistoryStacks.
size_t stacks_without_history();

// In a fork child: the lock is free again, the parent's series stay (the
// child's counts start from the parent's fds).
void history_after_fork();

}  // namespace fdtrack
