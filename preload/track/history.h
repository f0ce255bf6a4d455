// Each site's open count over time: every FDTRACK_INTERVAL seconds whoever
// calls sample_history_if_due() (the dump thread; a hook may too) samples the
// per-stack counts (site_counts.h), kept per stack where the count changed,
// dated by the change, in bounded memory; every report carries them
// (docs/spec.md, "History").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fdtrack {

// One point of a series: at `time_s` (Unix time) the count became `count`.
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

// Takes the samples that are due. Callable from any hook, signal handler or
// thread: when none is due it costs a clock read and a relaxed load; it never
// blocks (a sample another one is taking is skipped), never allocates, and
// leaves errno as it was.
void sample_history_if_due();

// The merged series of `stacks` (one site), oldest first, ending with their
// count now; empty when no history was kept.
std::vector<HistoryPoint> history_of(const std::vector<uint32_t>& stacks);

// The same for all the process's open fds (not fdtrack's).
std::vector<HistoryPoint> open_fds_history();

// Stacks that had fds open but found no room among kHistoryStacks.
size_t stacks_without_history();

// In a fork child: the samplers' flag is free again, the parent's series
// stay (the child's counts start from the parent's fds).
void history_after_fork();

// For tests: the next sample_history_if_due() samples, whenever the last one did.
void make_history_sample_due();
// For tests: takes (if free) and releases the flag a sampler holds, as a hook
// that interrupts a sample in progress finds it.
bool try_hold_history_flag();
void release_history_flag();

}  // namespace fdtrack
