// A number of seconds given on the command line (seconds_option.h).
#include "tools/seconds_option.h"

#include <cmath>
#include <sstream>
#include <string>

namespace fdtrack::cli {

CLI::Validator seconds_validator(double min_s, double max_s) {
    return CLI::Validator(
        [min_s, max_s](std::string& text) {
            double value = 0;
            std::istringstream in(text);
            if (!(in >> value) || !(in >> std::ws).eof() || !std::isfinite(value) || value < min_s ||
                value > max_s) {
                std::ostringstream range;
                range << "must be a number of seconds from " << min_s << " to " << max_s;
                return range.str();
            }
            return std::string();
        },
        "SECONDS");
}

void add_timeout_option(CLI::App& command, double& value, const std::string& help) {
    command.add_option("--timeout", value, help)->check(seconds_validator(0.1, 3600));
}

}  // namespace fdtrack::cli
