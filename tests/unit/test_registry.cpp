// Unit tests of the fd registry: slot semantics, large fd numbers, and
// concurrent writers and readers.
#include "preload/track/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace fdtrack {
namespace {

// The registry is a process-wide singleton; each test uses its own fd range.
FdInfo tracked(const char* call, uint32_t stack) {
    FdInfo info;
    info.origin = Origin::tracked;
    info.call = call;
    info.stack = stack;
    info.tid = 42;
    info.created_ns = 1234;
    strcpy(info.thread, "worker");
    return info;
}

TEST(Registry, PutGetRemove) {
    Registry& r = registry();
    int before = r.live_count();
    r.put(100, tracked("openat", 7));
    FdInfo got = r.get(100);
    EXPECT_EQ(got.origin, Origin::tracked);
    EXPECT_STREQ(got.call, "openat");
    EXPECT_EQ(got.stack, 7u);
    EXPECT_EQ(got.tid, 42);
    EXPECT_EQ(got.created_ns, 1234);
    EXPECT_STREQ(got.thread, "worker");
    EXPECT_EQ(r.live_count(), before + 1);
    FdInfo removed;
    EXPECT_EQ(r.remove(100, &removed), Origin::tracked);
    EXPECT_STREQ(removed.call, "openat");
    // A closed tracked fd keeps its opener, so a second close can be named.
    FdInfo after = r.get(100);
    EXPECT_EQ(after.origin, Origin::closed);
    EXPECT_EQ(after.stack, 7u);
    EXPECT_EQ(r.remove(100), Origin::closed);
    EXPECT_EQ(r.live_count(), before);
    r.put_inherited(100);  // a closed slot is free again
    EXPECT_EQ(r.get(100).origin, Origin::inherited);
    EXPECT_EQ(r.remove(100), Origin::inherited);
    // So does a closed inherited fd (with no opener): closing it again is a
    // double close too.
    EXPECT_EQ(r.get(100).origin, Origin::closed);
    EXPECT_EQ(r.get(100).stack, 0u);
    EXPECT_EQ(r.remove(100), Origin::closed);
}

TEST(Registry, StreamOwnershipIsKept) {
    Registry& r = registry();
    FdInfo info = tracked("fopen", 5);
    info.held_by_stream = true;
    r.put(105, info);
    EXPECT_TRUE(r.get(105).held_by_stream);
    r.put(105, tracked("open", 6));
    EXPECT_FALSE(r.get(105).held_by_stream);
    r.remove(105);
}

TEST(Registry, PutReplacesAMissedClose) {
    Registry& r = registry();
    int before = r.live_count();
    r.put(110, tracked("open", 1));
    r.put(110, tracked("dup2", 2));  // dup2 onto a live fd closes it implicitly
    EXPECT_STREQ(r.get(110).call, "dup2");
    EXPECT_EQ(r.live_count(), before + 1);
    r.remove(110);
}

TEST(Registry, InheritedNeverOverwritesATrackedRecord) {
    Registry& r = registry();
    r.put(120, tracked("socket", 3));
    r.put_inherited(120);
    EXPECT_EQ(r.get(120).origin, Origin::tracked);
    r.put_inherited(121);
    EXPECT_EQ(r.get(121).origin, Origin::inherited);
    r.remove(120);
    r.remove(121);
}

TEST(Registry, OwnFdsAreNotCounted) {
    Registry& r = registry();
    int before = r.live_count();
    FdInfo own;
    own.origin = Origin::own;
    r.put(130, own);
    EXPECT_EQ(r.origin(130), Origin::own);
    EXPECT_EQ(r.live_count(), before);
    r.remove(130);
    EXPECT_EQ(r.live_count(), before);
}

TEST(Registry, AnyFdNumberFitsWithoutACap) {
    Registry& r = registry();
    for (int fd : {4095, 4096, 1 << 20, (1 << 30) + 5}) {
        r.put(fd, tracked("open", 9));
        EXPECT_EQ(r.get(fd).origin, Origin::tracked) << fd;
        EXPECT_GE(r.max_fd(), fd);
        r.remove(fd);
    }
    EXPECT_EQ(r.get(-1).origin, Origin::empty);
    EXPECT_EQ(r.get(1 << 29).origin, Origin::empty);  // never mapped
}

// Writers on distinct fds (as the kernel guarantees) while a reader scans:
// every read is a consistent record, and the final state is exact.
TEST(Registry, ConcurrentWritersAndAReader) {
    Registry& r = registry();
    constexpr int kThreads = 8, kFdsPerThread = 64, kRounds = 2000, kBase = 10000;
    int before = r.live_count();
    std::atomic<bool> done{false};
    std::atomic<int> torn{0};
    std::thread reader([&] {
        while (!done.load()) {
            for (int fd = kBase; fd < kBase + kThreads * kFdsPerThread; ++fd) {
                FdInfo info = r.get(fd);
                if (info.origin == Origin::tracked && info.stack != static_cast<uint32_t>(fd)) ++torn;
            }
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
        writers.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                for (int i = 0; i < kFdsPerThread; ++i) {
                    int fd = kBase + t * kFdsPerThread + i;
                    if ((round + i) % 2) r.put(fd, tracked("pipe", static_cast<uint32_t>(fd)));
                    else r.remove(fd);
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    done = true;
    reader.join();
    EXPECT_EQ(torn.load(), 0);
    int live = 0;
    for (int fd = kBase; fd < kBase + kThreads * kFdsPerThread; ++fd) live += r.get(fd).origin == Origin::tracked;
    // The others were closed: free slots that remember their opener.
    for (int fd = kBase; fd < kBase + kThreads * kFdsPerThread; ++fd) {
        Origin origin = r.get(fd).origin;
        EXPECT_TRUE(origin == Origin::tracked || origin == Origin::closed) << fd;
    }
    // The last round (kRounds - 1, odd) left the fds with even i in place.
    EXPECT_EQ(live, kThreads * kFdsPerThread / 2);
    EXPECT_EQ(r.live_count(), before + live);
    for (int fd = kBase; fd < kBase + kThreads * kFdsPerThread; ++fd) r.remove(fd);
}

}  // namespace
}  // namespace fdtrack
