// A bump allocator over 1 MiB blocks of anonymous memory.
#include "preload/track/arena.h"

#include <string.h>
#include <sys/mman.h>

#include <atomic>

namespace fdtrack {
namespace {

constexpr size_t kBlockSize = 1 << 20;

struct Block {
    std::atomic<size_t> used;
    alignas(16) char data[];
};
constexpr size_t kBlockCapacity = kBlockSize - sizeof(Block);

std::atomic<Block*> g_current{nullptr};

void* map(size_t size) {
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return mem == MAP_FAILED ? nullptr : mem;
}

}  // namespace

void* arena_alloc(size_t size) {
    size = (size + 15) & ~size_t(15);
    if (size > kBlockCapacity / 4) return map(size);  // rare: give it its own mapping
    for (;;) {
        Block* block = g_current.load(std::memory_order_acquire);
        if (block) {
            size_t offset = block->used.fetch_add(size, std::memory_order_relaxed);
            if (offset + size <= kBlockCapacity) return block->data + offset;
        }
        auto* fresh = static_cast<Block*>(map(kBlockSize));
        if (!fresh) return nullptr;
        if (!g_current.compare_exchange_strong(block, fresh, std::memory_order_acq_rel)) {
            munmap(fresh, kBlockSize);  // another thread installed a block first: use it
        }
    }
}

const char* arena_strdup(const char* text, size_t max_len) {
    size_t len = strnlen(text, max_len);
    auto* copy = static_cast<char*>(arena_alloc(len + 1));
    if (!copy) return "";
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

}  // namespace fdtrack
