// How many fds each interned stack has open now (site_counts.h).
#include "preload/track/site_counts.h"

#include <sys/mman.h>

#include <atomic>

#include "preload/track/registry.h"

namespace fdtrack {
namespace {

constexpr uint32_t kBlockIds = 4096;
constexpr uint32_t kBlocks = 1024;  // 4M stacks: far more than a stack table holds

struct Counted {
    std::atomic<int32_t> count;
    std::atomic<uint32_t> history_slot;
    std::atomic<int64_t> changed_s;
};
using Block = Counted[kBlockIds];
constinit std::atomic<Block*> g_blocks[kBlocks] = {};
constinit std::atomic<uint32_t> g_end{0};

Block* block(uint32_t index, bool create) {
    Block* found = g_blocks[index].load(std::memory_order_acquire);
    if (found || !create) return found;
    // mmap, not malloc: the registry calls this from every hook, some inside malloc's own locks.
    void* memory = mmap(nullptr, sizeof(Block), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return nullptr;
    auto* made = static_cast<Block*>(memory);  // zero-filled: every count starts at 0
    if (g_blocks[index].compare_exchange_strong(found, made, std::memory_order_acq_rel)) return made;
    munmap(memory, sizeof(Block));
    return found;
}

Counted* counted(uint32_t id, bool create = false) {
    uint32_t index = id / kBlockIds;
    if (index >= kBlocks) return nullptr;
    Block* counts = block(index, create);
    return counts ? &(*counts)[id % kBlockIds] : nullptr;
}

// Before the count changes, which releases it: a sampler that reads the
// count with acquire then reads this change's time, or a later one.
void stamp_change(Counted& entry) { entry.changed_s.store(wall_clock_seconds(), std::memory_order_relaxed); }

}  // namespace

void count_open(uint32_t id, int delta) {
    Counted* entry = id ? counted(id, delta > 0) : nullptr;
    if (!entry) return;
    stamp_change(*entry);
    entry->count.fetch_add(delta, std::memory_order_release);
    uint32_t end = g_end.load(std::memory_order_relaxed);
    while (id >= end && !g_end.compare_exchange_weak(end, id + 1, std::memory_order_relaxed)) {
    }
}

int32_t open_count(uint32_t id) {
    Counted* entry = counted(id);
    return entry ? entry->count.load(std::memory_order_acquire) : 0;
}

int64_t count_changed_s(uint32_t id) {
    Counted* entry = counted(id);
    return entry ? entry->changed_s.load(std::memory_order_relaxed) : 0;
}

uint32_t history_slot(uint32_t id) {
    Counted* entry = counted(id);
    return entry ? entry->history_slot.load(std::memory_order_acquire) : 0;
}

void set_history_slot(uint32_t id, uint32_t slot) {
    if (Counted* entry = counted(id)) entry->history_slot.store(slot, std::memory_order_release);
}

uint32_t counted_ids() { return g_end.load(std::memory_order_relaxed); }

void clear_open_counts() {
    for (uint32_t index = 0; index < kBlocks; ++index) {
        Block* counts = block(index, false);
        if (!counts) continue;
        for (Counted& entry : *counts) {
            if (entry.count.load(std::memory_order_relaxed) == 0) continue;
            stamp_change(entry);
            entry.count.store(0, std::memory_order_release);
        }
    }
}

}  // namespace fdtrack
