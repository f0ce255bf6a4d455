// Builds a report of this process's open fds now: the registry reconciled with
// /proc/self/fd, every fd described, every site symbolised.
#pragma once

#include "report/report.h"

namespace fdtrack {

// `trigger` is one of the SPEC's: exit, signal, emfile, threshold, api.
// Runs on a fdtrack thread or at exit, never in a signal handler.
Report take_snapshot(const char* trigger);

}  // namespace fdtrack
