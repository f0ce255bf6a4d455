// The control socket behind `fdtrack dump` and `fdtrack top`: listening on an
// abstract name, trusting only the process's own user, answering a dump or
// a counts request. Served by the dump thread (dump_thread.h) or, while the
// program has a single thread, by copies of the process (copies.h).
#pragma once

#include <sys/resource.h>

#include <functional>
#include <string>

namespace fdtrack {

// Listens on @fdtrack.<pid> (or a name nobody can guess when another
// process holds that one): a nonblocking, close-on-exec socket, or -1.
int open_control_socket();

// Only the process's own user (or root) may read its fd table.
bool trusted(int client);

// Accepting failed for lack of fds or memory, whoever is waiting.
bool out_of_resources(int error);

// Waits (boundedly) for the request of trusted `client`, then sends what
// `report_json` makes (a full report) or the counts.
void serve(int client, const std::function<std::string()>& report_json);

// In a copy of the process (after report_for_program, snapshot.h): answers
// trusted `client`, closing the copy's fds as they are described but
// `client` and `keep` (the copy may be at the program's fd limit).
void answer_in_this_copy(int client, int keep);

// In a copy of the process at the program's fd limit, after make_room_in_this_copy:
// answers every queued connection on `listener`, then leaves.
[[noreturn]] void answer_queue_in_this_copy(int listener, int program_pid, rlim_t program_limit);

}  // namespace fdtrack
