// Builds a layout from the interpreter's own description of itself: from 3.13
// on, _PyRuntime starts with _Py_DebugOffsets, the table out-of-process
// profilers and debuggers read, stamped with a cookie and the exact version.
#pragma once

#include <cstdint>

#include "preload/python/layout.h"

namespace fdtrack::python {

// One minor version's _Py_DebugOffsets: where its members that we need sit
// (byte offsets into the struct), plus the facts it does not carry.
struct DebugOffsetsRow {
    unsigned minor;
    uint16_t at_free_threaded;
    uint16_t at_finalizing;
    uint16_t at_current_frame;
    uint16_t at_frame_previous;
    uint16_t at_frame_executable;
    uint16_t at_frame_instr;
    uint16_t at_frame_owner;
    uint16_t at_code_filename;
    uint16_t at_code_qualname;
    uint16_t at_code_linetable;
    uint16_t at_code_firstlineno;
    uint16_t at_code_units;
    uint16_t at_ob_type;
    uint16_t at_bytes_size;
    uint16_t at_bytes_data;
    uint16_t at_str_state;
    uint16_t at_str_length;
    uint16_t at_str_ascii_size;
    // Not in the table:
    int8_t owner_generator;
    int8_t owner_not_code;
    uint8_t code_ref_tag;
    uint8_t firsttraceable_before_units;  // co_code_adaptive - _co_firsttraceable
    uint8_t compact_after_ascii;          // sizeof(PyCompactUnicodeObject) - sizeof(PyASCIIObject)
    uint8_t str_kind_shift;
    uint8_t str_compact_bit;
    uint8_t str_ascii_bit;
};

// Reads _PyRuntime's _Py_DebugOffsets into `out`. False, with `why`, when its
// cookie or version does not match `row` and `v`, or when it describes a
// build whose objects we cannot read (free-threaded).
bool read_debug_offsets(const DebugOffsetsRow& row, const Version& v, uintptr_t runtime, Layout& out,
                        const char*& why);

}  // namespace fdtrack::python
