// Reads what a frame's code object says about itself: its file and function
// names (str objects) and the line of an instruction (its line table), from
// the object's memory, without the GIL and without allocating.
#pragma once

#include <cstddef>
#include <cstdint>

#include "preload/python/layout.h"

namespace fdtrack::python {

// The interpreter's type objects, to check what a pointer points at.
struct Types {
    uintptr_t code = 0;   // &PyCode_Type
    uintptr_t bytes = 0;  // &PyBytes_Type
    uintptr_t str = 0;    // &PyUnicode_Type
};

inline bool is_code(uintptr_t object, const Types& types) {
    return object && load_ptr(object, kObType) == types.code;
}

// Tells apart code objects that reuse a freed code object's address: its own
// name and line table objects die with it.
uint32_t code_hash(uintptr_t code, const Layout& L);

// Copies a str object's text as UTF-8 (truncated to fit, NUL-terminated);
// empty when `s` is not a compact str.
void copy_str(uintptr_t s, const Layout& L, const Types& types, char* out, size_t cap);

// The line of the instruction at code unit `instr` (2-byte units), as
// PyCode_Addr2Line computes it; the first line for a frame not started yet
// (instr < 0); 0 when the table says the instruction has no line.
int line_of(uintptr_t code, int32_t instr, const Layout& L, const Types& types);

}  // namespace fdtrack::python
