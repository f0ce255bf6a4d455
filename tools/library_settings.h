// The settings the CLI hands to libfdtrack.so (FDTRACK_DEPTH, FDTRACK_SIGNAL,
// FDTRACK_OUTPUT...): the options `fdtrack run` and `fdtrack attach` share,
// checked on the command line, and the variables they become.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

// Values are kept as the normalised strings handed to the library; empty
// means "not given", so the environment (or the library's default) applies.
struct LibrarySettings {
    std::string depth;
    std::string signal;
    std::string output;
    std::string threshold;
    std::string interval;
    std::string suppressions;
    std::optional<std::string> user_paths;
    bool no_python = false;
};

// Adds --depth, --signal, --output, --threshold, --interval, --suppressions,
// --user-paths and --no-python to `command`.
void add_settings_options(CLI::App& command, LibrarySettings& settings);

// FDTRACK_* name -> value for each setting given.
std::map<std::string, std::string> settings_variables(const LibrarySettings& settings);

// A whole number from `min` to `max`, for options of any command.
CLI::Validator whole_number(long min, long max);

}  // namespace fdtrack::cli
