// The CPython versions fdtrack reads frames of, as data: one layout row per
// minor version up to 3.12, and for 3.13 and later the few facts the
// interpreter's own _Py_DebugOffsets leaves out.
//
// Adding a version:
// - 3.8-3.12 style (no _Py_DebugOffsets): compile offsetof() of every Layout
//   field against that release's headers with -DPy_BUILD_CORE (internal/
//   pycore_frame.h, pycore_runtime.h, cpython/code.h, cpython/unicodeobject.h)
//   and add a row; check it on every patch release the row claims.
// - 3.13 and later: add a DebugOffsetsRow below. Its `at_*` fields say where
//   in _Py_DebugOffsets (Include/internal/pycore_debug_offsets.h; all members
//   are uint64_t) each offset we need is stored; the rest are the facts the
//   table lacks (frame owner values, _co_firsttraceable, the compact str
//   header, the _PyStackRef tag). Read them from that release's headers.
// - A version without a row gets native frames only, with one notice: a
//   layout is never guessed. Alphas and betas are refused for the same
//   reason (their structures still move).
// Then run the cross-version tests (tests/integration/test_python_versions.py)
// with that interpreter installed under pyenv.
#include "preload/python/debug_offsets.h"
#include "preload/python/layout.h"

namespace fdtrack::python {
namespace {

// The PEP 393 str header of 3.8-3.11: a wstr pointer (and its length in
// compact strings) still follows the state word.
#define STR_WITH_WSTR                                                                                            \
    .bytes_size = 16, .bytes_data = 32, .str_length = 16, .str_state = 32, .str_ascii_data = 48,                 \
    .str_compact_data = 72, .str_kind_shift = 2, .str_compact_bit = 5, .str_ascii_bit = 6

// 3.8-3.10 share every offset but the line table's and f_lasti's.
#define FRAME_OBJECTS(MINOR, LASTI, LASTI_UNIT, TABLE)                                                           \
    {.minor = MINOR, .walker = Walker::frame_objects, .line_table = TABLE, .runtime_finalizing = 16,            \
     .tstate_frame_holder = kDirect, .frame_current = 24, .frame_code = 32, .frame_previous = 24,               \
     .frame_instr = LASTI, .frame_owner = 0, .owner_generator = -1, .owner_not_code = -1, .code_ref_tag = 0,   \
     .lasti_unit = LASTI_UNIT, .code_firstlineno = 40, .code_filename = 104, .code_name = 112,                 \
     .code_linetable = 120, .code_firsttraceable = 0, .code_units = 0, STR_WITH_WSTR}

// offsetof() on each release's headers; 3.11 checked on 3.11.2 (Debian) and
// 3.11.7 (pyenv), the others on the pyenv builds 3.8.18, 3.9.18, 3.10.13 and
// 3.12.1.
constexpr Layout kRows[] = {
    FRAME_OBJECTS(8, 104, 1, LineTable::lnotab),
    FRAME_OBJECTS(9, 104, 1, LineTable::lnotab),
    FRAME_OBJECTS(10, 96, 2, LineTable::pairs310),
    {.minor = 11,
     .walker = Walker::interpreter_frames,
     .line_table = LineTable::locations,
     .runtime_finalizing = 24,
     .tstate_frame_holder = 56,  // cframe
     .frame_current = 8,
     .frame_code = 32,
     .frame_previous = 48,
     .frame_instr = 56,  // prev_instr
     .frame_owner = 69,
     .owner_generator = 1,
     .owner_not_code = -1,
     .code_ref_tag = 0,
     .lasti_unit = 0,
     .code_firstlineno = 72,
     .code_filename = 112,
     .code_name = 128,  // co_qualname
     .code_linetable = 136,
     .code_firsttraceable = 168,
     .code_units = 184,
     STR_WITH_WSTR},
    // No more wstr in str objects; shim frames for C calls appear.
    {.minor = 12,
     .walker = Walker::interpreter_frames,
     .line_table = LineTable::locations,
     .runtime_finalizing = 24,
     .tstate_frame_holder = 56,  // cframe
     .frame_current = 0,
     .frame_code = 0,
     .frame_previous = 8,
     .frame_instr = 56,  // prev_instr
     .frame_owner = 70,
     .owner_generator = 1,
     .owner_not_code = 3,  // FRAME_OWNED_BY_CSTACK
     .code_ref_tag = 0,
     .lasti_unit = 0,
     .code_firstlineno = 68,
     .code_filename = 112,
     .code_name = 128,
     .code_linetable = 136,
     .code_firsttraceable = 176,
     .code_units = 192,
     .bytes_size = 16,
     .bytes_data = 32,
     .str_length = 16,
     .str_state = 32,
     .str_ascii_data = 40,
     .str_compact_data = 56,
     .str_kind_shift = 2,
     .str_compact_bit = 5,
     .str_ascii_bit = 6},
};

// Where _Py_DebugOffsets keeps what we read (byte offsets of its uint64_t
// members), and what it does not say.
constexpr DebugOffsetsRow kDescribed[] = {
    // Include/internal/pycore_runtime.h of 3.13.0.
    {.minor = 13,
     .at_free_threaded = 16,
     .at_finalizing = 32,
     .at_current_frame = 184,
     .at_frame_previous = 232,
     .at_frame_executable = 240,
     .at_frame_instr = 248,
     .at_frame_owner = 264,
     .at_code_filename = 280,
     .at_code_qualname = 296,
     .at_code_linetable = 304,
     .at_code_firstlineno = 312,
     .at_code_units = 344,
     .at_ob_type = 360,
     .at_bytes_size = 520,
     .at_bytes_data = 528,
     .at_str_state = 544,
     .at_str_length = 552,
     .at_str_ascii_size = 560,
     .owner_generator = 1,
     .owner_not_code = 3,               // FRAME_OWNED_BY_CSTACK
     .code_ref_tag = 0,
     .firsttraceable_before_units = 16,  // int _co_firsttraceable; void* co_extra; then the code
     .compact_after_ascii = 16,          // Py_ssize_t utf8_length; char* utf8
     .str_kind_shift = 2,
     .str_compact_bit = 5,
     .str_ascii_bit = 6},
    // Include/internal/pycore_debug_offsets.h of 3.14 (checked on Debian's
    // 3.14.10, and against offsets generated from the v3.14.0 tag). The
    // executable is a _PyStackRef, and frame owners were renumbered: 3 is the
    // interpreter's entry frame, 4 the C stack's.
    {.minor = 14,
     .at_free_threaded = 16,
     .at_finalizing = 32,
     .at_current_frame = 208,
     .at_frame_previous = 256,
     .at_frame_executable = 264,
     .at_frame_instr = 272,
     .at_frame_owner = 288,
     .at_code_filename = 320,
     .at_code_qualname = 336,
     .at_code_linetable = 344,
     .at_code_firstlineno = 352,
     .at_code_units = 384,
     .at_ob_type = 408,
     .at_bytes_size = 600,
     .at_bytes_data = 608,
     .at_str_state = 624,
     .at_str_length = 632,
     .at_str_ascii_size = 640,
     .owner_generator = 1,
     .owner_not_code = 3,  // FRAME_OWNED_BY_INTERPRETER and FRAME_OWNED_BY_CSTACK
     .code_ref_tag = 3,    // Py_TAG_BITS of the default build
     .firsttraceable_before_units = 16,
     .compact_after_ascii = 16,
     .str_kind_shift = 2,
     .str_compact_bit = 5,
     .str_ascii_bit = 6},
};

}  // namespace

const Layout* layout_for(const Version& v, uintptr_t runtime, Layout& out, const char*& why) {
    why = nullptr;
    if (v.major != 3 || v.minor < 8) {
        why = "is older than 3.8";
        return nullptr;
    }
    if (v.level < 0xc) {
        why = "is a pre-release";
        return nullptr;
    }
    for (const Layout& row : kRows) {
        if (row.minor == v.minor) return &row;
    }
    for (const DebugOffsetsRow& row : kDescribed) {
        if (row.minor == v.minor) return read_debug_offsets(row, v, runtime, out, why) ? &out : nullptr;
    }
    why = "is newer than this fdtrack knows";
    return nullptr;
}

}  // namespace fdtrack::python
