// Reading and writing reports as JSON, schema fdtrack/1 (docs/spec.md, "Reports").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "report/report.h"

namespace fdtrack {

// A report that cannot be read: not JSON, truncated, another schema, or a
// field of the wrong type. The message names the offending field.
class ReportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Never throws on odd bytes in paths: invalid UTF-8 is replaced by U+FFFD,
// because a report is written from inside the traced program.
std::string report_to_json(const Report& report);

Report report_from_json(std::string_view text);

// The whole file at `path` ("-" for stdin); a missing or unreadable file is a
// ReportError too, so callers have one failure to handle.
Report report_from_file(const std::string& path);

// One site as it appears in "sites"; other documents (fdtrack diff) embed it.
nlohmann::ordered_json site_to_json(const Site& site);

}  // namespace fdtrack
