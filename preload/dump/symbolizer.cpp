// Turns native return addresses of this process into report frames, with elfutils libdwfl.
#include "preload/dump/symbolizer.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <cstdlib>
#include <cstring>

namespace fdtrack {
namespace {

constexpr const char* kUnknownModule = "[unknown]";

// libdw is opened the first time a stack is symbolised, not linked (issue #10, item 8): as a
// dependency, it and the four libraries it needs were mapped and relocated in every process
// fdtrack loads into (~0.2 ms in each exec'd child, tracked or not), and their mappings made
// every fork dearer. One line per function the symbolizer calls.
#define LIBDW_FUNCTIONS(X)                                                                        \
    X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_end) X(dwfl_linux_proc_report)  \
    X(dwfl_linux_proc_maps_report)                                                                \
    X(dwfl_linux_proc_find_elf) X(dwfl_standard_find_debuginfo) X(dwfl_build_id_find_debuginfo)  \
    X(dwfl_addrmodule) X(dwfl_module_info) X(dwfl_module_getsrc) X(dwfl_lineinfo)                \
    X(dwfl_module_addrdie) X(dwfl_module_addrinfo) X(dwfl_module_getsymtab)                      \
    X(dwfl_module_getsym_info) X(dwarf_getscopes) X(dwarf_getsrcfiles) X(dwarf_filesrc)          \
    X(dwarf_tag) X(dwarf_attr) X(dwarf_attr_integrate) X(dwarf_formstring) X(dwarf_formudata)

struct Libdw {
#define LIBDW_POINTER(name) decltype(&::name) name;
    LIBDW_FUNCTIONS(LIBDW_POINTER)
#undef LIBDW_POINTER
    Dwfl_Callbacks callbacks;  // libdwfl keeps a pointer to them for the Dwfl's whole life
};

std::atomic<const Libdw*> g_libdw{nullptr};

// Once libdw() answered, as every Dwfl and Dwfl_Module implies.
const Libdw& dw() { return *g_libdw.load(std::memory_order_acquire); }

// dwfl_standard_find_debuginfo ends in a debuginfod download whenever DEBUGINFOD_URLS is set,
// which Debian's libdebuginfod-common can do for every login shell. That would be network traffic,
// and with stripped system libraries minutes of waiting, inside the traced program at dump time.
// So with debuginfod configured we keep to the local build-id tree (/usr/lib/debug/.build-id),
// which is where distribution debug packages install; without it the standard search also
// follows .gnu_debuglink.
int find_local_debuginfo(Dwfl_Module* module, void** userdata, const char* modname, Dwarf_Addr base,
                         const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                         char** debuginfo_file_name) {
    const char* urls = getenv("DEBUGINFOD_URLS");
    if (urls != nullptr && urls[0] != '\0') {
        return dw().dwfl_build_id_find_debuginfo(module, userdata, modname, base, file_name, debuglink_file,
                                                 debuglink_crc, debuginfo_file_name);
    }
    return dw().dwfl_standard_find_debuginfo(module, userdata, modname, base, file_name, debuglink_file,
                                             debuglink_crc, debuginfo_file_name);
}

char* debuginfo_path = nullptr;  // null: libdwfl's default, ":.debug:/usr/lib/debug"

// Opened once, never closed; nullptr when it cannot be (not installed, no fd free at the limit),
// and frames then come from the dynamic loader's symbols alone. Two threads may both open it:
// the loader counts the second, and one result is kept.
const Libdw* libdw() {
    if (const Libdw* loaded = g_libdw.load(std::memory_order_acquire)) return loaded;
    void* handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    auto* fresh = handle ? new (std::nothrow) Libdw{} : nullptr;
    if (!fresh) return nullptr;
    bool complete = true;
#define LIBDW_RESOLVE(name)                                                       \
    fresh->name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name)); \
    complete = complete && fresh->name;
    LIBDW_FUNCTIONS(LIBDW_RESOLVE)
#undef LIBDW_RESOLVE
    fresh->callbacks = {.find_elf = fresh->dwfl_linux_proc_find_elf,
                        .find_debuginfo = find_local_debuginfo,
                        .section_address = nullptr,
                        .debuginfo_path = &debuginfo_path};
    const Libdw* kept = nullptr;
    if (complete && g_libdw.compare_exchange_strong(kept, fresh)) return fresh;
    delete fresh;
    return kept;
}

std::string demangle(const char* name) {
    // Symbol tables of versioned libraries may hold "name@VERSION"; mangled names never hold '@'.
    std::string symbol(name, strcspn(name, "@"));
    if (symbol.rfind("_Z", 0) != 0) return symbol;
    int status = 0;
    char* demangled = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
    if (status != 0 || demangled == nullptr) return symbol;
    std::string result(demangled);
    free(demangled);
    return result;
}

// Frames resolved by earlier Symbolizers: the dumps of a live process (a
// storm of kill -USR1, a dump per test) mostly ask for the same addresses,
// and libdwfl would decompress libc's debug info again each time. Never
// destroyed; try-locked, so a fork child whose parent held the lock resolves
// afresh instead of waiting. Emptied when a library was unloaded, since its
// addresses may now belong to another.
struct SharedCache {
    std::mutex mutex;
    unsigned long long unloads = 0;
    std::unordered_map<uintptr_t, std::vector<NativeFrame>> frames;
};

SharedCache& shared_cache() {
    static auto* cache = new SharedCache;
    return *cache;
}

int read_unloads(dl_phdr_info* info, size_t, void* data) {
    *static_cast<unsigned long long*>(data) = info->dlpi_subs;
    return 1;
}

}  // namespace

Symbolizer::Symbolizer() {
    unsigned long long unloads = 0;
    dl_iterate_phdr(read_unloads, &unloads);
    SharedCache& cache = shared_cache();
    std::unique_lock lock(cache.mutex, std::try_to_lock);
    if (lock && cache.unloads != unloads) {
        cache.frames.clear();
        cache.unloads = unloads;
    }
}

Symbolizer::~Symbolizer() {
    if (dwfl_ != nullptr) dw().dwfl_end(dwfl_);
}

const std::vector<NativeFrame>& Symbolizer::symbolize(uintptr_t return_address) {
    auto cached = frames_.find(return_address);
    if (cached != frames_.end()) return cached->second;
    SharedCache& shared = shared_cache();
    std::vector<NativeFrame> frames;
    try {
        {
            std::unique_lock lock(shared.mutex, std::try_to_lock);
            auto known = lock ? shared.frames.find(return_address) : shared.frames.end();
            if (lock && known != shared.frames.end()) frames = known->second;
        }
        if (frames.empty()) {
            frames = resolve(return_address);
            // An address in no module may be in one dlopen'ed later: not cached.
            std::unique_lock lock(shared.mutex, std::try_to_lock);
            if (lock && frames.back().module != kUnknownModule) shared.frames.emplace(return_address, frames);
        }
    } catch (...) {
        // Only allocation can fail here; a bare frame still carries the address.
        frames.assign(1, NativeFrame{});
        frames[0].address = return_address;
    }
    return frames_.insert_or_assign(return_address, std::move(frames)).first->second;
}

std::vector<NativeFrame> Symbolizer::resolve(uintptr_t return_address) {
    NativeFrame frame;
    frame.address = return_address;
    frame.module = kUnknownModule;
    if (return_address == 0) return {frame};
    // A return address points after the call, which may already be the next line or, after a
    // noreturn call, the next function; the call itself is at the byte before.
    const uintptr_t pc = return_address - 1;

    Dwfl_Module* dwfl_module = find_module(pc);
    if (dwfl_module) {
        frame.module = module(dwfl_module).path;
        if (const char* name = function_at(dwfl_module, pc)) frame.function = demangle(name);
        if (Dwfl_Line* line = dw().dwfl_module_getsrc(dwfl_module, pc)) {
            int line_number = 0;
            if (const char* file = dw().dwfl_lineinfo(line, nullptr, &line_number, nullptr, nullptr, nullptr)) {
                frame.file = file;
                frame.line = line_number;
            }
        }
    }

    // The dynamic loader still knows exported symbols when libdwfl cannot open the file (deleted,
    // or no fd left because the dump was triggered by EMFILE).
    if (frame.function.empty() || frame.module == kUnknownModule) {
        Dl_info info;
        if (dladdr(reinterpret_cast<void*>(pc), &info) != 0) {
            if (frame.function.empty() && info.dli_sname != nullptr) frame.function = demangle(info.dli_sname);
            if (frame.module == kUnknownModule && info.dli_fname != nullptr && info.dli_fname[0] != '\0') {
                frame.module = info.dli_fname;
            }
        }
    }
    std::vector<NativeFrame> frames{frame};
    if (dwfl_module) expand_inlined(dwfl_module, pc, frames);
    return frames;
}

// Walks the DWARF scopes at `pc` from the innermost: each inlined subroutine
// becomes a frame at the current line, and its call site (DW_AT_call_file and
// DW_AT_call_line) is where the next one out stands -- as `addr2line -i` does.
void Symbolizer::expand_inlined(Dwfl_Module* dwfl_module, uintptr_t pc, std::vector<NativeFrame>& frames) {
    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dw().dwfl_module_addrdie(dwfl_module, pc, &bias);
    if (!cu) return;
    Dwarf_Die* scopes = nullptr;
    int n = dw().dwarf_getscopes(cu, pc - bias, &scopes);
    if (n <= 0) return;
    Dwarf_Files* files = nullptr;
    size_t n_files = 0;
    if (dw().dwarf_getsrcfiles(cu, &files, &n_files) != 0) files = nullptr;
    NativeFrame outer = frames.back();
    std::vector<NativeFrame> chain;
    for (int i = 0; i < n; ++i) {
        if (dw().dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
        NativeFrame inlined = outer;
        Dwarf_Attribute attribute;
        const Libdw& d = dw();
        const char* name = d.dwarf_formstring(d.dwarf_attr_integrate(&scopes[i], DW_AT_linkage_name, &attribute));
        if (!name) name = d.dwarf_formstring(d.dwarf_attr_integrate(&scopes[i], DW_AT_name, &attribute));
        inlined.function = name ? demangle(name) : std::string();
        chain.push_back(inlined);
        Dwarf_Word value = 0;
        if (files && dw().dwarf_formudata(dw().dwarf_attr(&scopes[i], DW_AT_call_file, &attribute), &value) == 0) {
            const char* file = dw().dwarf_filesrc(files, value, nullptr, nullptr);
            outer.file = file ? file : "";
        }
        if (dw().dwarf_formudata(dw().dwarf_attr(&scopes[i], DW_AT_call_line, &attribute), &value) == 0) {
            outer.line = static_cast<int>(value);
        }
    }
    free(scopes);
    chain.push_back(outer);
    frames = std::move(chain);
}

Dwfl_Module* Symbolizer::find_module(uintptr_t pc) {
    if (!reported_) {
        reported_ = true;
        report_modules();
    }
    if (dwfl_ == nullptr) return nullptr;
    if (Dwfl_Module* module = module_containing(pc)) return module;
    // A library dlopen'ed since the first report; read the maps once more, not per unknown address,
    // since JIT code and garbage addresses never resolve.
    if (rereported_) return nullptr;
    rereported_ = true;
    report_modules();
    return module_containing(pc);
}

// dwfl_addrmodule (elfutils 0.188) answers the highest module for any address above it, up to
// 0xffffffffffffffff, so the range is checked here.
Dwfl_Module* Symbolizer::module_containing(uintptr_t pc) {
    Dwfl_Module* module = dw().dwfl_addrmodule(dwfl_, pc);
    if (module == nullptr) return nullptr;
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    dw().dwfl_module_info(module, nullptr, &start, &end, nullptr, nullptr, nullptr, nullptr);
    return start <= pc && pc < end ? module : nullptr;
}

// Modules reported again unchanged keep their loaded ELF and DWARF; modules gone are freed, so
// cached module pointers are dropped. A failure part way (a maps line libdwfl rejects) still
// leaves the modules reported before it usable.
void Symbolizer::report_modules() {
    const Libdw* loaded = libdw();
    if (loaded == nullptr) return;
    if (dwfl_ == nullptr) dwfl_ = loaded->dwfl_begin(&loaded->callbacks);
    if (dwfl_ == nullptr) return;
    modules_.clear();
    dw().dwfl_report_begin(dwfl_);
    if (dw().dwfl_linux_proc_report(dwfl_, getpid()) != 0) {
        // It starts with /proc/PID/auxv, which is root's alone once the
        // process changed user (nginx's workers: not dumpable any more);
        // /proc/self/maps stays readable to the process itself.
        if (FILE* maps = fopen("/proc/self/maps", "rce")) {
            dw().dwfl_linux_proc_maps_report(dwfl_, maps);
            fclose(maps);
        }
    }
    dw().dwfl_report_end(dwfl_, nullptr, nullptr);
}

Symbolizer::Module& Symbolizer::module(Dwfl_Module* dwfl_module) {
    auto cached = modules_.find(dwfl_module);
    if (cached != modules_.end()) return cached->second;
    Module module;
    // libdwfl names the vDSO "[vdso: <pid>]"; the pid adds nothing and would differ between dumps.
    // Other names are the paths from /proc/self/maps: what the program mapped, even if the file
    // has since been replaced.
    const char* name = dw().dwfl_module_info(dwfl_module, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    module.path = name == nullptr                  ? kUnknownModule
                  : strncmp(name, "[vdso", 5) == 0 ? "[vdso]"
                                                   : name;
    module.functions = read_functions(dwfl_module);
    return modules_.emplace(dwfl_module, std::move(module)).first->second;
}

// dwfl_module_addrinfo scans the whole symbol table on every call, about 0.25 ms per address in
// libc with its debug symbols, so each module's functions are sorted once and searched instead.
const char* Symbolizer::function_at(Dwfl_Module* dwfl_module, uintptr_t pc) {
    const std::vector<Function>& functions = module(dwfl_module).functions;
    auto after = std::upper_bound(functions.begin(), functions.end(), pc,
                                  [](uintptr_t address, const Function& function) { return address < function.start; });
    if (after != functions.begin() && pc < std::prev(after)->end) return std::prev(after)->name;
    // Outside every sized function (PLT stubs, static functions of a stripped module, assembly
    // without .size): libdwfl's own rules for what is nearest.
    GElf_Off offset = 0;
    GElf_Sym symbol;
    return dw().dwfl_module_addrinfo(dwfl_module, pc, &offset, &symbol, nullptr, nullptr, nullptr);
}

std::vector<Symbolizer::Function> Symbolizer::read_functions(Dwfl_Module* dwfl_module) {
    // Aliases share an address (read, __read, __libc_read, __GI___read); the exported name with
    // the fewest leading underscores is the one people know. Ties keep symbol table order.
    struct Candidate {
        Function function;
        bool local;
        size_t underscores;
    };
    std::vector<Candidate> candidates;
    const int count = dw().dwfl_module_getsymtab(dwfl_module);
    for (int index = 1; index < count; ++index) {
        GElf_Sym symbol;
        GElf_Addr address = 0;
        GElf_Word section = 0;
        const char* name =
            dw().dwfl_module_getsym_info(dwfl_module, index, &symbol, &address, &section, nullptr, nullptr);
        if (name == nullptr || name[0] == '\0' || symbol.st_size == 0 || section == SHN_UNDEF) continue;
        const int type = GELF_ST_TYPE(symbol.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
        candidates.push_back({{address, address + symbol.st_size, name},
                              GELF_ST_BIND(symbol.st_info) == STB_LOCAL,
                              strspn(name, "_")});
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        if (a.function.start != b.function.start) return a.function.start < b.function.start;
        if (a.local != b.local) return b.local;
        return a.underscores < b.underscores;
    });
    std::vector<Function> functions;
    functions.reserve(candidates.size());
    for (const Candidate& candidate : candidates) {
        if (functions.empty() || functions.back().start != candidate.function.start) {
            functions.push_back(candidate.function);
        }
    }
    return functions;
}

}  // namespace fdtrack
