// Captures the native stack of a hooked call with libunwind, leaving out
// fdtrack's own frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "preload/track/config.h"

namespace fdtrack {

// Hook, tracker and capture frames sit above the caller; a few spare slots
// absorb them before we trim.
inline constexpr int kOwnFramesSlack = 8;
// What a capture buffer must hold.
inline constexpr int kNativeCaptureSize = kMaxDepth + kOwnFramesSlack;

// Return addresses of the calling thread, innermost first (unw_backtrace's
// signature).
using Backtrace = int (*)(void** buffer, int size);
// libunwind's unw_backtrace once load_unwinder() opened it; null until then
// (hooks reached from constructors that run before fdtrack's), when the
// unwinder linked in from libgcc serves, slower but needing neither malloc
// nor the loader.
extern std::atomic<Backtrace> g_backtrace;
int early_backtrace(void** buffer, int size);

// What the stack capture needs that is free of malloc: fdtrack's own extent.
// Safe to call again.
void native_stack_init();

// libgcc's unwinder is linked into the library too (CMakeLists.txt), and
// glibc unwinds a cancelled thread with libgcc_s: the cleanup of a hook's
// frame then calls this copy, which aborts the program unless it has set
// itself up (its table of register sizes), as its first backtrace does.
// Run before the first unwind of one of the library's frames (entry/personality.cpp).
void prepare_linked_unwinder();

// Opens libunwind (from the constructor of a tracked process: dlopen may
// allocate) and makes its per-thread cache and its pipe, in fdtrack's own
// scope. A process that is not tracked never maps it (issue #10, item 8).
void load_unwinder();

// True when `address` lies inside libfdtrack.so.
bool is_own_address(uintptr_t address);

// Fills `out` (kNativeCaptureSize entries) with at most `max` return
// addresses, innermost first, starting at the caller of the hooked libc
// function. Returns how many. Always inlined: every frame of ours above the
// caller is one more step of libunwind's walk (about 100 instructions).
[[gnu::always_inline]] inline int capture_native_stack(uintptr_t* out, int max) {
    int want = max + kOwnFramesSlack;
    if (want > kNativeCaptureSize) want = kNativeCaptureSize;
    Backtrace backtrace = g_backtrace.load(std::memory_order_acquire);
    int n = (backtrace ? backtrace : early_backtrace)(reinterpret_cast<void**>(out), want);
    int first = 0;
    while (first < n && is_own_address(out[first])) ++first;
    int count = n - first < max ? n - first : max;
    if (count > 0) memmove(out, out + first, sizeof(uintptr_t) * count);
    return count > 0 ? count : 0;
}

// True when `address` lies inside libunwind.
bool is_unwinder_address(uintptr_t address);

}  // namespace fdtrack
