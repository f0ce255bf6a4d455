// Turns native return addresses of this process into report frames (function, file:line, module).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "report/report.h"

struct Dwfl;
struct Dwfl_Module;

namespace fdtrack {

// Built once per dump and used from one thread: libdwfl is not thread-safe. Opening ELF and
// debug files costs fds and time, so nothing is loaded until the first address asks for it, and
// everything is released when the Symbolizer goes away.
class Symbolizer {
public:
    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // `return_address` is what unw_backtrace gives; every frame keeps it unchanged. Functions
    // inlined at that address come first, each at its line, then the function the address
    // belongs to, at the line of the call (so `open` inlined by _FORTIFY_SOURCE still shows the
    // caller's own line). Never empty, never throws.
    const std::vector<NativeFrame>& symbolize(uintptr_t return_address);

private:
    // A function symbol of a module, at its load address; `name` points into libdwfl's copy of the
    // ELF string table and lives as long as the module does.
    struct Function {
        uintptr_t start = 0;
        uintptr_t end = 0;
        const char* name = nullptr;
    };
    struct Module {
        std::string path;
        std::vector<Function> functions;  // sorted by start, one per address
    };

    std::vector<NativeFrame> resolve(uintptr_t return_address);
    void expand_inlined(Dwfl_Module* dwfl_module, uintptr_t pc, std::vector<NativeFrame>& frames);
    Dwfl_Module* find_module(uintptr_t pc);
    Dwfl_Module* module_containing(uintptr_t pc);
    void report_modules();
    Module& module(Dwfl_Module* dwfl_module);
    const char* function_at(Dwfl_Module* dwfl_module, uintptr_t pc);
    static std::vector<Function> read_functions(Dwfl_Module* dwfl_module);

    Dwfl* dwfl_ = nullptr;
    bool reported_ = false;
    bool rereported_ = false;
    std::unordered_map<uintptr_t, std::vector<NativeFrame>> frames_;
    std::unordered_map<Dwfl_Module*, Module> modules_;
};

}  // namespace fdtrack
