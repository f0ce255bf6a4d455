// Writes reports where docs/spec.md says: fdtrack.<pid>.<seq>.{json,txt} in the
// output directory with a one-line notice on stderr, or, under `fdtrack run`,
// the exit report to the file the CLI asked for.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <string>

#include "preload/dump/report_files.h"

#include "report/report.h"

namespace fdtrack {

struct Dumped {
    std::string path;  // the JSON file, as messages show it; empty if it could not be written
    std::string json;  // empty when a forked copy wrote it
    bool with_text = false;  // a .txt twin was written beside it
    ReportPlace place = ReportPlace::output;  // where it is, as `name`
    std::string name;
};

// Takes a snapshot, writes it to the output directory and says so on stderr.
Dumped dump_now(const char* trigger);

// The number of the next report file (fdtrack.<pid>.<seq>), taken in the
// program itself for a copy that writes it (below).
int take_dump_sequence();

// In a copy of the process (copies.h): takes the snapshot and writes it as
// report `sequence` of the program `pid` whose fd limit is `limit`, with the
// stderr notice, closing the copy's fds as they are described.
void write_dump_in_this_copy(const char* trigger, int pid, int sequence, rlim_t limit);

// A snapshot as JSON for `fdtrack dump`, which prints it: no file is
// written and no report number taken (the user's next kill -USR1 is still
// report 1); empty if it could not be taken.
std::string snapshot_json();

// Each site's counts, ages, frames and history, without the fds (a counts
// request: fdtrack top, fdtrack metrics); empty if they could not be taken.
std::string counts_json();

// The exit report, written once per process: from the library destructor,
// unless the Python exit hook wrote it first (below).
void write_exit_report();

// A CPython program's exit report, written as its interpreter begins to shut
// down (before finalization closes what the program still references), with
// every fd marked never_closed for now; the open fds are remembered.
void write_exit_report_before_shutdown();
// From the library destructor, after interpreter shutdown: marks the fds of
// that report that shutdown closed as held_until_exit (rewriting its files).
void finish_exit_report();

// In a fork child: the exit report is the child's own to write.
void reset_dump_state_after_fork();

// Before the first copy of the process writes a report (copies.h): what
// reports say only once is remembered where the copies share it.
void share_dump_state_with_copies();

// One line on stderr, "fdtrack: " first.
void say(const std::string& line);

// In a copy of the process forked to work at the fd limit: lifts its own soft
// limit and closes its copies of fdtrack's own fds (but `keep`, or -1), so it
// has fds to spare; the program's limit and fds stay untouched.
void make_room_in_this_copy(int keep);

// Waits for a forked copy of this process to finish (the program must not
// reap it for us). The copy has one thread; a lock another thread held at
// the fork could still stop it, and the dump thread must never hang on it:
// after 10 s it is killed, and false is returned.
bool wait_for_copy(pid_t copy);

}  // namespace fdtrack
