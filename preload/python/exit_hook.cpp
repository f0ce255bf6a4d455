// Runs a callback when a CPython program begins to shut down, from a Python
// atexit handler: before finalization closes the files and sockets the
// program leaked, so an exit report still sees them. Works on 3.8 and later
// (PEP 578 audit hooks), whether or not fdtrack reads that version's frames.
//
// Every C-API function is found with dlsym: the library must load in any
// process, so it cannot link libpython. Apart from the stable API, it needs to
// know where _PyRuntime keeps the audit hooks (see unlink_audit_hook); rather
// than a per-version offset, it finds the word that PySys_AddAuditHook set.
#include "preload/python/exit_hook.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>

namespace fdtrack::python {
namespace {

struct PyObject;  // opaque: only passed back to the C API

using AuditHook = int (*)(const char* event, PyObject* args, void* data);
using CFunction = PyObject* (*)(PyObject* self, PyObject* unused);

// PyMethodDef, part of the stable ABI.
struct MethodDef {
    const char* name;
    CFunction method;
    int flags;
    const char* doc;
};
constexpr int kMethNoArgs = 0x0004;

struct Api {
    int (*is_initialized)();
    int (*add_audit_hook)(AuditHook, void*);
    PyObject* (*import_module)(const char*);
    PyObject* (*get_attr)(PyObject*, const char*);
    PyObject* (*new_function)(MethodDef*, PyObject*, PyObject*);
    PyObject* (*call)(PyObject*, ...);  // PyObject_CallFunctionObjArgs, NULL-terminated
    void (*incref)(PyObject*);
    void (*decref)(PyObject*);
    void (*clear_error)();
    PyObject* none;
};

Api api;
void (*exit_callback)() = nullptr;
std::atomic<bool> registered{false};

template <typename F>
bool resolve(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
    return f != nullptr;
}

PyObject* on_exit(PyObject*, PyObject*) {
    exit_callback();
    api.incref(api.none);
    return api.none;
}

MethodDef exit_method = {"fdtrack_exit_report", on_exit, kMethNoArgs, nullptr};

// atexit.register(on_exit). Any failure is cleared: the program must not see
// an exception it did not cause.
void register_atexit() {
    PyObject* module = api.import_module("atexit");
    if (!module) return api.clear_error();
    PyObject* register_fn = api.get_attr(module, "register");
    api.decref(module);
    if (!register_fn) return api.clear_error();
    PyObject* function = api.new_function(&exit_method, nullptr, nullptr);
    if (function) {
        PyObject* result = api.call(register_fn, function, nullptr);
        if (result) api.decref(result);
        api.decref(function);
    }
    api.decref(register_fn);
    api.clear_error();
}

bool is_main_program_start(const char* event) {
    static constexpr const char* kEvents[] = {"command", "file", "module", "stdin", "interactivehook"};
    constexpr size_t kPrefix = sizeof("cpython.run_") - 1;
    if (std::strncmp(event, "cpython.run_", kPrefix) != 0) return false;
    for (const char* name : kEvents) {
        if (std::strcmp(event + kPrefix, name) == 0) return true;
    }
    return false;
}

// _Py_AuditHookEntry, unchanged from 3.8 to 3.14.
struct AuditHookEntry {
    AuditHookEntry* next;
    AuditHook hook;
    void* data;
};

int on_audit(const char* event, PyObject*, void*);

// The head of _PyRuntime's audit hook list; null when it was not found.
AuditHookEntry** g_hook_list = nullptr;

// Adds on_audit with PySys_AddAuditHook and finds the list's head: the one
// word of _PyRuntime that went from null to an entry whose hook is ours.
// Only words the call changed are followed, so nothing unknown is read.
void add_audit_hook_and_find_list() {
    void* runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
    Dl_info info;
    void* symbol = nullptr;  // the ElfW(Sym) of _PyRuntime, whose size we need
    size_t words = 0;
    if (runtime && dladdr1(runtime, &info, &symbol, RTLD_DL_SYMENT) && symbol)
        words = static_cast<const ElfW(Sym)*>(symbol)->st_size / sizeof(uintptr_t);
    size_t bytes = words * sizeof(uintptr_t);
    void* copy = bytes ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
    if (copy != MAP_FAILED) std::memcpy(copy, runtime, bytes);

    // Documented as safe before Py_Initialize: _PyRuntimeState_Init keeps
    // the hook list it finds.
    if (api.add_audit_hook(on_audit, nullptr) != 0 || copy == MAP_FAILED) {
        if (copy != MAP_FAILED) munmap(copy, bytes);
        return;
    }
    auto* before = static_cast<const uintptr_t*>(copy);
    auto* now = static_cast<uintptr_t*>(runtime);
    for (size_t i = 0; i < words && !g_hook_list; ++i) {
        if (before[i] != 0 || !now[i]) continue;
        auto* entry = reinterpret_cast<AuditHookEntry*>(now[i]);
        if (entry->hook == on_audit) g_hook_list = reinterpret_cast<AuditHookEntry**>(now + i);
    }
    munmap(copy, bytes);
}

// Our hook's entry was allocated before Py_Initialize picked the allocators;
// with the debug ones (-X dev, PYTHONMALLOC=debug) the free in
// _PySys_ClearAuditHooks aborts the process ("bad ID"). So once the hook has
// done its job it leaves the list, which also ends its cost on every event.
// The entry itself is leaked: the caller is iterating the list and is about to
// read its `next`.
void unlink_audit_hook() {
    for (AuditHookEntry** link = g_hook_list; link && *link; link = &(*link)->next) {
        if ((*link)->hook == on_audit) {
            *link = (*link)->next;
            return;
        }
    }
}

// Called for every audited event (imports, opens, exec...): the first byte
// rules out nearly all of them. The cpython.run_* events come from
// Modules/main.c once the interpreter is fully initialised, with the GIL held.
int on_audit(const char* event, PyObject*, void*) {
    if (event[0] != 'c') return 0;
    // An embedding program may never run a main program: leave before
    // Py_FinalizeEx frees the list (it audits this just before).
    if (std::strcmp(event, "cpython._PySys_ClearAuditHooks") == 0) {
        unlink_audit_hook();
        return 0;
    }
    if (registered.load(std::memory_order_relaxed)) return 0;
    if (!is_main_program_start(event) || registered.exchange(true)) return 0;
    unlink_audit_hook();
    register_atexit();
    return 0;
}

}  // namespace

void install_exit_hook(void (*callback)()) {
    if (!callback || exit_callback) return;
    bool found = resolve(api.is_initialized, "Py_IsInitialized") && resolve(api.add_audit_hook, "PySys_AddAuditHook") &&
                 resolve(api.import_module, "PyImport_ImportModule") &&
                 resolve(api.get_attr, "PyObject_GetAttrString") && resolve(api.new_function, "PyCFunction_NewEx") &&
                 resolve(api.call, "PyObject_CallFunctionObjArgs") && resolve(api.incref, "Py_IncRef") &&
                 resolve(api.decref, "Py_DecRef") && resolve(api.clear_error, "PyErr_Clear");
    api.none = static_cast<PyObject*>(dlsym(RTLD_DEFAULT, "_Py_NoneStruct"));
    // Once initialised, adding a hook runs the existing ones and needs the
    // GIL, which we do not hold; the run events have passed by then anyway.
    if (!found || !api.none || api.is_initialized()) return;
    exit_callback = callback;
    add_audit_hook_and_find_list();
}

}  // namespace fdtrack::python
