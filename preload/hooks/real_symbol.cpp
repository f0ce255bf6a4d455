// Resolves the real libc functions behind the hooks by reading the dynamic
// symbol tables of the loaded objects that come after libfdtrack.so (or,
// attached, of every other object).
#include "preload/hooks/real_symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>

extern "C" const ElfW(Ehdr) __ehdr_start;  // our own load address, set by the linker

namespace fdtrack {
namespace {

bool g_anywhere = false;  // attach mode: see find_real_symbols_anywhere

struct Lookup {
    const char* name;
    uint32_t gnu_hash;
    bool past_self;  // objects after ours are what RTLD_NEXT searches
    void* found;
};

uint32_t gnu_hash(const char* s) {
    uint32_t h = 5381;
    for (; *s; ++s) h = h * 33 + static_cast<unsigned char>(*s);
    return h;
}

// The dynamic section holds absolute addresses once ld.so has relocated it,
// except in objects it leaves read-only (the vDSO): accept both.
template <typename T>
const T* dyn_ptr(const dl_phdr_info* info, ElfW(Addr) value) {
    if (value < info->dlpi_addr) value += info->dlpi_addr;
    return reinterpret_cast<const T*>(value);
}

bool usable(const ElfW(Sym)& sym, const ElfW(Versym)* versym, uint32_t index) {
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) return false;
    int type = ELF64_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_NOTYPE) return false;  // IFUNCs go through dlsym
    int bind = ELF64_ST_BIND(sym.st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK) return false;
    // A non-default version (hidden bit) is a compatibility symbol, never what new code links to.
    return !versym || !(versym[index] & 0x8000);
}

void* lookup_in_object(const dl_phdr_info* info, const char* name, uint32_t hash) {
    const ElfW(Dyn)* dynamic = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        }
    }
    if (!dynamic) return nullptr;
    const ElfW(Sym)* symtab = nullptr;
    const char* strtab = nullptr;
    const uint32_t* gnu = nullptr;
    const ElfW(Versym)* versym = nullptr;
    for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
        switch (d->d_tag) {
            case DT_SYMTAB: symtab = dyn_ptr<ElfW(Sym)>(info, d->d_un.d_ptr); break;
            case DT_STRTAB: strtab = dyn_ptr<char>(info, d->d_un.d_ptr); break;
            case DT_GNU_HASH: gnu = dyn_ptr<uint32_t>(info, d->d_un.d_ptr); break;
            case DT_VERSYM: versym = dyn_ptr<ElfW(Versym)>(info, d->d_un.d_ptr); break;
        }
    }
    if (!symtab || !strtab || !gnu) return nullptr;  // every glibc-era object has DT_GNU_HASH

    uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_size = gnu[2], bloom_shift = gnu[3];
    if (nbuckets == 0) return nullptr;
    const ElfW(Addr)* bloom = reinterpret_cast<const ElfW(Addr)*>(gnu + 4);
    const uint32_t* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_size);
    const uint32_t* chain = buckets + nbuckets;

    constexpr unsigned kBits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(hash / kBits) % bloom_size];
    ElfW(Addr) mask = (ElfW(Addr)(1) << (hash % kBits)) | (ElfW(Addr)(1) << ((hash >> bloom_shift) % kBits));
    if ((word & mask) != mask) return nullptr;

    uint32_t index = buckets[hash % nbuckets];
    if (index < symoffset) return nullptr;
    for (;; ++index) {
        uint32_t h = chain[index - symoffset];
        if ((h | 1) == (hash | 1) && strcmp(strtab + symtab[index].st_name, name) == 0 &&
            usable(symtab[index], versym, index)) {
            return reinterpret_cast<void*>(info->dlpi_addr + symtab[index].st_value);
        }
        if (h & 1) return nullptr;
    }
}

int visit_object(dl_phdr_info* info, size_t, void* data) {
    auto* lookup = static_cast<Lookup*>(data);
    if (info->dlpi_addr == reinterpret_cast<ElfW(Addr)>(&__ehdr_start)) {
        lookup->past_self = true;
        return 0;
    }
    if (!lookup->past_self && !g_anywhere) return 0;
    lookup->found = lookup_in_object(info, lookup->name, lookup->gnu_hash);
    return lookup->found != nullptr;
}

}  // namespace

void* find_next_symbol(const char* name) {
    Lookup lookup{name, gnu_hash(name), false, nullptr};
    dl_iterate_phdr(visit_object, &lookup);
    if (!lookup.past_self) {  // we were not in the list (static or unusual loader): search everything
        lookup.past_self = true;
        dl_iterate_phdr(visit_object, &lookup);
    }
    // An IFUNC or an unusual object: dlsym knows every case, and by now
    // allocation is unlikely to be the problem.
    // Attached, RTLD_NEXT would search only what was loaded after us; our
    // own definitions are not in the global scope (dlopen'ed RTLD_LOCAL).
    return lookup.found ? lookup.found : dlsym(g_anywhere ? RTLD_DEFAULT : RTLD_NEXT, name);
}

void find_real_symbols_anywhere() { g_anywhere = true; }

void* find_symbol_in(const dl_phdr_info* info, const char* name) {
    return lookup_in_object(info, name, gnu_hash(name));
}

void report_missing_symbol(const char* name) {
    char message[160];
    size_t n = 0;
    for (const char* part : {"fdtrack: no real definition of ", name, " found; the call fails with ENOSYS\n"}) {
        size_t len = strnlen(part, sizeof message - n - 1);
        memcpy(message + n, part, len);
        n += len;
    }
    ssize_t ignored = write(STDERR_FILENO, message, n);
    (void)ignored;
}

}  // namespace fdtrack
