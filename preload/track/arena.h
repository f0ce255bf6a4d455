// Memory that lives as long as the process, for interned stacks: a lock-free
// bump allocator over mmap, usable from any hook (no malloc, no locks).
#pragma once

#include <cstddef>

namespace fdtrack {

// Returns zeroed memory aligned to 16 bytes, or nullptr when the system is
// out of memory. Never freed.
void* arena_alloc(size_t size);

// Copies a string into the arena (truncated to max_len).
const char* arena_strdup(const char* text, size_t max_len);

}  // namespace fdtrack
