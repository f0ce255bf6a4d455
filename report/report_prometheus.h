// Reports as Prometheus metrics, in the text exposition format 0.0.4 (what
// `fdtrack metrics` prints and `fdtrack exporter` serves; docs/spec.md,
// "Prometheus"): each process's open fds and limit, and the counts of its
// largest sites, so that the number of series stays bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "report/report.h"

namespace fdtrack {

struct MetricSample {
    // Name, value. Values are printable() text (no control characters, valid
    // UTF-8: what a program controls is passed through it, as in the text
    // report); the format's own escapes are added when written.
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
};

// One metric family: its HELP and TYPE lines once, then every sample.
struct MetricFamily {
    std::string name;
    std::string type;  // "gauge", "counter"...
    std::string help;
    std::vector<MetricSample> samples;
};

// Label values longer than this are cut (C++ function names can run to kilobytes).
inline constexpr size_t kMaxLabelBytes = 256;

// The families of the processes whose counts answers (or reports) are in
// `reports`: one sample per process, and per site for the `top_sites`
// largest sites of each (by count, then id) plus one site="other" summing
// the rest.
std::vector<MetricFamily> process_metrics(const std::vector<Report>& reports, size_t top_sites);

// The families as the exposition format writes them; families without
// samples are left out. Label values are cut to kMaxLabelBytes (at a
// character boundary, "..." added) and get the format's escapes (backslash,
// double quote, newline).
std::string exposition_text(const std::vector<MetricFamily>& families);

// What an HTTP server answers with it as Content-Type.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace fdtrack
