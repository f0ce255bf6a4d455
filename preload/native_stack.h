// Captures the native stack of a hooked call with libunwind, leaving out
// fdtrack's own frames.
#pragma once

#include <cstdint>
#include <cstring>

#include "preload/config.h"

// libunwind's fast backtrace (its libunwind.h wants UNW_LOCAL_ONLY defined
// first; native_stack.cpp includes it, the callers of the capture need not).
extern "C" int unw_backtrace(void** buffer, int size);

namespace fdtrack {

// Hook, tracker and capture frames sit above the caller; a few spare slots
// absorb them before we trim.
inline constexpr int kOwnFramesSlack = 8;
// What a capture buffer must hold.
inline constexpr int kNativeCaptureSize = kMaxDepth + kOwnFramesSlack;

// Prepares libunwind (per-thread caches). Called from the constructor; safe
// to call again.
void native_stack_init();

// True when `address` lies inside libfdtrack.so.
bool is_own_address(uintptr_t address);

// Fills `out` (kNativeCaptureSize entries) with at most `max` return
// addresses, innermost first, starting at the caller of the hooked libc
// function. Returns how many. Always inlined: every frame of ours above the
// caller is one more step of libunwind's walk (about 100 instructions).
[[gnu::always_inline]] inline int capture_native_stack(uintptr_t* out, int max) {
    int want = max + kOwnFramesSlack;
    if (want > kNativeCaptureSize) want = kNativeCaptureSize;
    int n = unw_backtrace(reinterpret_cast<void**>(out), want);
    int first = 0;
    while (first < n && is_own_address(out[first])) ++first;
    int count = n - first < max ? n - first : max;
    if (count > 0) memmove(out, out + first, sizeof(uintptr_t) * count);
    return count > 0 ? count : 0;
}

// True when `address` lies inside libunwind.
bool is_unwinder_address(uintptr_t address);

}  // namespace fdtrack
