// Reads the calling thread's CPython stack from inside an fd hook, without the
// GIL, by following the interpreter's own frame structures at offsets taken
// from a per-version layout (layout.h), on CPython 3.8 to 3.14.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fdtrack::python {

// Finds a supported CPython in the process and picks its layout. Called once,
// from the library constructor (dlsym is safe there). False when the process
// runs no CPython or one whose layout we do not know (then says so once on
// stderr: native frames are still recorded; a layout is never guessed).
bool init();

// True after a successful init().
bool active();

// Identity of one frame. The line is not computed here: mapping an
// instruction to a line walks the code's location table, which costs more
// than the whole capture; describe() does it once per new stack.
struct FrameKey {
    uintptr_t code;      // the code object
    int32_t instr;       // index of the running instruction, in code units
    uint32_t code_hash;  // tells apart code objects that reuse a freed address
    bool operator==(const FrameKey&) const = default;
};

// Captures the calling thread's Python frames, innermost first, up to `max`.
// 0 when this thread runs no Python (no thread state, another interpreter,
// interpreter finalizing on another thread). Takes no lock, no GIL, no malloc.
int capture(FrameKey* out, int max);

// Copies the file name and qualified function name of a captured frame and
// computes its line. Only valid on the capturing thread while the captured
// frames are still alive (right after capture(), inside the same hook): code
// objects may be freed later. Strings are truncated to fit and always
// NUL-terminated. False if `key` no longer names a code object.
bool describe(const FrameKey& key, char* file, size_t file_cap, char* function, size_t function_cap,
              int* line);

// Called at the start of interpreter shutdown (from our atexit handler, on
// the thread that will finalize): from now on only that thread's frames are
// read. Py_FinalizeEx later frees daemon threads' states and frame stacks
// while those threads may sit in a hook; this waits for walks in progress.
void only_this_thread_from_now_on();

}  // namespace fdtrack::python
