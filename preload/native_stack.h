// Captures the native stack of a hooked call with libunwind, leaving out
// fdtrack's own frames.
#pragma once

#include <cstdint>

namespace fdtrack {

// Prepares libunwind (per-thread caches). Called from the constructor; safe
// to call again.
void native_stack_init();

// Fills `out` with at most `max` return addresses, innermost first, starting
// at the caller of the hooked libc function. Returns how many.
int capture_native_stack(uintptr_t* out, int max);

// True when `address` lies inside libfdtrack.so.
bool is_own_address(uintptr_t address);

// True when `address` lies inside libunwind.
bool is_unwinder_address(uintptr_t address);

}  // namespace fdtrack
