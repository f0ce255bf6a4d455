// Builds a layout from the interpreter's own description of itself: from 3.13
// on, _PyRuntime starts with _Py_DebugOffsets, the table out-of-process
// profilers and debuggers read, stamped with a cookie and the exact version.
#include "preload/python/debug_offsets.h"

#include <cstring>

namespace fdtrack::python {
namespace {

// A member of the table that must fit the 16-bit offsets of a Layout.
bool read_offset(uintptr_t table, uint16_t at, uint16_t& out) {
    auto value = load<uint64_t>(table, at);
    if (value >= kDirect) return false;
    out = static_cast<uint16_t>(value);
    return true;
}

}  // namespace

bool read_debug_offsets(const DebugOffsetsRow& row, const Version& v, uintptr_t runtime, Layout& out,
                        const char*& why) {
    why = "does not describe itself as fdtrack expects (_Py_DebugOffsets)";
    if (!runtime) return false;
    if (std::memcmp(reinterpret_cast<const void*>(runtime), "xdebugpy", 8) != 0) return false;
    auto hex = load<uint64_t>(runtime, 8);  // PY_VERSION_HEX of the build
    if ((hex >> 24) != v.major || ((hex >> 16) & 0xff) != v.minor) return false;
    if (load<uint64_t>(runtime, row.at_free_threaded) != 0) {
        why = "is a free-threaded build, whose objects fdtrack cannot read";
        return false;
    }
    uint16_t ob_type = 0;
    if (!read_offset(runtime, row.at_ob_type, ob_type) || ob_type != kObType) return false;

    Layout L{};
    L.minor = row.minor;
    L.walker = Walker::interpreter_frames;
    L.line_table = LineTable::locations;
    L.tstate_frame_holder = kDirect;  // the current frame sits in the thread state
    L.owner_generator = row.owner_generator;
    L.owner_not_code = row.owner_not_code;
    L.code_ref_tag = row.code_ref_tag;
    L.str_kind_shift = row.str_kind_shift;
    L.str_compact_bit = row.str_compact_bit;
    L.str_ascii_bit = row.str_ascii_bit;
    bool ok = read_offset(runtime, row.at_finalizing, L.runtime_finalizing) &&
              read_offset(runtime, row.at_current_frame, L.frame_current) &&
              read_offset(runtime, row.at_frame_previous, L.frame_previous) &&
              read_offset(runtime, row.at_frame_executable, L.frame_code) &&
              read_offset(runtime, row.at_frame_instr, L.frame_instr) &&
              read_offset(runtime, row.at_frame_owner, L.frame_owner) &&
              read_offset(runtime, row.at_code_filename, L.code_filename) &&
              read_offset(runtime, row.at_code_qualname, L.code_name) &&
              read_offset(runtime, row.at_code_linetable, L.code_linetable) &&
              read_offset(runtime, row.at_code_firstlineno, L.code_firstlineno) &&
              read_offset(runtime, row.at_code_units, L.code_units) &&
              read_offset(runtime, row.at_bytes_size, L.bytes_size) &&
              read_offset(runtime, row.at_bytes_data, L.bytes_data) &&
              read_offset(runtime, row.at_str_state, L.str_state) &&
              read_offset(runtime, row.at_str_length, L.str_length) &&
              read_offset(runtime, row.at_str_ascii_size, L.str_ascii_data);
    if (!ok || L.code_units < row.firsttraceable_before_units) return false;
    L.code_firsttraceable = static_cast<uint16_t>(L.code_units - row.firsttraceable_before_units);
    L.str_compact_data = static_cast<uint16_t>(L.str_ascii_data + row.compact_after_ascii);
    out = L;
    why = nullptr;
    return true;
}

}  // namespace fdtrack::python
