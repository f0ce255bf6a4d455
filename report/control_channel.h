// How `fdtrack dump` reaches a tracked process without a signal: an abstract
// unix socket per process. The client sends one request line; the process
// answers with the JSON report and closes.
#pragma once

#include <string>

namespace fdtrack {

// The abstract socket name (without the leading NUL) a tracked process listens on.
inline std::string control_socket_name(int pid) { return "fdtrack." + std::to_string(pid); }

inline constexpr const char* kDumpRequest = "dump\n";

}  // namespace fdtrack
