// A number of seconds given on the command line (dump --timeout, top --delay),
// checked once here: CLI::Range lets NaN through (every comparison with it is false).
#pragma once

#include <CLI/CLI.hpp>

namespace fdtrack::cli {

// Accepts a finite number from `min_s` to `max_s`; anything else is
// "must be a number of seconds from MIN to MAX".
CLI::Validator seconds_validator(double min_s, double max_s);

}  // namespace fdtrack::cli
