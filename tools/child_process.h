// Running the traced program as our child: same stdin/stdout/stderr, our
// termination signals forwarded to it, its status reported as a shell would.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace fdtrack::cli {

struct ChildResult {
    pid_t pid = 0;
    int exec_errno = 0;  // nonzero: the program could not be executed
    int status = 0;      // as a shell reports it: exit code, or 128 + signal
    int signal = 0;      // the signal that killed it, if one did
};

// Runs `command` (searched in PATH) with environment `env` and waits for it,
// forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT meanwhile.
ChildResult run_child(const std::vector<std::string>& command, const std::vector<std::string>& env);

}  // namespace fdtrack::cli
