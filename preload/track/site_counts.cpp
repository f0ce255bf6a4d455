// How many fds each interned stack has open now (site_counts.h).
#include "preload/track/site_counts.h"

#include <sys/mman.h>

#include <atomic>

namespace fdtrack {
namespace {

constexpr uint32_t kBlockIds = 4096;
constexpr uint32_t kBlocks = 1024;  // 4M stacks: far more than a stack table holds

using Block = std::atomic<int32_t>[kBlockIds];
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

}  // namespace

void count_open(uint32_t id, int delta) {
    uint32_t index = id / kBlockIds;
    if (id == 0 || index >= kBlocks) return;
    Block* counts = block(index, delta > 0);
    if (!counts) return;
    (*counts)[id % kBlockIds].fetch_add(delta, std::memory_order_relaxed);
    uint32_t end = g_end.load(std::memory_order_relaxed);
    while (id >= end && !g_end.compare_exchange_weak(end, id + 1, std::memory_order_relaxed)) {
    }
}

int32_t open_count(uint32_t id) {
    uint32_t index = id / kBlockIds;
    if (index >= kBlocks) return 0;
    Block* counts = block(index, false);
    return counts ? (*counts)[id % kBlockIds].load(std::memory_order_relaxed) : 0;
}

uint32_t counted_ids() { return g_end.load(std::memory_order_relaxed); }

void clear_open_counts() {
    for (uint32_t index = 0; index < kBlocks; ++index) {
        Block* counts = block(index, false);
        if (!counts) continue;
        for (auto& count : *counts) count.store(0, std::memory_order_relaxed);
    }
}

}  // namespace fdtrack
