// Tests Python frame capture and the exit hook against a real CPython embedded
// in the test process (libpython loaded with dlopen, as a preload would find it).
#include "preload/python/exit_hook.h"
#include "preload/python/frames.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace fdtrack {
namespace {

struct PyObject;

struct MethodDef {
    const char* name;
    PyObject* (*method)(PyObject*, PyObject*);
    int flags;
    const char* doc;
};

struct Frame {
    std::string file;
    std::string function;
    int line;
};

std::vector<std::vector<Frame>> probes;  // one stack per probe() call
int probe_max = 64;
bool exit_callback_ran = false;

template <typename F>
F symbol(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

// probe(): called from Python; drops the GIL, as CPython does around open(),
// and records what capture() sees.
PyObject* probe(PyObject*, PyObject*) {
    void* saved = symbol<void* (*)()>("PyEval_SaveThread")();
    python::FrameKey keys[64];
    int n = python::capture(keys, probe_max);
    std::vector<Frame> stack;
    for (int i = 0; i < n; ++i) {
        char file[256], function[128];
        int line = -1;
        EXPECT_TRUE(python::describe(keys[i], file, sizeof file, function, sizeof function, &line));
        stack.push_back({file, function, line});
    }
    if (n > 0) {
        python::FrameKey stale = keys[0];
        stale.code_hash ^= 1;
        char file[8], function[8];
        int line;
        EXPECT_FALSE(python::describe(stale, file, sizeof file, function, sizeof function, &line));
    }
    probes.push_back(stack);
    symbol<void (*)(void*)>("PyEval_RestoreThread")(saved);
    auto* none = symbol<PyObject*>("_Py_NoneStruct");
    symbol<void (*)(PyObject*)>("Py_IncRef")(none);
    return none;
}

MethodDef probe_def = {"probe", probe, 0x0004 /* METH_NOARGS */, nullptr};

void run(const char* code) {
    ASSERT_EQ(symbol<int (*)(const char*, void*)>("PyRun_SimpleStringFlags")(code, nullptr), 0) << code;
}

TEST(PythonFrames, EmbeddedInterpreter) {
    EXPECT_FALSE(python::init()) << "no Python loaded yet";
    EXPECT_FALSE(python::active());
    python::FrameKey key;
    EXPECT_EQ(python::capture(&key, 1), 0);

    if (!dlopen("libpython3.11.so.1.0", RTLD_NOW | RTLD_GLOBAL)) GTEST_SKIP() << "no libpython3.11 here";
    ASSERT_TRUE(python::init());
    ASSERT_TRUE(python::active());
    python::install_exit_hook([] { exit_callback_ran = true; });
    EXPECT_EQ(python::capture(&key, 1), 0) << "before Py_Initialize";

    symbol<void (*)(int)>("Py_InitializeEx")(0);
    auto* main_dict = symbol<PyObject* (*)(PyObject*)>("PyModule_GetDict")(
        symbol<PyObject* (*)(const char*)>("PyImport_AddModule")("__main__"));
    auto* function = symbol<PyObject* (*)(MethodDef*, PyObject*, PyObject*)>("PyCFunction_NewEx")(&probe_def,
                                                                                                 nullptr, nullptr);
    symbol<int (*)(PyObject*, const char*, PyObject*)>("PyDict_SetItemString")(main_dict, "probe", function);

    // Line 1 is the empty first line of the string.
    run(R"(
class Holder:
    def method(self):
        probe()
def outer():
    Holder().method()
outer()
)");
    ASSERT_EQ(probes.size(), 1u);
    const std::vector<Frame> expected = {
        {"<string>", "Holder.method", 4}, {"<string>", "outer", 6}, {"<string>", "<module>", 7}};
    ASSERT_EQ(probes[0].size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(probes[0][i].file, expected[i].file);
        EXPECT_EQ(probes[0][i].function, expected[i].function);
        EXPECT_EQ(probes[0][i].line, expected[i].line) << expected[i].function;
    }

    // Long jumps in the line table (varint deltas), a generator frame, and a
    // non-ASCII name (stored as UCS-2 in the str object).
    probes.clear();
    std::string code = "def gen():\n" + std::string(300, '\n') + "    yield probe()\n";
    code += "def f\u00e9\u540d():\n    list(gen())\nf\u00e9\u540d()\n";
    run(code.c_str());
    ASSERT_EQ(probes.size(), 1u);
    ASSERT_EQ(probes[0].size(), 3u);
    EXPECT_EQ(probes[0][0].function, "gen");
    EXPECT_EQ(probes[0][0].line, 302);
    EXPECT_EQ(probes[0][1].function, "f\u00e9\u540d");
    EXPECT_EQ(probes[0][1].line, 304);
    EXPECT_EQ(probes[0][2].line, 305);

    // A deep stack is cut at `max`, innermost first.
    probes.clear();
    probe_max = 5;
    run("def down(n):\n    return down(n - 1) if n else probe()\ndown(20)\n");
    probe_max = 64;
    ASSERT_EQ(probes.size(), 1u);
    ASSERT_EQ(probes[0].size(), 5u);
    EXPECT_EQ(probes[0][4].function, "down");

    // A Python thread sees its own frames; a thread Python never saw sees none.
    probes.clear();
    run("import threading\ndef work():\n    probe()\nt = threading.Thread(target=work)\nt.start(); t.join()\n");
    ASSERT_EQ(probes.size(), 1u);
    ASSERT_FALSE(probes[0].empty());
    EXPECT_EQ(probes[0][0].function, "work");
    EXPECT_EQ(probes[0][0].line, 3);
    int native_thread_frames = -1;
    std::thread([&] { native_thread_frames = python::capture(&key, 1); }).join();
    EXPECT_EQ(native_thread_frames, 0);

    // The main program starting (Modules/main.c audits it) arms the atexit
    // handler, which Py_FinalizeEx runs.
    symbol<int (*)(const char*, const char*, ...)>("PySys_Audit")("cpython.run_command", nullptr);
    EXPECT_FALSE(exit_callback_ran);
    EXPECT_EQ(symbol<int (*)()>("Py_FinalizeEx")(), 0);
    EXPECT_TRUE(exit_callback_ran);
    EXPECT_EQ(python::capture(&key, 1), 0) << "after Py_FinalizeEx";
}

}  // namespace
}  // namespace fdtrack
