// Unit tests of the history: sampling is safe from any hook (no allocation, a
// nested sample skips, errno kept), points are dated by the count's change,
// and the store stays bounded (thinning, stacks without room).
#include "preload/track/history.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <vector>

#include "preload/track/config.h"
#include "preload/track/history_store.h"
#include "preload/track/registry.h"
#include "preload/track/site_counts.h"

// Every allocation of this test binary goes through these (the executable's
// definitions come first in symbol lookup: libstdc++'s operator new calls
// them too), so a test can count what a call allocated.
extern "C" void* __libc_malloc(size_t size);
extern "C" void* __libc_calloc(size_t count, size_t size);
extern "C" void* __libc_realloc(void* old, size_t size);
extern "C" void* __libc_memalign(size_t alignment, size_t size);

namespace {
std::atomic<bool> g_watching{false};
std::atomic<int> g_allocations{0};

void note_allocation() {
    if (g_watching.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" void* malloc(size_t size) {
    note_allocation();
    return __libc_malloc(size);
}
extern "C" void* calloc(size_t count, size_t size) {
    note_allocation();
    return __libc_calloc(count, size);
}
extern "C" void* realloc(void* old, size_t size) {
    note_allocation();
    return __libc_realloc(old, size);
}
extern "C" void* memalign(size_t alignment, size_t size) {
    note_allocation();
    return __libc_memalign(alignment, size);
}
extern "C" void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
extern "C" int posix_memalign(void** out, size_t alignment, size_t size) {
    void* memory = memalign(alignment, size);
    if (!memory) return ENOMEM;
    *out = memory;
    return 0;
}

namespace fdtrack {
namespace {

// Counts the allocations made while it lives.
class AllocationWatch {
public:
    AllocationWatch() {
        g_allocations.store(0);
        g_watching.store(true);
    }
    ~AllocationWatch() { g_watching.store(false); }
    int count() const { return g_allocations.load(); }
};

// Ids and fds of their own: other tests count stacks and fill registry slots too.
uint32_t fresh_stack() {
    static uint32_t next = 5000;
    return next++;
}

int fresh_fd() {
    static int next = 3000;
    return next++;
}

// An fd opened from stack `stack`, as a hook records it.
int open_from(uint32_t stack) {
    FdInfo info;
    info.origin = Origin::tracked;
    info.call = "openat";
    info.stack = stack;
    int fd = fresh_fd();
    registry().put(fd, info);
    return fd;
}

void sample_now() {
    make_history_sample_due();
    sample_history_if_due();
}

TEST(HistoryTest, TheAllocationWatchSeesMallocAndNew) {
    AllocationWatch watch;
    void* memory = malloc(24);
    asm volatile("" : : "r"(memory) : "memory");  // the compiler may not drop the pair
    free(memory);
    int* number = new int(7);
    asm volatile("" : : "r"(number) : "memory");
    delete number;
    EXPECT_EQ(watch.count(), 2);
}

TEST(HistoryTest, SamplingAllocatesNothingAndKeepsErrno) {
    config();  // read by the library's constructor in a traced process, before any hook
    uint32_t stack = fresh_stack();
    int fd = open_from(stack);  // a stack not followed yet: this sample maps its series
    make_history_sample_due();
    int allocations;
    errno = 4242;
    {
        AllocationWatch watch;
        sample_history_if_due();
        allocations = watch.count();
    }
    EXPECT_EQ(errno, 4242);
    EXPECT_EQ(allocations, 0);
    EXPECT_GT(next_sample_in_ms(), 0);  // it did sample
    EXPECT_NE(history_slot(stack), 0u);  // and followed the new stack
    registry().remove(fd);
}

bool g_handler_sampled = false;

TEST(HistoryTest, ANestedSampleReturnsAtOnce) {
    make_history_sample_due();
    ASSERT_TRUE(try_hold_history_flag());  // a sample in progress, interrupted
    struct sigaction nested = {}, old = {};
    nested.sa_handler = [](int) {
        sample_history_if_due();  // a hook inside the program's signal handler
        g_handler_sampled = true;
    };
    sigemptyset(&nested.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR2, &nested, &old), 0);
    raise(SIGUSR2);
    sigaction(SIGUSR2, &old, nullptr);
    EXPECT_TRUE(g_handler_sampled);
    sample_history_if_due();
    EXPECT_EQ(next_sample_in_ms(), 0);  // neither took the sample: it is still due
    release_history_flag();
    sample_history_if_due();
    EXPECT_GT(next_sample_in_ms(), 0);
}

TEST(HistoryTest, AReaderReadsAfterABoundedWait) {
    uint32_t stack = fresh_stack();
    int fd = open_from(stack);
    sample_now();
    ASSERT_TRUE(try_hold_history_flag());  // e.g. a fork child's copy of a flag held mid-sample
    int64_t start = monotonic_ns();
    std::vector<HistoryPoint> read = history_of({stack});
    int64_t waited_ms = (monotonic_ns() - start) / 1000000;
    release_history_flag();
    EXPECT_GE(waited_ms, 50);
    EXPECT_LT(waited_ms, 1000);
    ASSERT_FALSE(read.empty());
    EXPECT_EQ(read.back().count, 1);
    registry().remove(fd);
}

TEST(HistoryTest, ALateSampleDatesPointsByTheirChange) {
    uint32_t stack = fresh_stack();
    sample_now();  // the sample before the change
    // The change alone in its second: reports merge the steps of one second.
    int64_t before_s = wall_clock_seconds();
    while (wall_clock_seconds() == before_s) usleep(10000);
    int fd = open_from(stack);
    int64_t changed_s = count_changed_s(stack);
    int64_t live_changed_s = registry().live_changed_s();
    int live = registry().live_count();
    ASSERT_NE(changed_s, 0);
    while (wall_clock_seconds() <= changed_s + 1) usleep(50000);
    sample_now();  // a second or two late

    std::vector<HistoryPoint> site = history_of({stack});
    // Dated by the change: from the next whole second on, which the sample
    // a second or two later is not.
    ASSERT_EQ(site.size(), 2u);  // the change, then the report's moment
    EXPECT_EQ(site[0].time_s, changed_s + 1);
    EXPECT_EQ(site[0].count, 1);
    EXPECT_GT(site[1].time_s, changed_s + 1);

    std::vector<HistoryPoint> open = open_fds_history();
    ASSERT_GE(open.size(), 2u);
    EXPECT_EQ(open[open.size() - 2].time_s, live_changed_s + 1);
    EXPECT_EQ(open[open.size() - 2].count, live);
    registry().remove(fd);
}

TEST(HistoryStoreTest, TimesNeverGoBack) {
    HistoryStore store;
    ASSERT_TRUE(store.try_hold());
    int index = store.follow();
    store.record(index, 2000, 1);
    store.record(index, 1500, 2);  // a stamp older than the last point: a clock set back
    store.record(index, 2500, 2);  // no change: no point
    std::vector<HistoryPoint> series = store.series(index);
    ASSERT_EQ(series.size(), 2u);
    EXPECT_EQ(series[1].time_s, 2000);
    EXPECT_EQ(series[1].count, 2);
}

TEST(HistoryStoreTest, AFullSeriesKeepsItsNewerHalf) {
    HistoryStore store;
    ASSERT_TRUE(store.try_hold());
    int index = store.follow();
    for (int i = 0; i < static_cast<int>(kHistoryPoints); ++i) store.record(index, 1000 + i, i + 1);
    std::vector<HistoryPoint> full = store.series(index);
    ASSERT_EQ(full.size(), kHistoryPoints);

    store.record(index, 1000 + kHistoryPoints, kHistoryPoints + 1);
    std::vector<HistoryPoint> thinned = store.series(index);
    size_t older = kHistoryPoints / 2;
    ASSERT_EQ(thinned.size(), older / 2 + older + 1);
    for (size_t i = 0; i < older / 2; ++i) {
        EXPECT_EQ(thinned[i].time_s, full[2 * i].time_s) << i;
    }
    for (size_t i = 0; i < older; ++i) {
        EXPECT_EQ(thinned[older / 2 + i].time_s, full[older + i].time_s) << i;
        EXPECT_EQ(thinned[older / 2 + i].count, full[older + i].count) << i;
    }
    EXPECT_EQ(thinned.back().time_s, static_cast<int64_t>(1000 + kHistoryPoints));
}

TEST(HistoryStoreTest, The257thStackHasNoRoom) {
    HistoryStore store;
    ASSERT_TRUE(store.try_hold());
    for (size_t i = 0; i < kHistoryStacks; ++i) ASSERT_EQ(store.follow(), static_cast<int>(i));
    EXPECT_EQ(store.without_room(), 0u);
    EXPECT_EQ(store.follow(), -1);
    EXPECT_EQ(store.without_room(), 1u);
}

TEST(HistoryStoreTest, AForkChildFreesAFlagHeldAtTheFork) {
    HistoryStore store;
    ASSERT_TRUE(store.try_hold());
    EXPECT_FALSE(store.try_hold());
    store.after_fork();
    EXPECT_TRUE(store.try_hold());
}

// Last of the history tests: it fills the process's stacks.
TEST(HistoryTest, EachStackWithoutRoomIsCountedOnce) {
    std::vector<int> fds;
    for (size_t i = 0; i < kHistoryStacks + 10; ++i) fds.push_back(open_from(fresh_stack()));
    size_t before = stacks_without_history();
    sample_now();
    size_t after = stacks_without_history();
    EXPECT_GE(after - before, 10u);
    fds.push_back(open_from(fresh_stack()));
    sample_now();
    EXPECT_EQ(stacks_without_history(), after + 1);
    for (int fd : fds) registry().remove(fd);
}

}  // namespace
}  // namespace fdtrack
