// Reads the calling thread's CPython stack from inside an fd hook, without the
// GIL, by following the interpreter's own frame structures at offsets taken
// from a per-version layout table.
//
// Why without the GIL: CPython releases it around open(), socket(), accept()...
// so the hook runs while another thread may hold it; taking it would stall or
// deadlock. What makes the walk safe anyway: a thread's frame chain is only
// changed by that thread, and that thread is inside our hook. The thread state
// comes from PyGILState_GetThisThreadState(), a TLS read that needs no GIL.
#include "preload/python_frames.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>

#include <cstdio>
#include <cstring>

namespace fdtrack::python {
namespace {

// Offsets into CPython's internal structures for one minor version. They come
// from offsetof() on the release's own headers compiled with -DPy_BUILD_CORE
// (Include/internal/pycore_frame.h, pycore_runtime.h, cpython/code.h,
// cpython/unicodeobject.h), never from the headers at build time, so one
// library serves every listed version.
//
// Adding a version: 3.12 has the same shape (it adds a C-stack frame owner,
// owner_cstack = 3). 3.13 drops _PyCFrame (tstate_cframe = kDirect, and
// frame_current is then the thread state's own current_frame) and publishes
// these offsets in _PyRuntime.debug_offsets, which init() could read instead.
// 3.8-3.10 keep a PyFrameObject chain (tstate->frame, f_back, f_lasti) and
// older line tables: they need a second walker, not just a row here.
struct Layout {
    unsigned minor;  // 3.minor
    // _PyRuntimeState
    uint16_t runtime_finalizing;   // thread state running Py_FinalizeEx, or NULL
    uint16_t runtime_main_interp;  // interpreters.main
    uint16_t runtime_audit_hooks;  // audit_hook_head (audit_hooks.head from 3.12)
    // PyThreadState
    uint16_t tstate_interp;
    uint16_t tstate_cframe;  // _PyCFrame*, or kDirect
    uint16_t frame_current;  // current_frame within the _PyCFrame
    // _PyInterpreterFrame
    uint16_t frame_code;
    uint16_t frame_previous;
    uint16_t frame_instr;  // prev_instr (3.11-3.12), instr_ptr (3.13)
    uint16_t frame_owner;
    int8_t owner_generator;
    int8_t owner_cstack;  // shim frames of C calls (3.12+); -1 when absent
    // PyCodeObject
    uint16_t code_firstlineno;
    uint16_t code_filename;
    uint16_t code_qualname;
    uint16_t code_linetable;
    uint16_t code_firsttraceable;
    uint16_t code_units;  // co_code_adaptive: the instructions, inline
    // PyBytesObject
    uint16_t bytes_size;
    uint16_t bytes_data;
    // PyASCIIObject and PyCompactUnicodeObject
    uint16_t str_length;
    uint16_t str_state;
    uint16_t str_ascii_data;    // sizeof(PyASCIIObject)
    uint16_t str_compact_data;  // sizeof(PyCompactUnicodeObject)
    uint8_t str_kind_shift;
    uint8_t str_compact_bit;
    uint8_t str_ascii_bit;
};

constexpr uint16_t kDirect = 0xffff;
constexpr uint16_t kObType = 8;  // PyObject.ob_type: fixed by the stable ABI

// Verified identical for 3.11.2 (Debian) and 3.11.7 (pyenv).
constexpr Layout kLayouts[] = {
    {.minor = 11,
     .runtime_finalizing = 24,
     .runtime_main_interp = 48,
     .runtime_audit_hooks = 656,
     .tstate_interp = 16,
     .tstate_cframe = 56,
     .frame_current = 8,
     .frame_code = 32,
     .frame_previous = 48,
     .frame_instr = 56,
     .frame_owner = 69,
     .owner_generator = 1,
     .owner_cstack = -1,
     .code_firstlineno = 72,
     .code_filename = 112,
     .code_qualname = 128,
     .code_linetable = 136,
     .code_firsttraceable = 168,
     .code_units = 184,
     .bytes_size = 16,
     .bytes_data = 32,
     .str_length = 16,
     .str_state = 32,
     .str_ascii_data = 48,
     .str_compact_data = 72,
     .str_kind_shift = 2,
     .str_compact_bit = 5,
     .str_ascii_bit = 6},
};

// A corrupted or cyclic chain must not hang the hook; real stacks that are
// deeper are truncated by `max` long before this.
constexpr int kMaxSteps = 4096;

struct State {
    const Layout* layout = nullptr;  // null: inactive
    uintptr_t runtime = 0;           // &_PyRuntime
    uintptr_t code_type = 0;         // &PyCode_Type, to reject anything that is not a code object
    uintptr_t bytes_type = 0;
    uintptr_t str_type = 0;
    void* (*this_thread_state)() = nullptr;
};

State g;

template <typename T>
T load(uintptr_t base, uint16_t offset) {
    T value;
    std::memcpy(&value, reinterpret_cast<const void*>(base + offset), sizeof value);
    return value;
}

uintptr_t load_ptr(uintptr_t base, uint16_t offset) { return load<uintptr_t>(base, offset); }

void notice(const char* text) {
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

struct Version {
    unsigned major = 0, minor = 0, micro = 0;
    unsigned level = 0xf;  // 0xa alpha, 0xb beta, 0xc candidate, 0xf final
};

// Py_Version exists from 3.11; older releases only have the version string.
bool find_version(Version& v) {
    if (auto* hex = static_cast<const unsigned long*>(dlsym(RTLD_DEFAULT, "Py_Version"))) {
        v.major = (*hex >> 24) & 0xff;
        v.minor = (*hex >> 16) & 0xff;
        v.micro = (*hex >> 8) & 0xff;
        v.level = (*hex >> 4) & 0xf;
        return true;
    }
    auto get_version = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "Py_GetVersion"));
    if (!get_version) return false;
    // Formats a static buffer from compile-time strings: fine before Py_Initialize.
    return std::sscanf(get_version(), "%u.%u.%u", &v.major, &v.minor, &v.micro) >= 2;
}

uint32_t code_hash(uintptr_t code, const Layout& L) {
    // The code object's own name and line table objects die with it, so
    // their addresses tell apart code objects that reuse a freed address. They
    // share a cache line with co_code_adaptive's header fields read anyway.
    uint64_t name = load_ptr(code, L.code_qualname);
    uint64_t table = load_ptr(code, L.code_linetable);
    uint64_t h = (name ^ (table << 17 | table >> 47)) * 0x9e3779b97f4a7c15ull;
    return static_cast<uint32_t>(h >> 32);
}

// Appends `cp` as UTF-8 if it fits; false when full.
bool put_utf8(uint32_t cp, char* out, size_t cap, size_t& n) {
    char buf[4];
    size_t len;
    if (cp < 0x80) {
        buf[0] = static_cast<char>(cp);
        len = 1;
    } else if (cp < 0x800) {
        buf[0] = static_cast<char>(0xc0 | (cp >> 6));
        buf[1] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 2;
    } else if (cp < 0x10000) {
        buf[0] = static_cast<char>(0xe0 | (cp >> 12));
        buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        buf[2] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 3;
    } else {
        buf[0] = static_cast<char>(0xf0 | (cp >> 18));
        buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        buf[3] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 4;
    }
    if (n + len >= cap) return false;
    std::memcpy(out + n, buf, len);
    n += len;
    return true;
}

// Copies a str object's text as UTF-8 from its inline data, the way it is
// stored (1, 2 or 4 bytes a character), since PyUnicode_AsUTF8 needs the GIL
// and may allocate. Code objects only hold compact strings.
void copy_str(uintptr_t s, const Layout& L, char* out, size_t cap) {
    if (cap == 0) return;
    out[0] = '\0';
    if (!s || load_ptr(s, kObType) != g.str_type) return;
    auto length = load<intptr_t>(s, L.str_length);
    auto state = load<uint32_t>(s, L.str_state);
    unsigned kind = (state >> L.str_kind_shift) & 7;
    bool compact = (state >> L.str_compact_bit) & 1;
    bool ascii = (state >> L.str_ascii_bit) & 1;
    if (!compact || (kind != 1 && kind != 2 && kind != 4)) return;
    auto data = s + (ascii ? L.str_ascii_data : L.str_compact_data);
    size_t n = 0;
    for (intptr_t i = 0; i < length; ++i) {
        uint32_t cp = kind == 1   ? reinterpret_cast<const uint8_t*>(data)[i]
                      : kind == 2 ? reinterpret_cast<const uint16_t*>(data)[i]
                                  : reinterpret_cast<const uint32_t*>(data)[i];
        if (!put_utf8(cp, out, cap, n)) break;
    }
    out[n] = '\0';
}

// The 3.11+ location table (Objects/locations.md): entries start with a byte
// whose top bit is set; bits 3-6 give the entry's form, bits 0-2 the number of
// code units it covers minus one. Forms 13 and 14 carry a signed varint line
// delta, 10-12 mean delta 0-2, 15 means "no line", the rest keep the line.
int line_of(uintptr_t code, int32_t instr, const Layout& L) {
    int line = load<int32_t>(code, L.code_firstlineno);
    if (instr < 0) return line;
    uintptr_t table = load_ptr(code, L.code_linetable);
    if (!table || load_ptr(table, kObType) != g.bytes_type) return 0;
    auto size = load<intptr_t>(table, L.bytes_size);
    auto* p = reinterpret_cast<const uint8_t*>(table + L.bytes_data);
    const uint8_t* end = p + size;
    int32_t start = 0;
    while (p < end) {
        uint8_t head = *p++;
        int form = (head >> 3) & 15;
        int32_t units = (head & 7) + 1;
        if (form == 13 || form == 14) {
            uint32_t read = *p++, value = read & 63;
            for (unsigned shift = 6; (read & 64) && p < end; shift += 6) {
                read = *p++;
                value |= (read & 63) << shift;
            }
            line += (value & 1) ? -static_cast<int>(value >> 1) : static_cast<int>(value >> 1);
        } else if (form >= 10 && form <= 12) {
            line += form - 10;
        }
        if (instr < start + units) return form == 15 ? 0 : line;
        start += units;
        while (p < end && !(*p & 128)) ++p;
    }
    return 0;
}

}  // namespace

bool init() {
    if (g.layout) return true;
    auto this_thread_state = reinterpret_cast<void* (*)()>(dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState"));
    Version v;
    if (!this_thread_state || !find_version(v)) return false;  // not a CPython process: stay silent

    const Layout* layout = nullptr;
    // Alphas and betas moved these structures around; candidates and finals do not.
    if (v.major == 3 && v.level >= 0xc) {
        for (const Layout& candidate : kLayouts) {
            if (candidate.minor == v.minor) layout = &candidate;
        }
    }
    auto runtime = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "_PyRuntime"));
    auto code_type = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyCode_Type"));
    auto bytes_type = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyBytes_Type"));
    auto str_type = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyUnicode_Type"));
    if (!layout || !runtime || !code_type || !bytes_type || !str_type) {
        char text[160];
        std::snprintf(text, sizeof text,
                      "fdtrack: Python %u.%u.%u is not supported; Python frames will not be recorded\n", v.major,
                      v.minor, v.micro);
        notice(text);
        return false;
    }
    g.runtime = runtime;
    g.code_type = code_type;
    g.bytes_type = bytes_type;
    g.str_type = str_type;
    g.this_thread_state = this_thread_state;
    g.layout = layout;
    return true;
}

bool active() { return g.layout != nullptr; }

namespace {

// Walks in progress, and the one thread state still walkable once the
// interpreter is about to finalize (see only_this_thread_from_now_on()).
std::atomic<int> g_walkers{0};
std::atomic<uintptr_t> g_only_thread{0};

int walk(uintptr_t tstate, FrameKey* out, int max);

}  // namespace

void only_this_thread_from_now_on() {
    if (!g.layout) return;
    g_only_thread.store(reinterpret_cast<uintptr_t>(g.this_thread_state()));
    // A walk that started before the store may still be reading another
    // thread's frames: let it finish (bounded, in case its thread is stopped).
    for (int i = 0; i < 100000 && g_walkers.load() > 0; ++i) sched_yield();
}

int capture(FrameKey* out, int max) {
    const Layout* L = g.layout;
    if (!L || max <= 0) return 0;
    // NULL before Py_Initialize, after finalization, and in threads Python never saw.
    auto tstate = reinterpret_cast<uintptr_t>(g.this_thread_state());
    if (!tstate) return 0;
    // Sequentially consistent on both sides: either the finalizing thread sees
    // this walk in progress and waits, or this walk sees its flag and stops.
    g_walkers.fetch_add(1);
    uintptr_t only = g_only_thread.load();
    int n = only == 0 || only == tstate ? walk(tstate, out, max) : 0;
    g_walkers.fetch_sub(1, std::memory_order_release);
    return n;
}

namespace {

int walk(uintptr_t tstate, FrameKey* out, int max) {
    const Layout* L = g.layout;
    // Py_FinalizeEx frees the thread states of daemon threads under them; only
    // the finalizing thread's own state stays valid from then on.
    uintptr_t finalizing =
        __atomic_load_n(reinterpret_cast<const uintptr_t*>(g.runtime + L->runtime_finalizing), __ATOMIC_ACQUIRE);
    if (finalizing && finalizing != tstate) return 0;
    // Sub-interpreters are not supported: their threads report no frames.
    if (load_ptr(tstate, L->tstate_interp) != load_ptr(g.runtime, L->runtime_main_interp)) return 0;

    uintptr_t holder = L->tstate_cframe == kDirect ? tstate : load_ptr(tstate, L->tstate_cframe);
    if (!holder) return 0;
    uintptr_t frame = load_ptr(holder, L->frame_current);
    int n = 0;
    for (int steps = 0; frame && n < max && steps < kMaxSteps; ++steps, frame = load_ptr(frame, L->frame_previous)) {
        uintptr_t code = load_ptr(frame, L->frame_code);
        if (!code || load_ptr(code, kObType) != g.code_type) break;
        auto owner = load<int8_t>(frame, L->frame_owner);
        if (owner == L->owner_cstack) continue;
        auto instr = static_cast<int32_t>(
            (static_cast<intptr_t>(load_ptr(frame, L->frame_instr)) - static_cast<intptr_t>(code + L->code_units)) /
            2);
        // Pushed but not started yet (its arguments are still being set up):
        // CPython's own tracebacks skip such frames (_PyFrame_IsIncomplete).
        if (owner != L->owner_generator && instr < load<int32_t>(code, L->code_firsttraceable)) continue;
        out[n++] = FrameKey{code, instr, code_hash(code, *L)};
    }
    return n;
}

}  // namespace

void** audit_hook_list() {
    return g.layout ? reinterpret_cast<void**>(g.runtime + g.layout->runtime_audit_hooks) : nullptr;
}

bool describe(const FrameKey& key, char* file, size_t file_cap, char* function, size_t function_cap, int* line) {
    const Layout* L = g.layout;
    if (file_cap) file[0] = '\0';
    if (function_cap) function[0] = '\0';
    if (line) *line = 0;
    if (!L || !key.code || load_ptr(key.code, kObType) != g.code_type || code_hash(key.code, *L) != key.code_hash)
        return false;
    copy_str(load_ptr(key.code, L->code_filename), *L, file, file_cap);
    copy_str(load_ptr(key.code, L->code_qualname), *L, function, function_cap);
    if (line) *line = line_of(key.code, key.instr, *L);
    return true;
}

}  // namespace fdtrack::python
