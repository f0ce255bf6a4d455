// Text that came from a report, a file or a traced program, made safe to
// print on a terminal: what every text output and error message passes names through.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fdtrack {

// Escapes what a terminal would act on instead of showing, as `ls -b` and
// lsof do: control characters (C0, DEL and the C1 range U+0080-U+009F) as \n,
// \t, \r, \e or \xNN, and each byte of invalid UTF-8 as \xNN; a backslash is
// doubled, so the result reads back unambiguously. Valid non-ASCII UTF-8 is
// kept. A file named "\x1b[2J\nFAKE" prints as one line, "\e[2J\nFAKE".
std::string printable(std::string_view text);

// printable() of at most the first `max_bytes` bytes, followed by
// "... (N bytes)" when the text was longer: for messages that quote input,
// which may be megabytes long.
std::string printable_excerpt(std::string_view text, size_t max_bytes = 80);

}  // namespace fdtrack
