// What the native stack capture (inline, in native_stack.h) needs: libunwind
// set up with its per-thread cache, and the address ranges of libfdtrack.so
// (whose frames are dropped) and of libunwind.
#define UNW_LOCAL_ONLY
#include "preload/native_stack.h"

#include <elf.h>
#include <libunwind.h>
#include <link.h>

#include <atomic>

extern "C" const ElfW(Ehdr) __ehdr_start;

namespace fdtrack {
namespace {

std::atomic<uintptr_t> g_own_end{0};
std::atomic<uintptr_t> g_unwinder_start{0};
std::atomic<uintptr_t> g_unwinder_end{0};  // 0 until found; 1 = looked, not found

struct Range {
    uintptr_t inside, start, end;
};

int find_object(dl_phdr_info* info, size_t, void* data) {
    auto* range = static_cast<Range*>(data);
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type != PT_LOAD) continue;
        uintptr_t from = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
        if (from < start) start = from;
        if (from + info->dlpi_phdr[i].p_memsz > end) end = from + info->dlpi_phdr[i].p_memsz;
    }
    if (range->inside < start || range->inside >= end) return 0;
    range->start = start;
    range->end = end;
    return 1;
}

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

}  // namespace

void native_stack_init() {
    own_end();
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    // libunwind makes its pipe on first use: make that happen now, in
    // fdtrack's own scope (the caller's), not inside a later record, where
    // a signal handler's fds must stay the program's.
    void* frames[4];
    unw_backtrace(frames, 4);
}

bool is_unwinder_address(uintptr_t address) {
    uintptr_t end = g_unwinder_end.load(std::memory_order_acquire);
    if (__builtin_expect(end == 0, 0)) {
        // Once, on the first hook: the loader's list, no allocation.
        Range range{reinterpret_cast<uintptr_t>(&unw_backtrace), 0, 0};
        dl_iterate_phdr(find_object, &range);
        g_unwinder_start.store(range.start, std::memory_order_relaxed);
        end = range.end ? range.end : 1;
        g_unwinder_end.store(end, std::memory_order_release);
    }
    return address >= g_unwinder_start.load(std::memory_order_relaxed) && address < end;
}

bool is_own_address(uintptr_t address) {
    return address >= reinterpret_cast<uintptr_t>(&__ehdr_start) && address < own_end();
}

}  // namespace fdtrack
