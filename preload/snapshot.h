// Builds a report of this process's open fds now: the registry reconciled with
// /proc/self/fd, every fd described, every site symbolised.
#pragma once

#include <functional>
#include <vector>

#include "report/report.h"

namespace fdtrack {

class Symbolizer;

// The allocation site of `stack_id` with its frames symbolised now (counts
// and ages left at zero). Sites handed over by the process that exec'd us
// come pre-symbolised (exec_handover).
Site symbolize_site(uint32_t stack_id, Symbolizer& symbolizer);

// `trigger` is one of docs/spec.md's: exit, signal, emfile, threshold, api.
// Runs on a fdtrack thread or at exit, never in a signal handler.
// `described` (optional) is called with the fds listed once each has been
// described, before symbolising: a forked copy writing a dump at the fd limit
// closes them there to make room.
// Keeps the command line as it is now, for every later report: called before
// main, since nginx, redis and postgres write their process title over argv.
void remember_command_line();

Report take_snapshot(const char* trigger, const std::function<void(const std::vector<int>&)>& described = {});

}  // namespace fdtrack
