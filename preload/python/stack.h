// The Python side of a stack: frames of the calling thread's Python code, as
// keys for the stack table and, once per new stack, as names.
#pragma once

#include "preload/track/stack_table.h"

namespace fdtrack {

inline constexpr int kMaxPythonDepth = 64;

// Fills `out` with the calling thread's Python frames, innermost first; 0
// when this thread runs no Python (or the process has no supported CPython).
int python_stack_capture(PyFrameKey* out, int max);
// Names of a frame just captured on this thread (its code object is alive).
void python_stack_describe(const PyFrameKey& key, PyFrameText* out);

}  // namespace fdtrack
