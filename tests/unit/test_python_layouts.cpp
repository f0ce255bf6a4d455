// Tests how a version's layout is chosen (never guessed) and the 3.13+ path
// through _Py_DebugOffsets, on a fake interpreter laid out in memory as
// CPython 3.14 lays out its own: no 3.14 binary exists on these machines.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "preload/python/code_objects.h"
#include "preload/python/layout.h"
#include "preload/python/walkers.h"

namespace fdtrack::python {
namespace {

// Memory for fake objects: 8-byte aligned, zeroed, at stable addresses.
struct Heap {
    std::vector<std::vector<uint64_t>> blocks;
    uintptr_t alloc(size_t bytes) {
        blocks.emplace_back((bytes + 7) / 8 + 1, 0);
        return reinterpret_cast<uintptr_t>(blocks.back().data());
    }
};

template <typename T>
void put(uintptr_t base, size_t offset, T value) {
    std::memcpy(reinterpret_cast<void*>(base + offset), &value, sizeof value);
}

// _Py_DebugOffsets of 3.14 (its members' positions and the values Debian's
// 3.14.10 stores in them), at the start of a fake _PyRuntime.
uintptr_t runtime_314(Heap& heap, uint64_t version_hex = 0x030e0af0, uint64_t free_threaded = 0) {
    uintptr_t runtime = heap.alloc(4096);
    std::memcpy(reinterpret_cast<void*>(runtime), "xdebugpy", 8);
    put<uint64_t>(runtime, 8, version_hex);
    put<uint64_t>(runtime, 16, free_threaded);
    const std::pair<size_t, uint64_t> members[] = {
        {32, 784},  {208, 72},  {256, 8},   {264, 0},   {272, 56},  {288, 74},  {320, 112}, {336, 128},
        {344, 136}, {352, 68},  {384, 208}, {408, 8},   {600, 16},  {608, 32},  {624, 32},  {632, 16},
        {640, 40},
    };
    for (auto [at, value] : members) put<uint64_t>(runtime, at, value);
    return runtime;
}

Version v(unsigned minor, unsigned micro = 0, unsigned level = 0xf) { return {3, minor, micro, level}; }

TEST(PythonLayouts, EveryVersionFrom38To314HasOne) {
    Heap heap;
    uintptr_t runtime = runtime_314(heap);
    Layout built{};
    const char* why = nullptr;
    for (unsigned minor = 8; minor <= 12; ++minor) {
        const Layout* L = layout_for(v(minor, 1), 0, built, why);
        ASSERT_NE(L, nullptr) << "3." << minor;
        EXPECT_EQ(L->minor, minor);
        EXPECT_EQ(L->walker, minor <= 10 ? Walker::frame_objects : Walker::interpreter_frames);
    }
    const Layout* L = layout_for(v(14, 10), runtime, built, why);
    ASSERT_NE(L, nullptr) << why;
    EXPECT_EQ(L, &built);
    EXPECT_EQ(L->frame_owner, 74);
    EXPECT_EQ(L->code_units, 208);
    EXPECT_EQ(L->code_firsttraceable, 192);  // 16 before the code
    EXPECT_EQ(L->str_compact_data, 56);      // 16 after PyASCIIObject
    EXPECT_EQ(L->tstate_frame_holder, kDirect);
    EXPECT_EQ(L->code_ref_tag, 3);
}

TEST(PythonLayouts, UnknownOrUnreadableVersionsGetNoneAndAReason) {
    Heap heap;
    Layout built{};
    const char* why = nullptr;
    EXPECT_EQ(layout_for(v(7, 16), 0, built, why), nullptr);
    EXPECT_STREQ(why, "is older than 3.8");
    EXPECT_EQ(layout_for(v(12, 0, 0xb), 0, built, why), nullptr);
    EXPECT_STREQ(why, "is a pre-release");
    EXPECT_EQ(layout_for(v(15), runtime_314(heap), built, why), nullptr);
    EXPECT_STREQ(why, "is newer than this fdtrack knows");

    // 3.13 and 3.14 are read from the interpreter only when it says it is the
    // version it claims to be, with the default object layout.
    EXPECT_EQ(layout_for(v(14), 0, built, why), nullptr);
    EXPECT_NE(why, nullptr);
    uintptr_t wrong_cookie = runtime_314(heap);
    std::memcpy(reinterpret_cast<void*>(wrong_cookie), "xdebugPY", 8);
    EXPECT_EQ(layout_for(v(14), wrong_cookie, built, why), nullptr);
    EXPECT_NE(std::string(why).find("_Py_DebugOffsets"), std::string::npos) << why;
    EXPECT_EQ(layout_for(v(13), runtime_314(heap), built, why), nullptr) << "a 3.14 table read as 3.13's";
    EXPECT_EQ(layout_for(v(14), runtime_314(heap, 0x030e0af0, 1), built, why), nullptr);
    EXPECT_NE(std::string(why).find("free-threaded"), std::string::npos) << why;
    uintptr_t odd_header = runtime_314(heap);
    put<uint64_t>(odd_header, 408, 24);  // ob_type where a free-threaded build has it
    EXPECT_EQ(layout_for(v(14), odd_header, built, why), nullptr);
    uintptr_t huge = runtime_314(heap);
    put<uint64_t>(huge, 384, uint64_t{1} << 40);
    EXPECT_EQ(layout_for(v(14), huge, built, why), nullptr) << "an offset beyond any real struct";
}

// A compact ASCII str object as 3.12+ lays it out.
uintptr_t make_str(Heap& heap, const Types& types, const Layout& L, const std::string& text) {
    uintptr_t s = heap.alloc(L.str_ascii_data + text.size() + 1);
    put<uintptr_t>(s, kObType, types.str);
    put<int64_t>(s, L.str_length, static_cast<int64_t>(text.size()));
    put<uint32_t>(s, L.str_state, (1u << L.str_kind_shift) | (1u << L.str_compact_bit) | (1u << L.str_ascii_bit));
    std::memcpy(reinterpret_cast<void*>(s + L.str_ascii_data), text.data(), text.size());
    return s;
}

TEST(PythonLayouts, WalksA314StackOfTaggedExecutablesAndEntryFrames) {
    Heap heap;
    Layout built{};
    const char* why = nullptr;
    const Layout* found = layout_for(v(14, 0), runtime_314(heap), built, why);
    ASSERT_NE(found, nullptr) << why;
    const Layout& L = *found;
    Types types{heap.alloc(64), heap.alloc(64), heap.alloc(64)};

    // One code object: first line 10; code units 0-3 are line 11, 4-7 line 13
    // (location entries of form 11 and 12: line deltas 1 and 2, 4 units each).
    uintptr_t table = heap.alloc(L.bytes_data + 8);
    put<uintptr_t>(table, kObType, types.bytes);
    put<int64_t>(table, L.bytes_size, 2);
    put<uint8_t>(table, L.bytes_data, 0x80 | (11 << 3) | 3);
    put<uint8_t>(table, L.bytes_data + 1, 0x80 | (12 << 3) | 3);
    uintptr_t code = heap.alloc(L.code_units + 16);
    put<uintptr_t>(code, kObType, types.code);
    put<int32_t>(code, L.code_firstlineno, 10);
    put<uintptr_t>(code, L.code_filename, make_str(heap, types, L, "/srv/app.py"));
    put<uintptr_t>(code, L.code_name, make_str(heap, types, L, "Handler.serve"));
    put<uintptr_t>(code, L.code_linetable, table);
    put<int32_t>(code, L.code_firsttraceable, 1);

    // Innermost first: a running frame (unit 5), the interpreter's entry
    // frame (owner 3, executable None), a frame not started yet (unit 0,
    // before _co_firsttraceable), a generator frame (unit 0 is fine there).
    auto frame = [&](uintptr_t executable, int8_t owner, int unit, uintptr_t previous) {
        uintptr_t f = heap.alloc(96);
        put<uintptr_t>(f, L.frame_code, executable);
        put<uintptr_t>(f, L.frame_previous, previous);
        put<uintptr_t>(f, L.frame_instr, code + L.code_units + 2 * unit);
        put<int8_t>(f, L.frame_owner, owner);
        return f;
    };
    uintptr_t none = heap.alloc(16);
    uintptr_t generator = frame(code | 1, 1, 0, 0);
    uintptr_t incomplete = frame(code | 1, 0, 0, generator);
    uintptr_t entry = frame(none | 1, 3, 0, incomplete);
    uintptr_t running = frame(code | 1, 0, 5, entry);
    uintptr_t tstate = heap.alloc(256);
    put<uintptr_t>(tstate, L.frame_current, running);

    FrameKey keys[8];
    int n = walk_interpreter_frames(L, types, tstate, keys, 8);
    ASSERT_EQ(n, 2);
    EXPECT_EQ(keys[0].code, code) << "the tag bit is not part of the pointer";
    EXPECT_EQ(keys[0].instr, 5);
    EXPECT_EQ(keys[1].instr, 0);
    EXPECT_EQ(line_of(code, keys[0].instr, L, types), 13);
    EXPECT_EQ(line_of(code, 2, L, types), 11);
    char text[64];
    copy_str(load_ptr(code, L.code_name), L, types, text, sizeof text);
    EXPECT_STREQ(text, "Handler.serve");
    copy_str(load_ptr(code, L.code_filename), L, types, text, 5);
    EXPECT_STREQ(text, "/srv") << "truncated to fit, NUL-terminated";

    EXPECT_EQ(walk_interpreter_frames(L, types, tstate, keys, 1), 1) << "cut at max";
}

}  // namespace
}  // namespace fdtrack::python
