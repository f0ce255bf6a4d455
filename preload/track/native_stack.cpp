// What the native stack capture (inline, in native_stack.h) needs: libunwind
// opened and set up with its per-thread cache, the unwinder used before that,
// and the address ranges of libfdtrack.so (whose frames are dropped) and of
// libunwind.
#define UNW_LOCAL_ONLY
#include "preload/track/native_stack.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <elf.h>
#include <link.h>
#include <unwind.h>

extern "C" const ElfW(Ehdr) __ehdr_start;

namespace fdtrack {
namespace {

std::atomic<uintptr_t> g_own_end{0};
std::atomic<uintptr_t> g_unwinder_start{0};
std::atomic<uintptr_t> g_unwinder_end{0};  // 0 until libunwind is loaded

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

struct Frames {
    void** buffer;
    int size;
    int n;
};

_Unwind_Reason_Code add_frame(_Unwind_Context* context, void* data) {
    auto* frames = static_cast<Frames*>(data);
    if (frames->n == frames->size) return _URC_END_OF_STACK;
    frames->buffer[frames->n++] = reinterpret_cast<void*>(_Unwind_GetIP(context));
    return _URC_NO_REASON;
}


// The name libunwind.h gives a function or variable by a macro
// (unw_local_addr_space is _ULx86_64_local_addr_space).
#define SYMBOL_NAME(name) SYMBOL_NAME_OF(name)
#define SYMBOL_NAME_OF(name) #name

}  // namespace

// libgcc's unwinder finds each frame's unwind table through dl_iterate_phdr:
// no allocation, no lock that the program's code can hold.
int early_backtrace(void** buffer, int size) {
    Frames frames{buffer, size, 0};
    _Unwind_Backtrace(add_frame, &frames);
    return frames.n;
}

// Until load_unwinder: a null here, not early_backtrace's address, which
// would be a relocation writing this page in every process (issue #10).
std::atomic<Backtrace> g_backtrace{nullptr};

void native_stack_init() { own_end(); }

void prepare_linked_unwinder() {
    void* frame;
    early_backtrace(&frame, 1);
}

void load_unwinder() {
    if (g_unwinder_end.load(std::memory_order_acquire)) return;
    void* handle = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!handle) return;  // stacks still come, from the unwinder linked in
    auto backtrace = reinterpret_cast<Backtrace>(dlsym(handle, SYMBOL_NAME(unw_backtrace)));
    auto set_caching_policy =
        reinterpret_cast<decltype(&unw_set_caching_policy)>(dlsym(handle, SYMBOL_NAME(unw_set_caching_policy)));
    auto* local_addr_space = static_cast<unw_addr_space_t*>(dlsym(handle, SYMBOL_NAME(unw_local_addr_space)));
    if (!backtrace || !set_caching_policy || !local_addr_space) return;
    // Its range first: the pipe it makes at its initialisation is then
    // recognised as its own (Hook::created_pair).
    Range range{reinterpret_cast<uintptr_t>(backtrace), 0, 0};
    dl_iterate_phdr(find_object, &range);
    g_unwinder_start.store(range.start, std::memory_order_relaxed);
    g_unwinder_end.store(range.end, std::memory_order_release);
    // libunwind initialises (and makes its pipe) on first use: make that
    // happen now, in fdtrack's own scope (the caller's), not inside a later
    // record, where a signal handler's fds must stay the program's.
    set_caching_policy(*local_addr_space, UNW_CACHE_PER_THREAD);
    void* frames[4];
    backtrace(frames, 4);
    g_backtrace.store(backtrace, std::memory_order_release);
}

bool is_unwinder_address(uintptr_t address) {
    uintptr_t end = g_unwinder_end.load(std::memory_order_acquire);
    return address < end && address >= g_unwinder_start.load(std::memory_order_relaxed);
}

bool is_own_address(uintptr_t address) {
    return address >= reinterpret_cast<uintptr_t>(&__ehdr_start) && address < own_end();
}

}  // namespace fdtrack
