// How `fdtrack dump` reaches a tracked process: an abstract unix socket per
// process. The client sends one request line; the process
// answers with a JSON document and closes.
//
// Abstract names can be taken by anyone on the host, so neither side trusts a
// name: the process drops every connection whose peer is not its own user or
// root, and the client only talks to a listener whose peer credentials are
// the target's pid and uid (docs/spec.md, "Control socket"). When someone
// else holds the usual name, the process listens on that name plus a random
// suffix instead, which the client finds in /proc/net/unix.
#pragma once

#include <string>
#include <string_view>

namespace fdtrack {

// The abstract socket name (without the leading NUL) a tracked process listens on.
inline std::string control_socket_name(int pid) { return "fdtrack." + std::to_string(pid); }

// The name used when control_socket_name(pid) is taken: `suffix` is random.
inline std::string control_socket_fallback_name(int pid, std::string_view suffix) {
    return control_socket_name(pid) + "." + std::string(suffix);
}

// True for control_socket_name(pid) and every fallback name of it.
inline bool is_control_socket_name(int pid, std::string_view name) {
    std::string base = control_socket_name(pid);
    if (name.substr(0, base.size()) != base) return false;
    return name.size() == base.size() || (name.size() > base.size() + 1 && name[base.size()] == '.');
}

// A process with a single thread has no thread of fdtrack's listening
// (preload/dump/copies.h): the client rings it after connecting, with the
// process's dump signal sent by sigqueue(3) carrying this value, which asks
// for no report. Only whoever may signal the process (its own user, root)
// can ring: exactly those the process answers.
inline constexpr int kControlRing = 0x66647472;  // "fdtr"

// The request lines: a full report, or only each site's counts (cheap enough
// to ask every 2 s of a process with 20,000 fds).
inline constexpr const char* kDumpRequest = "dump\n";
inline constexpr const char* kCountsRequest = "counts\n";

}  // namespace fdtrack
