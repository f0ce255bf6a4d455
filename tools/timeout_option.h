// The --timeout option of the commands that ask live processes (dump, metrics,
// exporter): how long one process may take to answer.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

// Adds `--timeout SECONDS` (0.1 to 3600) to `command`; `value` keeps its
// default unless given.
void add_timeout_option(CLI::App& command, double& value, const std::string& help);

}  // namespace fdtrack::cli
