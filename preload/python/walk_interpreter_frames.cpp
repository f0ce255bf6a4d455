// Walks the calling thread's Python stack on CPython 3.11 and later, where
// functions run in _PyInterpreterFrame records on a per-thread data stack,
// linked by `previous` from the thread state's current frame.
//
// Not every record is a Python call: the C stack's entry frames (shims,
// owner FRAME_OWNED_BY_CSTACK from 3.12, FRAME_OWNED_BY_INTERPRETER from
// 3.14) run no code of the program, and their executable need not be a code
// object (Py_None from 3.13). A frame pushed but not started yet (its
// arguments are still being set up) is skipped as CPython's own tracebacks
// skip it (_PyFrame_IsIncomplete).
#include "preload/python/walkers.h"

namespace fdtrack::python {

int walk_interpreter_frames(const Layout& L, const Types& types, uintptr_t tstate, FrameKey* out, int max) {
    uintptr_t holder = L.tstate_frame_holder == kDirect ? tstate : load_ptr(tstate, L.tstate_frame_holder);
    if (!holder) return 0;
    uintptr_t frame = load_ptr(holder, L.frame_current);
    // 3.14's f_executable is a _PyStackRef: a pointer whose low bits say how
    // it is counted.
    const uintptr_t untag = ~static_cast<uintptr_t>(L.code_ref_tag);
    int n = 0;
    for (int steps = 0; frame && n < max && steps < kMaxSteps; ++steps, frame = load_ptr(frame, L.frame_previous)) {
        auto owner = load<int8_t>(frame, L.frame_owner);
        if (L.owner_not_code >= 0 && owner >= L.owner_not_code) continue;
        uintptr_t code = load_ptr(frame, L.frame_code) & untag;
        if (!is_code(code, types)) continue;
        auto instr = static_cast<int32_t>(
            (static_cast<intptr_t>(load_ptr(frame, L.frame_instr)) - static_cast<intptr_t>(code + L.code_units)) /
            2);
        if (owner != L.owner_generator && instr < load<int32_t>(code, L.code_firsttraceable)) continue;
        out[n++] = FrameKey{code, instr, code_hash(code, L)};
    }
    return n;
}

}  // namespace fdtrack::python
