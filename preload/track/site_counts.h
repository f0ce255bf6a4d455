// How many fds each interned stack has open now, kept by the registry as
// tracked records come and go: what fdtrack top, the history and the
// counts-only request read without walking the fd table.
#pragma once

#include <cstdint>

namespace fdtrack {

// Adds `delta` to stack `id`'s count. Lock-free and allocation-free but for
// the first id of each block of 4096 (one mmap). Ids past the last block are
// not counted.
void count_open(uint32_t id, int delta);

// Stack `id`'s count now (0 for an id never counted).
int32_t open_count(uint32_t id);

// The wall-clock second (Unix time) of stack `id`'s last count change, 0 for
// none: the history dates a change by it, however late it samples the count.
// Read after open_count(), it is never older than the change that count shows.
int64_t count_changed_s(uint32_t id);

// A number the history keeps per stack (its series, history.cpp), 0 until
// set: kept next to the count so that a sampler in any hook finds a stack's
// series without a lock or an allocation. Only ids already counted keep one.
uint32_t history_slot(uint32_t id);
void set_history_slot(uint32_t id, uint32_t slot);

// One past the highest id counted so far.
uint32_t counted_ids();

// Every count back to 0: a detach forgets what the attached period counted.
void clear_open_counts();

}  // namespace fdtrack
