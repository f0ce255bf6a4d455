// Writes reports where docs/spec.md says: fdtrack.<pid>.<seq>.{json,txt} in the
// output directory with a one-line notice on stderr, or, under `fdtrack run`,
// the exit report to the file the CLI asked for.
#pragma once

#include <string>

#include "report/report.h"

namespace fdtrack {

struct Dumped {
    std::string path;  // the JSON file; empty if it could not be written
    std::string json;
};

// Takes a snapshot, writes it to the output directory and says so on stderr.
Dumped dump_now(const char* trigger);

// The exit report, written once per process: from the Python exit hook when
// the interpreter starts shutting down, else from the library destructor.
void write_exit_report();

// In a fork child: the exit report is the child's own to write.
void reset_dump_state_after_fork();

// True in the forked copy that writes a dump near the fd limit: it is no
// program, and only ever runs the dump and _exit.
bool is_dump_copy();

}  // namespace fdtrack
