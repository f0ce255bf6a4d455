// Rewrites the GOT entries of loaded objects to fdtrack's hooks and back (got_patch.h).
#include "preload/attach/got_patch.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "preload/hooks/real_symbol.h"
#include "preload/track/thread_state.h"

extern "C" const ElfW(Ehdr) __ehdr_start;  // our own load address

namespace fdtrack {
namespace {

// dlopen is not among libfdtrack.so's exports: a wrapper exported under the
// preload would make glibc take the wrapper for the caller, and resolve the
// caller's $ORIGIN and RUNPATH as fdtrack's. Attached, objects loaded later
// must be redirected too, so the program's dlopen entries (only they) go to
// this wrapper. The caller glibc sees is then libfdtrack.so: a library that
// dlopens by a bare name relying on its own RUNPATH is the one case that
// loads differently while attached (said in docs/spec.md).
Real<void* (*)(const char*, int)> real_dlopen{"dlopen"};
void redirect_if_on();
void* dlopen_redirecting(const char* file, int mode) {
    void* handle = real_dlopen.get()(file, mode);
    if (handle) redirect_if_on();
    return handle;
}

struct Extra {
    const char* name;
    void* hook;
};
const Extra kExtras[] = {{"dlopen", reinterpret_cast<void*>(&dlopen_redirecting)}};

// One written entry: where, what it held, what we wrote.
struct Entry {
    uintptr_t* slot;
    uintptr_t old;
    uintptr_t hook;
};

// Kept in memory of our own (mmap): the dlopen hook may run inside the
// program's allocator's initialisation, and none of this needs malloc.
Entry* g_entries = nullptr;
size_t g_count = 0, g_capacity = 0;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<bool> g_on{false};
std::atomic<unsigned long long> g_adds_seen{0};

bool remember(uintptr_t* slot, uintptr_t old, uintptr_t hook) {
    if (g_count == g_capacity) {
        size_t capacity = g_capacity ? g_capacity * 2 : 1024;
        void* grown = g_entries ? mremap(g_entries, g_capacity * sizeof(Entry), capacity * sizeof(Entry), MREMAP_MAYMOVE)
                                : mmap(nullptr, capacity * sizeof(Entry), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (grown == MAP_FAILED) return false;
        g_entries = static_cast<Entry*>(grown);
        g_capacity = capacity;
    }
    g_entries[g_count++] = {slot, old, hook};
    return true;
}

// The newest entry for `slot` (an object unloaded and another loaded at the
// same place leaves an older one behind), or null.
const Entry* saved(const uintptr_t* slot) {
    for (size_t i = g_count; i-- > 0;) {
        if (g_entries[i].slot == slot) return &g_entries[i];
    }
    return nullptr;
}

template <typename T>
const T* dyn_ptr(const dl_phdr_info* info, ElfW(Addr) value) {
    if (value < info->dlpi_addr) value += info->dlpi_addr;  // the vDSO's is not relocated
    return reinterpret_cast<const T*>(value);
}

// A function, not a global initialised at load: every process that loads
// the library would run that initialiser, a page of code and one of data
// faulted in for nothing (issue #10, item 8).
uintptr_t page_size() { return static_cast<uintptr_t>(getpagesize()); }

// The protection the kernel has now for the pages of one object, read from
// /proc/self/maps. Never inferred from the headers: dl_iterate_phdr lists an
// object another thread is loading before ld.so relocated it and applied
// RELRO, and a page the program made writable itself must stay so. Read once
// per object per pass, on the first slot written (a pass writes many).
struct Pages {
    struct Range {
        uintptr_t start, end;
        int prot;
    };
    uintptr_t lo = 0, hi = 0;  // the object's PT_LOAD span: only its mappings are kept
    Range ranges[64];
    int count = 0;
    bool read = false;
};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 0;
}

// Raw openat/read/close into a stack buffer, as fdtrack's own (Reentry): the
// dlopen hook may run inside the program's allocator's initialisation, and
// the hooks must not record the fd. Only "start-end perms" of each line is
// parsed, byte by byte, so lines cut by the buffer need no copying.
void read_pages(Pages& pages) {
    pages.read = true;
    Reentry own;
    int saved_errno = errno;  // the dlopen hook runs this inside the program's call
    int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC));
    if (fd < 0) {
        errno = saved_errno;
        return;
    }
    char buffer[4096];
    int field = 0;  // 0: start, 1: end, 2: perms, 3: the rest of the line
    uintptr_t start = 0, end = 0;
    int prot = 0, perm = 0;
    bool done = false;
    while (!done) {
        long n = syscall(SYS_read, fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (long i = 0; i < n && !done; ++i) {
            char c = buffer[i];
            if (c == '\n') {
                field = 0;
                start = end = 0;
                prot = perm = 0;
                continue;
            }
            switch (field) {
                case 0:
                    if (c == '-') field = 1;
                    else start = start * 16 + hex_digit(c);
                    break;
                case 1:
                    if (c == ' ') field = 2;
                    else end = end * 16 + hex_digit(c);
                    break;
                case 2:
                    if (c == ' ') {
                        field = 3;
                        if (start >= pages.hi) done = true;  // sorted by address: the rest is past the object
                        if (end > pages.lo && start < pages.hi && pages.count < 64)
                            pages.ranges[pages.count++] = {start, end, prot};
                    } else {
                        if (perm == 0 && c == 'r') prot |= PROT_READ;
                        if (perm == 1 && c == 'w') prot |= PROT_WRITE;
                        if (perm == 2 && c == 'x') prot |= PROT_EXEC;
                        ++perm;
                    }
                    break;
                default: break;
            }
        }
    }
    syscall(SYS_close, fd);
    errno = saved_errno;
}

// The current protection of the page of `slot`, or -1 when no mapping of
// the object holds it (or maps could not be read).
int protection_of(Pages& pages, uintptr_t slot) {
    if (!pages.read) read_pages(pages);
    for (int i = 0; i < pages.count; ++i) {
        if (slot >= pages.ranges[i].start && slot < pages.ranges[i].end) return pages.ranges[i].prot;
    }
    return -1;
}

// Writes `value` to `slot`. A writable page gets the store alone (no
// mprotect: ld.so may be relocating it in another thread, or the program
// made it writable). A read-only one is opened for the store and given back
// exactly the protection it had. False if the page could not be opened.
bool write_slot(Pages& pages, uintptr_t* slot, uintptr_t value) {
    int prot = protection_of(pages, reinterpret_cast<uintptr_t>(slot));
    if (prot < 0) return false;
    if (prot & PROT_WRITE) {
        __atomic_store_n(slot, value, __ATOMIC_RELEASE);  // a call in flight reads the old or the new, whole
        return true;
    }
    uintptr_t size = page_size();
    void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(slot) & ~(size - 1));
    if (mprotect(page, size, prot | PROT_WRITE) != 0) return false;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    mprotect(page, size, prot);
    return true;
}

bool is_loader(const dl_phdr_info* info) {
    const char* name = info->dlpi_name;
    return name && (strstr(name, "/ld-linux") || strstr(name, "/ld64.so") || strncmp(name, "ld-linux", 8) == 0);
}

struct Pass {
    bool restore;
    const dl_phdr_info* own;  // libfdtrack.so, whose exports name the hooks
    int written = 0;
    bool failed = false;
    unsigned long long adds = 0;
};

// The hook for a symbol named `name`, or 0 when fdtrack does not hook it.
uintptr_t hook_for(const Pass& pass, const char* name) {
    for (const Extra& extra : kExtras) {
        if (!strcmp(extra.name, name)) return reinterpret_cast<uintptr_t>(extra.hook);
    }
    // The attach entry points themselves are no hooks; nobody references them.
    return reinterpret_cast<uintptr_t>(find_symbol_in(pass.own, name));
}

void visit_relocations(Pass& pass, const dl_phdr_info* info, Pages& pages, const ElfW(Rela)* rela, size_t bytes,
                       const ElfW(Sym)* symtab, const char* strtab) {
    for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); ++i) {
        const ElfW(Rela)& r = rela[i];
        uint32_t type = ELF64_R_TYPE(r.r_info);
        bool pointer = type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT || (type == R_X86_64_64 && r.r_addend == 0);
        uint32_t index = ELF64_R_SYM(r.r_info);
        if (!pointer || index == 0) continue;
        uintptr_t hook = hook_for(pass, strtab + symtab[index].st_name);
        if (!hook) continue;
        auto* slot = reinterpret_cast<uintptr_t*>(info->dlpi_addr + r.r_offset);
        uintptr_t now = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (pass.restore) {
            if (now != hook) continue;  // the program rewrote it: its value stays
            const Entry* entry = saved(slot);
            if (entry && write_slot(pages, slot, entry->old)) ++pass.written;
        } else {
            if (now == hook) continue;
            if (!remember(slot, now, hook) || !write_slot(pages, slot, hook)) {
                pass.failed = true;
                if (g_count && g_entries[g_count - 1].slot == slot) --g_count;
                continue;
            }
            ++pass.written;
        }
    }
}

void visit_object(Pass& pass, const dl_phdr_info* info) {
    const ElfW(Dyn)* dynamic = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    }
    if (!dynamic) return;
    const ElfW(Rela)* jmprel = nullptr;
    const ElfW(Rela)* rela = nullptr;
    size_t jmprel_size = 0, rela_size = 0;
    const ElfW(Sym)* symtab = nullptr;
    const char* strtab = nullptr;
    bool plt_is_rela = true;
    for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
        switch (d->d_tag) {
            case DT_JMPREL: jmprel = dyn_ptr<ElfW(Rela)>(info, d->d_un.d_ptr); break;
            case DT_PLTRELSZ: jmprel_size = d->d_un.d_val; break;
            case DT_PLTREL: plt_is_rela = d->d_un.d_val == DT_RELA; break;
            case DT_RELA: rela = dyn_ptr<ElfW(Rela)>(info, d->d_un.d_ptr); break;
            case DT_RELASZ: rela_size = d->d_un.d_val; break;
            case DT_SYMTAB: symtab = dyn_ptr<ElfW(Sym)>(info, d->d_un.d_ptr); break;
            case DT_STRTAB: strtab = dyn_ptr<char>(info, d->d_un.d_ptr); break;
        }
    }
    if (!symtab || !strtab) return;
    Pages pages;
    pages.lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& p = info->dlpi_phdr[i];
        if (p.p_type != PT_LOAD) continue;
        uintptr_t start = (info->dlpi_addr + p.p_vaddr) & ~(page_size() - 1);
        uintptr_t end = info->dlpi_addr + p.p_vaddr + p.p_memsz;
        if (start < pages.lo) pages.lo = start;
        if (end > pages.hi) pages.hi = end;
    }
    if (jmprel && plt_is_rela) visit_relocations(pass, info, pages, jmprel, jmprel_size, symtab, strtab);
    if (rela) visit_relocations(pass, info, pages, rela, rela_size, symtab, strtab);
}

int find_own(dl_phdr_info* info, size_t, void* data) {
    if (info->dlpi_addr != reinterpret_cast<ElfW(Addr)>(&__ehdr_start)) return 0;
    auto* pass = static_cast<Pass*>(data);
    pass->adds = info->dlpi_adds;
    // Only the fields find_symbol_in reads, which stay valid: ours is never unloaded (-z nodelete).
    static dl_phdr_info own;
    own = *info;
    pass->own = &own;
    return 1;
}

// Runs inside dl_iterate_phdr, which holds the loader's lock: an object seen
// here cannot be unloaded (and its GOT unmapped) until the pass is over.
int visit(dl_phdr_info* info, size_t, void* data) {
    auto* pass = static_cast<Pass*>(data);
    if (!is_loader(info)) visit_object(*pass, info);
    return 0;
}

int run_pass(bool restore) {
    Pass pass{restore, nullptr};
    dl_iterate_phdr(find_own, &pass);
    if (!pass.own) return -1;
    dl_iterate_phdr(visit, &pass);
    g_adds_seen.store(pass.adds, std::memory_order_relaxed);
    return pass.failed ? -1 : pass.written;
}

int read_adds(dl_phdr_info* info, size_t, void* data) {
    *static_cast<unsigned long long*>(data) = info->dlpi_adds;
    return 1;
}

// Checked under the lock: a dlopen that returns while a detach restores
// must not redirect anything afterwards.
void redirect_if_on() {
    pthread_mutex_lock(&g_lock);
    if (g_on.load(std::memory_order_relaxed)) run_pass(false);
    pthread_mutex_unlock(&g_lock);
}

}  // namespace

int redirect_loaded_objects() {
    pthread_mutex_lock(&g_lock);
    g_on.store(true, std::memory_order_release);
    int written = run_pass(false);
    pthread_mutex_unlock(&g_lock);
    return written;
}

void redirect_new_objects() {
    if (!redirecting()) return;
    unsigned long long adds = 0;
    dl_iterate_phdr(read_adds, &adds);
    if (adds != g_adds_seen.load(std::memory_order_relaxed)) redirect_if_on();
}

int restore_redirected_entries() {
    pthread_mutex_lock(&g_lock);
    g_on.store(false, std::memory_order_release);
    int restored = run_pass(true);
    g_count = 0;
    pthread_mutex_unlock(&g_lock);
    return restored;
}

bool redirecting() { return g_on.load(std::memory_order_acquire); }

}  // namespace fdtrack
