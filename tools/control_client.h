// Asking a tracked process over its control socket (report/control_channel.h),
// for `fdtrack dump` and whatever else reads a live process: the target is
// trusted only by its peer credentials, and every wait is bounded.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fdtrack::cli {

// Why a process could not be asked, in words a user can act on (no process,
// another user's, not tracked, no answer in time...).
class ControlError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Sends `request` (kDumpRequest, kCountsRequest) to `pid` and returns its
// whole answer, within `timeout_s`. `command` ("fdtrack dump") starts the
// lines it writes on stderr about decoy sockets it refused.
std::string ask_process(int pid, std::string_view request, double timeout_s, std::string_view command);

// The processes the caller may ask, in pid order: those with a control socket
// listening (its usual or a fallback name, in /proc/net/unix, so only this
// network namespace) and libfdtrack.so loaded, that run as the caller's
// effective uid (every user's for root).
std::vector<int> tracked_processes();

// Whether `pid` itself holds a listening control socket (its usual or a
// fallback name): it is tracking now. False when its fds cannot be read.
bool holds_control_socket(int pid);

// Whether `pid` is gone or a zombie: what a watcher checks when a process
// it was asking stops answering.
bool has_exited(int pid);

}  // namespace fdtrack::cli
