// Walks the calling thread's Python stack on CPython 3.8-3.10, where every
// running function has a PyFrameObject: tstate->frame, then f_back.
//
// f_lasti is current while a C function runs: ceval stores it before each
// instruction (f->f_lasti = INSTR_OFFSET()), so a frame calling os.open()
// holds the offset of its CALL instruction. It counts bytes in 3.8-3.9 and
// code units in 3.10, and is -1 before the first instruction.
#include "preload/python/walkers.h"

namespace fdtrack::python {

int walk_frame_objects(const Layout& L, const Types& types, uintptr_t tstate, FrameKey* out, int max) {
    uintptr_t frame = load_ptr(tstate, L.frame_current);
    int n = 0;
    for (int steps = 0; frame && n < max && steps < kMaxSteps; ++steps, frame = load_ptr(frame, L.frame_previous)) {
        uintptr_t code = load_ptr(frame, L.frame_code);
        if (!is_code(code, types)) break;
        auto lasti = load<int32_t>(frame, L.frame_instr);
        int32_t instr = lasti < 0 ? -1 : lasti * L.lasti_unit / 2;
        out[n++] = FrameKey{code, instr, code_hash(code, L)};
    }
    return n;
}

}  // namespace fdtrack::python
