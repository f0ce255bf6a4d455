// Interning of stacks in a fixed array of buckets with lock-free chains;
// nodes live in the arena and are never freed, so readers need no locks.
#include "preload/track/stack_table.h"

#include "preload/track/arena.h"

namespace fdtrack {
namespace {

StackTable g_table;

// One xor and one multiply per word (the hash runs on every hooked call);
// the final mix spreads the high bits into the low ones the bucket index takes.
uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x9e3779b97f4a7c15ull; }

uint64_t hash_stack(const uintptr_t* native, int n_native, const PyFrameKey* python, int n_python) {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t(n_native) << 32) ^ n_python;
    for (int i = 0; i < n_native; ++i) h = mix(h, native[i]);
    for (int i = 0; i < n_python; ++i) h = mix(mix(h, python[i].code), python[i].line_and_hash);
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

bool same_frames(const StackNode& n, const uintptr_t* native, int n_native, const PyFrameKey* python, int n_python) {
    if (n.n_native != n_native || n.n_python != n_python) return false;
    if (memcmp(n.native, native, sizeof(uintptr_t) * n_native) != 0) return false;
    for (int i = 0; i < n_python; ++i) {
        if (!(n.python_keys[i] == python[i])) return false;
    }
    return true;
}

const StackNode* find(const StackNode* head, uint64_t hash, const uintptr_t* native, int n_native,
                      const PyFrameKey* python, int n_python) {
    for (const StackNode* n = head; n; n = n->next) {
        if (n->hash == hash && same_frames(*n, native, n_native, python, n_python)) return n;
    }
    return nullptr;
}

// The stack this thread interned last, and in which table: a loop opening
// fds from one place finds its stack by comparing frames, without hashing.
struct LastStack {
    const StackTable* table;
    const StackNode* node;
};
__thread LastStack t_last __attribute__((tls_model("initial-exec")));

}  // namespace

StackTable& stack_table() { return g_table; }

uint32_t StackTable::intern(const uintptr_t* native, int n_native, const PyFrameKey* python, int n_python,
                            PyFrameResolver resolve) {
    LastStack& last = t_last;
    if (last.table == this && same_frames(*last.node, native, n_native, python, n_python)) return last.node->id;
    uint64_t hash = hash_stack(native, n_native, python, n_python);
    std::atomic<StackNode*>& bucket = buckets_[hash & (kBuckets - 1)];
    StackNode* head = bucket.load(std::memory_order_acquire);
    if (const StackNode* n = find(head, hash, native, n_native, python, n_python)) {
        last = {this, n};
        return n->id;
    }

    // New stack: build the node completely before publishing it.
    auto* node = static_cast<StackNode*>(arena_alloc(sizeof(StackNode) + sizeof(uintptr_t) * n_native));
    auto* keys = static_cast<PyFrameKey*>(n_python ? arena_alloc(sizeof(PyFrameKey) * n_python) : nullptr);
    auto* texts = static_cast<PyFrameText*>(n_python ? arena_alloc(sizeof(PyFrameText) * n_python) : nullptr);
    if (!node || (n_python && (!keys || !texts))) return 0;
    node->hash = hash;
    node->n_native = static_cast<uint16_t>(n_native);
    node->n_python = static_cast<uint16_t>(n_python);
    memcpy(node->native, native, sizeof(uintptr_t) * n_native);
    for (int i = 0; i < n_python; ++i) {
        keys[i] = python[i];
        texts[i] = {"", "", 0};
        if (resolve) resolve(python[i], &texts[i]);
    }
    node->python_keys = keys;
    node->python = texts;
    node->id = next_id_.fetch_add(1, std::memory_order_relaxed);

    for (;;) {
        node->next = head;
        if (bucket.compare_exchange_weak(head, node, std::memory_order_acq_rel)) {
            last = {this, node};
            return node->id;
        }
        // Someone else pushed meanwhile; it may be this very stack. (The node
        // we built is then wasted arena memory: rare and bounded.)
        if (const StackNode* n = find(head, hash, native, n_native, python, n_python)) {
            last = {this, n};
            return n->id;
        }
    }
}

}  // namespace fdtrack
