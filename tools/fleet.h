// The counts of several tracked processes at once (fdtrack metrics, fdtrack
// exporter): each process asked in parallel, so a process that hangs costs
// the others nothing and the whole at most its timeout per round of asks.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/report.h"

namespace fdtrack::cli {

struct ProcessCounts {
    int pid = 0;
    std::optional<Report> counts;  // the answer to a counts request (report_json.h)
    std::string error;             // why there is none, in words a user can act on
};

// At most this many processes are asked at once.
inline constexpr size_t kMaxAskedAtOnce = 32;

// Asks each of `pids` for its counts (report/control_channel.h), within
// `timeout_s` each; the answers in the order of `pids`. `command` starts the
// lines ask_process writes about decoy sockets it refused.
std::vector<ProcessCounts> ask_counts(const std::vector<int>& pids, double timeout_s, std::string_view command);

}  // namespace fdtrack::cli
