// Reads what a frame's code object says about itself: its file and function
// names (str objects) and the line of an instruction (its line table), from
// the object's memory, without the GIL and without allocating.
#include "preload/python/code_objects.h"

namespace fdtrack::python {
namespace {

// Appends `cp` as UTF-8 if it fits; false when full.
bool put_utf8(uint32_t cp, char* out, size_t cap, size_t& n) {
    char buf[4];
    size_t len;
    if (cp < 0x80) {
        buf[0] = static_cast<char>(cp);
        len = 1;
    } else if (cp < 0x800) {
        buf[0] = static_cast<char>(0xc0 | (cp >> 6));
        buf[1] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 2;
    } else if (cp < 0x10000) {
        buf[0] = static_cast<char>(0xe0 | (cp >> 12));
        buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        buf[2] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 3;
    } else {
        buf[0] = static_cast<char>(0xf0 | (cp >> 18));
        buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        buf[3] = static_cast<char>(0x80 | (cp & 0x3f));
        len = 4;
    }
    if (n + len >= cap) return false;
    std::memcpy(out + n, buf, len);
    n += len;
    return true;
}

// A bytes object's contents, or false when `table` is not one.
bool bytes_of(uintptr_t table, const Layout& L, const Types& types, const uint8_t*& p, const uint8_t*& end) {
    if (!table || load_ptr(table, kObType) != types.bytes) return false;
    auto size = load<intptr_t>(table, L.bytes_size);
    if (size < 0) return false;
    p = reinterpret_cast<const uint8_t*>(table + L.bytes_data);
    end = p + size;
    return true;
}

// 3.8-3.9 (Objects/lnotab_notes.txt): pairs of an unsigned byte-offset
// increment and a signed line increment; a line applies from its offset on.
int line_from_lnotab(const uint8_t* p, const uint8_t* end, int line, int32_t address) {
    int32_t at = 0;
    for (; p + 1 < end; p += 2) {
        at += p[0];
        if (at > address) break;
        line += static_cast<int8_t>(p[1]);
    }
    return line;
}

// 3.10 (PyLineTable_NextAddressRange): pairs of an unsigned byte length of a
// range and a signed line increment, -128 meaning "this range has no line".
int line_from_pairs310(const uint8_t* p, const uint8_t* end, int line, int32_t address) {
    int32_t range_end = 0;
    for (; p + 1 < end; p += 2) {
        int32_t range_start = range_end;
        range_end += p[0];
        auto delta = static_cast<int8_t>(p[1]);
        bool has_line = delta != -128;
        if (has_line) line += delta;
        if (address >= range_start && address < range_end) return has_line ? line : 0;
    }
    return 0;
}

// 3.11+ (Objects/locations.md): entries start with a byte whose top bit is
// set; bits 3-6 give the entry's form, bits 0-2 the number of code units it
// covers minus one. Forms 13 and 14 carry a signed varint line delta, 10-12
// mean delta 0-2, 15 means "no line", the rest keep the line.
int line_from_locations(const uint8_t* p, const uint8_t* end, int line, int32_t instr) {
    int32_t start = 0;
    while (p < end) {
        uint8_t head = *p++;
        int form = (head >> 3) & 15;
        int32_t units = (head & 7) + 1;
        if ((form == 13 || form == 14) && p < end) {
            uint32_t read = *p++, value = read & 63;
            for (unsigned shift = 6; (read & 64) && p < end && shift < 32; shift += 6) {
                read = *p++;
                value |= (read & 63) << shift;
            }
            line += (value & 1) ? -static_cast<int>(value >> 1) : static_cast<int>(value >> 1);
        } else if (form >= 10 && form <= 12) {
            line += form - 10;
        }
        if (instr < start + units) return form == 15 ? 0 : line;
        start += units;
        while (p < end && !(*p & 128)) ++p;
    }
    return 0;
}

}  // namespace

uint32_t code_hash(uintptr_t code, const Layout& L) {
    uint64_t name = load_ptr(code, L.code_name);
    uint64_t table = load_ptr(code, L.code_linetable);
    uint64_t h = (name ^ (table << 17 | table >> 47)) * 0x9e3779b97f4a7c15ull;
    return static_cast<uint32_t>(h >> 32);
}

// Copies the text from the str's inline data, the way it is stored (1, 2 or
// 4 bytes a character), since PyUnicode_AsUTF8 needs the GIL and may
// allocate. Code objects only hold compact strings.
void copy_str(uintptr_t s, const Layout& L, const Types& types, char* out, size_t cap) {
    if (cap == 0) return;
    out[0] = '\0';
    if (!s || load_ptr(s, kObType) != types.str) return;
    auto length = load<intptr_t>(s, L.str_length);
    auto state = load<uint32_t>(s, L.str_state);
    unsigned kind = (state >> L.str_kind_shift) & 7;
    bool compact = (state >> L.str_compact_bit) & 1;
    bool ascii = (state >> L.str_ascii_bit) & 1;
    if (!compact || (kind != 1 && kind != 2 && kind != 4)) return;
    auto data = s + (ascii ? L.str_ascii_data : L.str_compact_data);
    size_t n = 0;
    for (intptr_t i = 0; i < length; ++i) {
        uint32_t cp = kind == 1   ? reinterpret_cast<const uint8_t*>(data)[i]
                      : kind == 2 ? reinterpret_cast<const uint16_t*>(data)[i]
                                  : reinterpret_cast<const uint32_t*>(data)[i];
        if (!put_utf8(cp, out, cap, n)) break;
    }
    out[n] = '\0';
}

int line_of(uintptr_t code, int32_t instr, const Layout& L, const Types& types) {
    int first = load<int32_t>(code, L.code_firstlineno);
    if (instr < 0) return first;
    const uint8_t *p, *end;
    if (!bytes_of(load_ptr(code, L.code_linetable), L, types, p, end)) return 0;
    switch (L.line_table) {
    case LineTable::lnotab: return line_from_lnotab(p, end, first, instr * 2);
    case LineTable::pairs310: return line_from_pairs310(p, end, first, instr * 2);
    case LineTable::locations: return line_from_locations(p, end, first, instr);
    }
    return 0;
}

}  // namespace fdtrack::python
