// Bridges the stack table to the CPython frame reader (python_frames).
#include "preload/python/stack.h"

#include <cstring>

#include "preload/track/arena.h"
#include "preload/python/frames.h"

namespace fdtrack {

static_assert(sizeof(PyFrameKey) == sizeof(python::FrameKey), "a Python frame key is stored as an opaque PyFrameKey");

int python_stack_capture(PyFrameKey* out, int max) {
    if (!python::active()) return 0;
    python::FrameKey keys[kMaxPythonDepth];
    int n = python::capture(keys, max < kMaxPythonDepth ? max : kMaxPythonDepth);
    memcpy(out, keys, sizeof(python::FrameKey) * n);
    return n;
}

void python_stack_describe(const PyFrameKey& key, PyFrameText* out) {
    python::FrameKey frame;
    memcpy(&frame, &key, sizeof frame);
    char file[1024], function[256];
    int line = 0;
    if (!python::describe(frame, file, sizeof file, function, sizeof function, &line)) {
        *out = {"", "", 0};
        return;
    }
    *out = {arena_strdup(file, sizeof file), arena_strdup(function, sizeof function), line};
}

}  // namespace fdtrack
