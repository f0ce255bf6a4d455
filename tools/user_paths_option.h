// The --user-paths option that run, report and diff share: which directories
// hold the user's own code, for the headlines (docs/spec.md).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "report/report.h"

namespace fdtrack::cli {

// Adds `--user-paths DIR:DIR` to `command`. `value` receives the list with
// relative entries made absolute against the current directory, in the form
// FDTRACK_USER_PATHS takes; "" (given empty) means "guess".
void add_user_paths_option(CLI::App& command, std::optional<std::string>& value, const std::string& help);

// The report's user_paths replaced by `value` when the option was given.
void apply_user_paths(const std::optional<std::string>& value, Report& report);

}  // namespace fdtrack::cli
