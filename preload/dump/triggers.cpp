// The automatic dump triggers: the open count reaching FDTRACK_THRESHOLD, and
// a hooked call failing with "Too many open files".
#include "preload/dump/triggers.h"

#include <sys/resource.h>
#include <time.h>

#include <atomic>

#include "preload/track/config.h"
#include "preload/dump/dump_thread.h"
#include "preload/track/registry.h"

namespace fdtrack {
namespace {

std::atomic<int> g_threshold{0};  // 0 = not computed yet
std::atomic<bool> g_armed{true};

int threshold() {
    int value = g_threshold.load(std::memory_order_relaxed);
    if (value) return value;
    int64_t configured = config().threshold;
    if (configured > 0) {
        value = static_cast<int>(configured);
    } else {
        rlimit limit{};
        getrlimit(RLIMIT_NOFILE, &limit);
        rlim_t soft = limit.rlim_cur > (1u << 30) ? (1u << 30) : limit.rlim_cur;
        value = static_cast<int>(soft * 9 / 10);
        if (value < 1) value = 1;
    }
    g_threshold.store(value, std::memory_order_relaxed);
    return value;
}

}  // namespace

void fd_count_rose() {
    int count = registry().live_count();
    if (count < threshold() || !g_armed.load(std::memory_order_relaxed)) return;
    if (g_armed.exchange(false)) request_dump(kDumpThreshold);
}

void reset_triggers() {
    g_threshold.store(0, std::memory_order_relaxed);
    g_armed.store(true, std::memory_order_relaxed);
}

bool threshold_still_reached() { return registry().live_count() >= threshold(); }

void fd_count_fell() {
    // Re-arm only well below the threshold, so a count hovering around it does
    // not dump on every crossing.
    if (!g_armed.load(std::memory_order_relaxed) && registry().live_count() < threshold() * 3 / 4) {
        g_armed.store(true, std::memory_order_relaxed);
    }
}

// A program at its limit keeps failing (a server retrying accept()): each
// failure used to write the dump thread's eventfd and wake it, which made a
// failing call cost 3.4x. Only the first failure of each interval asks.
// time() is read from the vDSO's page in under a nanosecond, 5 times faster
// than even CLOCK_MONOTONIC_COARSE: the clock is what a failing call spent
// most of its time in fdtrack on. It is the wall clock, so one set back
// ends the interval instead of stretching it.
void out_of_fds() {
    static std::atomic<int64_t> last_s{0};  // 0: never asked
    int64_t now = wall_clock_seconds(), last = last_s.load(std::memory_order_relaxed);
    if (last && now >= last && now < last + kEmfileDumpInterval_s) return;
    if (!last_s.compare_exchange_strong(last, now)) return;  // another thread asks
    request_dump(kDumpEmfile);
}

}  // namespace fdtrack
