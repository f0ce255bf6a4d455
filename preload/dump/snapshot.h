// Builds a report of this process's open fds now: the registry reconciled with
// /proc/self/fd, every fd described, every site symbolised.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "report/report.h"

namespace fdtrack {

class Symbolizer;

// The allocation site of `stack_id` with its frames symbolised (counts and
// ages left at zero): once per stack, then from a cache, since a stack never
// changes. Sites handed over by the process that exec'd us come
// pre-symbolised (exec_handover).
Site symbolize_site(uint32_t stack_id, Symbolizer& symbolizer);

// symbolize_site for many stacks at once: one pass over the stack table.
void symbolize_stacks(const std::vector<uint32_t>& stack_ids, Symbolizer& symbolizer);

// In a fork child: the cache's lock is free again.
void symbolized_sites_after_fork();

// `trigger` is one of docs/spec.md's: exit, signal, emfile, threshold, api.
// Runs on a fdtrack thread or at exit, never in a signal handler.
// `described` (optional) is called with the fds listed once each has been
// described, before symbolising: a forked copy writing a dump at the fd limit
// closes them there to make room.
// Keeps the command line as it is now, for every later report: called before
// main, since nginx, redis and postgres write their process title over argv.
void remember_command_line();

Report take_snapshot(const char* trigger, const std::function<void(const std::vector<int>&)>& described = {});

// What `fdtrack top` and `fdtrack metrics` ask for (schema fdtrack-counts/1):
// each site's open count, ages, frames and history, from the registry alone,
// with no fd listed or described. Milliseconds at 20,000 fds.
Report take_counts();

// A small file read whole (/proc/self/...), or "" if it cannot be.
std::string read_file(const char* path);

// In a copy of the process (copies.h, the copies made at the fd limit):
// every report is the program's, of pid `pid` with fd limit `limit`, not
// the copy's, whose own limit it has lifted.
void report_for_program(int pid, rlim_t limit);

}  // namespace fdtrack
