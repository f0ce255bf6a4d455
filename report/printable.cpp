// Text that came from a report, a file or a traced program, made safe to
// print on a terminal: the escaping every text output shares.
#include "report/printable.h"

#include <fmt/format.h>

namespace fdtrack {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// The length of the valid UTF-8 sequence starting at text[i] (a non-ASCII
// lead byte), 0 when it is not one: overlong forms, surrogates and code
// points above U+10FFFF are invalid too (RFC 3629).
size_t utf8_length(std::string_view text, size_t i) {
    auto byte = [&](size_t k) -> unsigned char { return i + k < text.size() ? text[i + k] : 0; };
    unsigned char lead = byte(0), second = byte(1);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;
        if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;
        if (lead == 0xf4) high = 0x8f;
    } else {
        return 0;
    }
    if (second < low || second > high) return 0;
    for (size_t k = 2; k < length; ++k) {
        if (!is_continuation(byte(k))) return 0;
    }
    return length;
}

void escape_byte(std::string& out, unsigned char c) {
    switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case 0x1b: out += "\\e"; break;
        default: out += fmt::format("\\x{:02x}", c);
    }
}

}  // namespace

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\') {
            out += "\\\\";
            ++i;
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
            ++i;
        } else if (c < 0x80) {
            escape_byte(out, c);
            ++i;
        } else if (size_t length = utf8_length(text, i); length == 0) {
            escape_byte(out, c);
            ++i;
        } else if (c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
            // U+0080-U+009F: C1 controls, which some terminals obey (U+009B is CSI).
            escape_byte(out, c);
            escape_byte(out, static_cast<unsigned char>(text[i + 1]));
            i += 2;
        } else {
            out.append(text.substr(i, length));
            i += length;
        }
    }
    return out;
}

std::string printable_excerpt(std::string_view text, size_t max_bytes) {
    if (text.size() <= max_bytes) return printable(text);
    size_t cut = max_bytes;
    // End on a whole character (a UTF-8 sequence has at most 3 continuation bytes).
    for (int k = 0; k < 3 && cut > 0 && is_continuation(static_cast<unsigned char>(text[cut])); ++k) --cut;
    return fmt::format("{}... ({} bytes)", printable(text.substr(0, cut)), text.size());
}

}  // namespace fdtrack
