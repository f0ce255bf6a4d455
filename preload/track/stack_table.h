// Interned stacks: each distinct (native, Python) stack is stored once and
// named by a small id that fd records carry. Lock-free on the hot path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fdtrack {

// Identity of one Python frame as captured in a hook (opaque to this table).
struct PyFrameKey {
    uint64_t code;
    uint64_t line_and_hash;
    bool operator==(const PyFrameKey&) const = default;
};

// A Python frame's names, copied when its stack is first seen (code objects
// may be gone by report time).
struct PyFrameText {
    const char* file;
    const char* function;
    int line;
};

struct StackNode {
    StackNode* next;  // bucket chain
    uint64_t hash;
    uint32_t id;
    uint16_t n_native;
    uint16_t n_python;
    const PyFrameText* python;  // n_python entries, innermost first
    const PyFrameKey* python_keys;
    uintptr_t native[];         // n_native return addresses, innermost first
};

// Fills `out` for the frame `key`; called on the capturing thread while the
// frames still exist.
using PyFrameResolver = void (*)(const PyFrameKey& key, PyFrameText* out);

class StackTable {
public:
    // Returns the id of this stack, adding it if new; 0 if out of memory.
    uint32_t intern(const uintptr_t* native, int n_native, const PyFrameKey* python, int n_python,
                    PyFrameResolver resolve);

    // An id no interned stack will have, for a stack known only by its
    // symbolised frames (handed over across exec).
    uint32_t reserve_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

    // Visits every stack (report time).
    template <typename F>
    void for_each(F&& visit) const {
        for (const auto& bucket : buckets_) {
            for (const StackNode* n = bucket.load(std::memory_order_acquire); n; n = n->next) visit(*n);
        }
    }

    static constexpr size_t kBuckets = 1 << 14;

private:
    std::atomic<StackNode*> buckets_[kBuckets] = {};
    std::atomic<uint32_t> next_id_{1};
};

StackTable& stack_table();

}  // namespace fdtrack
