// A number of seconds given on the command line (--timeout of the commands that
// ask live processes, top --delay), checked once here: CLI::Range lets NaN
// through (every comparison with it is false).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

// Accepts a finite number from `min_s` to `max_s`; anything else is
// "must be a number of seconds from MIN to MAX".
CLI::Validator seconds_validator(double min_s, double max_s);

// Adds `--timeout SECONDS` (0.1 to 3600): how long one process may take to
// answer (dump, metrics, exporter). `value` keeps its default unless given.
void add_timeout_option(CLI::App& command, double& value, const std::string& help);

}  // namespace fdtrack::cli
