// Reads the calling thread's CPython stack from inside an fd hook, without the
// GIL, by following the interpreter's own frame structures at offsets taken
// from a per-version layout (layout.h), on CPython 3.8 to 3.14.
//
// Why without the GIL: CPython releases it around open(), socket(), accept()...
// so the hook runs while another thread may hold it; taking it would stall or
// deadlock. What makes the walk safe anyway: a thread's frame chain is only
// changed by that thread, and that thread is inside our hook. The thread state
// comes from PyGILState_GetThisThreadState(), a TLS read that needs no GIL.
#include "preload/python/frames.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "preload/python/code_objects.h"
#include "preload/python/layout.h"
#include "preload/python/walkers.h"

namespace fdtrack::python {
namespace {

struct State {
    const Layout* layout = nullptr;  // null: inactive
    Layout described{};              // the row built from _Py_DebugOffsets (3.13+)
    uintptr_t runtime = 0;           // &_PyRuntime
    Types types;
    void* (*this_thread_state)() = nullptr;
};

// constinit: our constructor runs before this file's dynamic initializers would.
constinit State g;

// Walks in progress, and the one thread state still walkable once the
// interpreter is about to finalize (see only_this_thread_from_now_on()).
std::atomic<int> g_walkers{0};
std::atomic<uintptr_t> g_only_thread{0};

void notice(const char* text) {
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

// Py_Version exists from 3.11; older releases only have the version string,
// e.g. "3.10.13 (main, ...)" or "3.10.0rc2 (...)".
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
    const char* text = get_version();
    int used = 0;
    if (std::sscanf(text, "%u.%u.%u%n", &v.major, &v.minor, &v.micro, &used) < 3) return false;
    char level = text[used];
    v.level = level == 'a' ? 0xa : level == 'b' ? 0xb : level == 'r' ? 0xc : 0xf;
    return true;
}

int walk(uintptr_t tstate, FrameKey* out, int max) {
    const Layout& L = *g.layout;
    // Py_FinalizeEx frees the thread states of daemon threads under them; only
    // the finalizing thread's own state stays valid from then on.
    uintptr_t finalizing =
        __atomic_load_n(reinterpret_cast<const uintptr_t*>(g.runtime + L.runtime_finalizing), __ATOMIC_ACQUIRE);
    if (finalizing && finalizing != tstate) return 0;
    return L.walker == Walker::frame_objects ? walk_frame_objects(L, g.types, tstate, out, max)
                                             : walk_interpreter_frames(L, g.types, tstate, out, max);
}

}  // namespace

bool init() {
    if (g.layout) return true;
    auto this_thread_state = reinterpret_cast<void* (*)()>(dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState"));
    Version v;
    if (!this_thread_state || !find_version(v)) return false;  // not a CPython process: stay silent

    auto runtime = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "_PyRuntime"));
    Types types{reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyCode_Type")),
                reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyBytes_Type")),
                reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyUnicode_Type"))};
    const char* why = "does not export the symbols fdtrack reads";
    const Layout* layout = nullptr;
    if (runtime && types.code && types.bytes && types.str) layout = layout_for(v, runtime, g.described, why);
    if (!layout) {
        char text[200];
        std::snprintf(text, sizeof text,
                      "fdtrack: Python %u.%u.%u %s; Python frames will not be recorded (native frames are)\n",
                      v.major, v.minor, v.micro, why ? why : "is not supported");
        notice(text);
        return false;
    }
    g.runtime = runtime;
    g.types = types;
    g.this_thread_state = this_thread_state;
    g.layout = layout;
    return true;
}

bool active() { return g.layout != nullptr; }

void only_this_thread_from_now_on() {
    if (!g.layout) return;
    g_only_thread.store(reinterpret_cast<uintptr_t>(g.this_thread_state()));
    // A walk that started before the store may still be reading another
    // thread's frames: let it finish (bounded, in case its thread is stopped).
    for (int i = 0; i < 100000 && g_walkers.load() > 0; ++i) sched_yield();
}

int capture(FrameKey* out, int max) {
    if (!g.layout || max <= 0) return 0;
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

bool describe(const FrameKey& key, char* file, size_t file_cap, char* function, size_t function_cap, int* line) {
    const Layout* L = g.layout;
    if (file_cap) file[0] = '\0';
    if (function_cap) function[0] = '\0';
    if (line) *line = 0;
    if (!L || !is_code(key.code, g.types) || code_hash(key.code, *L) != key.code_hash) return false;
    copy_str(load_ptr(key.code, L->code_filename), *L, g.types, file, file_cap);
    copy_str(load_ptr(key.code, L->code_name), *L, g.types, function, function_cap);
    if (line) *line = line_of(key.code, key.instr, *L, g.types);
    return true;
}

}  // namespace fdtrack::python
