// Native stack capture: unw_backtrace with libunwind's per-thread cache, then
// the frames inside libfdtrack.so are dropped by address.
#define UNW_LOCAL_ONLY
#include "preload/native_stack.h"

#include <elf.h>
#include <libunwind.h>
#include <link.h>

#include <atomic>

#include "preload/config.h"

extern "C" const ElfW(Ehdr) __ehdr_start;

namespace fdtrack {
namespace {

std::atomic<uintptr_t> g_own_end{0};

// Our image spans from its ELF header to the end of its last PT_LOAD segment;
// both are in memory, so no loader lock or syscall is needed.
uintptr_t own_end() {
    uintptr_t end = g_own_end.load(std::memory_order_relaxed);
    if (end) return end;
    auto base = reinterpret_cast<uintptr_t>(&__ehdr_start);
    auto* phdrs = reinterpret_cast<const ElfW(Phdr)*>(base + __ehdr_start.e_phoff);
    for (int i = 0; i < __ehdr_start.e_phnum; ++i) {
        if (phdrs[i].p_type == PT_LOAD) {
            uintptr_t segment_end = base + phdrs[i].p_vaddr + phdrs[i].p_memsz;
            if (segment_end > end) end = segment_end;
        }
    }
    g_own_end.store(end, std::memory_order_relaxed);
    return end;
}

// Hook, tracker and capture frames sit above the caller; a few spare slots
// absorb them before we trim.
constexpr int kOwnFramesSlack = 8;

}  // namespace

void native_stack_init() {
    own_end();
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

bool is_own_address(uintptr_t address) {
    return address >= reinterpret_cast<uintptr_t>(&__ehdr_start) && address < own_end();
}

int capture_native_stack(uintptr_t* out, int max) {
    void* frames[kMaxDepth + kOwnFramesSlack];
    int want = max + kOwnFramesSlack;
    if (want > kMaxDepth + kOwnFramesSlack) want = kMaxDepth + kOwnFramesSlack;
    int n = unw_backtrace(frames, want);
    int first = 0;
    while (first < n && is_own_address(reinterpret_cast<uintptr_t>(frames[first]))) ++first;
    int count = 0;
    for (int i = first; i < n && count < max; ++i) out[count++] = reinterpret_cast<uintptr_t>(frames[i]);
    return count;
}

}  // namespace fdtrack
