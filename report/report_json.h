// Reading and writing reports as JSON, schema fdtrack/1 (docs/spec.md, "Reports").
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "report/input_file.h"
#include "report/report.h"

namespace fdtrack {

// What a reader accepts (issue 9: a report file may come from anyone). A
// million fds is about 250 MB of JSON only with long paths; a report nests
// 4 levels deep (sites[].frames[]).
inline constexpr size_t kMaxReportBytes = size_t{256} << 20;
inline constexpr size_t kMaxReportDepth = 64;

// A report that cannot be read: not JSON, truncated, too large or too deep,
// another schema, a field of the wrong type or out of range. The message
// names the offending field; what it quotes of the input is short and printable.
class ReportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Never throws on odd bytes in paths: invalid UTF-8 is replaced by U+FFFD,
// because a report is written from inside the traced program.
std::string report_to_json(const Report& report);

Report report_from_json(std::string_view text);

// The answer to a counts request (schema fdtrack-counts/1): a Report with
// no fds, whose open_count is what fdtrack knows open.
Report counts_from_json(std::string_view text);

// The whole file at `path` ("-" for stdin); a missing or unreadable file, or
// one that is not a regular file (a FIFO, /dev/zero), is a ReportError too,
// so callers have one failure to handle. Messages start with the file's name.
Report report_from_file(const std::string& path, Links links = Links::followed);

// One site as it appears in "sites"; other documents (fdtrack diff) embed it.
nlohmann::ordered_json site_to_json(const Site& site);

}  // namespace fdtrack
