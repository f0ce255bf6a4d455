// Where one CPython minor version keeps what the frame walkers read: offsets
// into its runtime, thread, frame, code, bytes and str structures, as data.
// The rows live in layouts.cpp; 3.13 and later fill most of a row from the
// interpreter's own _Py_DebugOffsets (debug_offsets.cpp).
#pragma once

#include <cstdint>
#include <cstring>

namespace fdtrack::python {

// The two shapes a Python call stack has had.
enum class Walker : uint8_t {
    frame_objects,       // 3.8-3.10: tstate->frame, a chain of PyFrameObject
    interpreter_frames,  // 3.11+: _PyInterpreterFrame, reached through the thread state
};

// How a code object maps an instruction to a line (see line_tables.cpp).
enum class LineTable : uint8_t {
    lnotab,     // 3.8-3.9 co_lnotab: (byte delta, signed line delta) pairs
    pairs310,   // 3.10 co_linetable: (byte delta, line delta or -128 for none) pairs
    locations,  // 3.11+ co_linetable: variable-length location entries
};

struct Layout {
    unsigned minor;  // 3.minor
    Walker walker;
    LineTable line_table;

    // _PyRuntimeState
    uint16_t runtime_finalizing;  // the thread state running Py_FinalizeEx, or NULL

    // PyThreadState, and where the innermost frame pointer sits: at
    // tstate->frame_holder (a _PyCFrame* in 3.11-3.12), or in the thread
    // state itself when frame_holder is kDirect.
    uint16_t tstate_frame_holder;
    uint16_t frame_current;

    // The frame: PyFrameObject (frame_objects) or _PyInterpreterFrame.
    uint16_t frame_code;      // f_code, or f_executable (3.13+)
    uint16_t frame_previous;  // f_back, or previous
    uint16_t frame_instr;     // f_lasti (an int), or prev_instr / instr_ptr (a pointer)
    uint16_t frame_owner;     // interpreter frames only
    int8_t owner_generator;   // FRAME_OWNED_BY_GENERATOR
    int8_t owner_not_code;    // owners from this value up run no Python code (C-stack shims); -1: none
    uint8_t code_ref_tag;     // low bits tagging f_executable (3.14's _PyStackRef); 0: a plain pointer
    uint8_t lasti_unit;       // bytes per f_lasti step: 1 (3.8-3.9 count bytes), 2 (3.10 code units)

    // PyCodeObject
    uint16_t code_firstlineno;
    uint16_t code_filename;
    uint16_t code_name;             // co_qualname from 3.11, co_name before
    uint16_t code_linetable;        // co_lnotab (3.8-3.9) or co_linetable
    uint16_t code_firsttraceable;   // _co_firsttraceable (3.11+)
    uint16_t code_units;            // co_code_adaptive (3.11+): the instructions, inline

    // PyBytesObject
    uint16_t bytes_size;
    uint16_t bytes_data;

    // PyASCIIObject / PyCompactUnicodeObject (PEP 393)
    uint16_t str_length;
    uint16_t str_state;
    uint16_t str_ascii_data;    // sizeof(PyASCIIObject)
    uint16_t str_compact_data;  // sizeof(PyCompactUnicodeObject)
    uint8_t str_kind_shift;
    uint8_t str_compact_bit;
    uint8_t str_ascii_bit;
};

inline constexpr uint16_t kDirect = 0xffff;
inline constexpr uint16_t kObType = 8;  // PyObject.ob_type in every non-free-threaded build

// CPython's version as Py_Version / PY_VERSION_HEX spell it.
struct Version {
    unsigned major = 0, minor = 0, micro = 0;
    unsigned level = 0xf;  // 0xa alpha, 0xb beta, 0xc candidate, 0xf final
};

// The row for `v`, or null when fdtrack does not know this version's layout
// (then `why` says so in a few words). `runtime` is &_PyRuntime, read for
// versions that describe themselves (3.13+). `out` holds a row built at run
// time; the result points either into the static table or at `out`.
const Layout* layout_for(const Version& v, uintptr_t runtime, Layout& out, const char*& why);

template <typename T>
inline T load(uintptr_t base, uint32_t offset) {
    T value;
    std::memcpy(&value, reinterpret_cast<const void*>(base + offset), sizeof value);
    return value;
}

inline uintptr_t load_ptr(uintptr_t base, uint32_t offset) { return load<uintptr_t>(base, offset); }

}  // namespace fdtrack::python
