// Asking several tracked processes for their counts in parallel (fleet.h).
#include "tools/fleet.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "report/control_channel.h"
#include "report/report_json.h"
#include "tools/control_client.h"

namespace fdtrack::cli {

namespace {

ProcessCounts ask_one(int pid, double timeout_s, std::string_view command) {
    ProcessCounts result{pid, std::nullopt, {}};
    try {
        result.counts = counts_from_json(ask_process(pid, kCountsRequest, timeout_s, command));
    } catch (const ControlError& error) {
        result.error = error.what();
    } catch (const ReportError& error) {
        result.error = "process " + std::to_string(pid) + " sent a malformed answer: " + error.what();
    }
    return result;
}

}  // namespace

std::vector<ProcessCounts> ask_counts(const std::vector<int>& pids, double timeout_s, std::string_view command) {
    std::vector<ProcessCounts> results(pids.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i; (i = next++) < pids.size();) results[i] = ask_one(pids[i], timeout_s, command);
    };
    std::vector<std::thread> askers;
    for (size_t n = std::min(pids.size(), kMaxAskedAtOnce); n > 1; --n) {
        try {
            askers.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: fewer ask at once
        }
    }
    work();  // this thread is one of them
    for (std::thread& asker : askers) asker.join();
    return results;
}

}  // namespace fdtrack::cli
