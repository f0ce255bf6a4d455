// Unit tests of stack interning: identical stacks share one id, Python names
// are resolved once per new stack, a thread's last stack is only reused for
// the same frames, and concurrent interning stays exact.
#include "preload/track/stack_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace fdtrack {
namespace {

std::atomic<int> g_resolved{0};

void resolve(const PyFrameKey& key, PyFrameText* out) {
    ++g_resolved;
    *out = {"app.py", "handler", static_cast<int>(key.line_and_hash)};
}

const StackNode* find(uint32_t id) {
    const StackNode* found = nullptr;
    stack_table().for_each([&](const StackNode& n) {
        if (n.id == id) found = &n;
    });
    return found;
}

TEST(StackTable, IdenticalStacksAreInternedOnce) {
    uintptr_t a[] = {0x1000, 0x2000, 0x3000};
    uintptr_t b[] = {0x1000, 0x2000, 0x3001};
    uint32_t first = stack_table().intern(a, 3, nullptr, 0, nullptr);
    EXPECT_NE(first, 0u);
    EXPECT_EQ(stack_table().intern(a, 3, nullptr, 0, nullptr), first);
    EXPECT_NE(stack_table().intern(b, 3, nullptr, 0, nullptr), first);
    EXPECT_NE(stack_table().intern(a, 2, nullptr, 0, nullptr), first);  // a prefix is another stack
    const StackNode* node = find(first);
    ASSERT_NE(node, nullptr);
    ASSERT_EQ(node->n_native, 3);
    EXPECT_EQ(node->native[2], 0x3000u);
}

TEST(StackTable, PythonFramesArePartOfTheStackAndNamedOnce) {
    uintptr_t native[] = {0xa000, 0xb000};
    PyFrameKey py[] = {{0x55, 27}, {0x66, 3}};
    int resolved_before = g_resolved.load();
    uint32_t id = stack_table().intern(native, 2, py, 2, resolve);
    EXPECT_EQ(g_resolved.load(), resolved_before + 2);
    EXPECT_EQ(stack_table().intern(native, 2, py, 2, resolve), id);
    EXPECT_EQ(g_resolved.load(), resolved_before + 2);  // known stack: no new resolution
    PyFrameKey other[] = {{0x55, 28}, {0x66, 3}};
    EXPECT_NE(stack_table().intern(native, 2, other, 2, resolve), id);
    EXPECT_NE(stack_table().intern(native, 2, nullptr, 0, resolve), id);
    const StackNode* node = find(id);
    ASSERT_NE(node, nullptr);
    ASSERT_EQ(node->n_python, 2);
    EXPECT_STREQ(node->python[0].file, "app.py");
    EXPECT_EQ(node->python[0].line, 27);
}

// A thread's last stack is answered without hashing: it must still be
// compared frame by frame, native and Python, count and contents.
TEST(StackTable, TheLastStackOfAThreadIsOnlyReusedForTheSameFrames) {
    uintptr_t native[] = {0xc000, 0xc100, 0xc200};
    uintptr_t outer_differs[] = {0xc000, 0xc100, 0xc201};
    PyFrameKey py[] = {{0x77, 10}, {0x88, 20}};
    PyFrameKey line_differs[] = {{0x77, 10}, {0x88, 21}};
    uint32_t id = stack_table().intern(native, 3, py, 2, resolve);
    EXPECT_EQ(stack_table().intern(native, 3, py, 2, resolve), id);
    std::set<uint32_t> others = {
        stack_table().intern(outer_differs, 3, py, 2, resolve),
        stack_table().intern(native, 3, line_differs, 2, resolve),
        stack_table().intern(native, 3, py, 1, resolve),
        stack_table().intern(native, 2, py, 2, resolve),
    };
    EXPECT_EQ(others.size(), 4u);
    EXPECT_EQ(others.count(id), 0u);
    EXPECT_EQ(stack_table().intern(native, 3, py, 2, resolve), id);
    EXPECT_EQ(stack_table().intern(native, 3, py, 2, resolve), id);
}

TEST(StackTable, ConcurrentInterningGivesOneIdPerStack) {
    constexpr int kThreads = 8, kStacks = 500;
    std::vector<std::vector<uint32_t>> ids(kThreads, std::vector<uint32_t>(kStacks));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int s = 0; s < kStacks; ++s) {
                uintptr_t frames[] = {0x7000000u + static_cast<uintptr_t>(s), 0x42};
                ids[t][s] = stack_table().intern(frames, 2, nullptr, 0, nullptr);
            }
        });
    }
    for (auto& t : threads) t.join();
    std::set<uint32_t> distinct;
    for (int s = 0; s < kStacks; ++s) {
        for (int t = 1; t < kThreads; ++t) EXPECT_EQ(ids[t][s], ids[0][s]) << "stack " << s;
        distinct.insert(ids[0][s]);
    }
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kStacks));
    // Each stack is in the table exactly once.
    int nodes = 0;
    stack_table().for_each([&](const StackNode& n) {
        nodes += n.n_native == 2 && n.native[1] == 0x42;
    });
    EXPECT_EQ(nodes, kStacks);
}

}  // namespace
}  // namespace fdtrack
