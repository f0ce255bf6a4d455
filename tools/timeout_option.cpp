// --timeout, checked as a finite number of seconds (timeout_option.h).
#include "tools/timeout_option.h"

#include <cmath>
#include <sstream>

namespace fdtrack::cli {

void add_timeout_option(CLI::App& command, double& value, const std::string& help) {
    // CLI::Range lets NaN through (every comparison with it is false).
    command.add_option("--timeout", value, help)
        ->check(CLI::Validator(
            [](std::string& text) {
                double seconds = 0;
                std::istringstream in(text);
                if (!(in >> seconds) || !std::isfinite(seconds) || seconds < 0.1 || seconds > 3600) {
                    return std::string("must be a number of seconds from 0.1 to 3600");
                }
                return std::string();
            },
            "SECONDS"));
}

}  // namespace fdtrack::cli
