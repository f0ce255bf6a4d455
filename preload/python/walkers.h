// The two frame walkers, one per shape of CPython's call stack (layout.h):
// each follows the calling thread's frames from its thread state, innermost
// first, and returns how many keys it wrote.
#pragma once

#include "preload/python/code_objects.h"
#include "preload/python/frames.h"
#include "preload/python/layout.h"

namespace fdtrack::python {

// A corrupted or cyclic chain must not hang the hook; real stacks that are
// deeper are truncated by `max` long before this.
inline constexpr int kMaxSteps = 4096;

// 3.8-3.10: walk_frame_objects.cpp.
int walk_frame_objects(const Layout& L, const Types& types, uintptr_t tstate, FrameKey* out, int max);
// 3.11+: walk_interpreter_frames.cpp.
int walk_interpreter_frames(const Layout& L, const Types& types, uintptr_t tstate, FrameKey* out, int max);

}  // namespace fdtrack::python
