// The settings the CLI hands to libfdtrack.so (library_settings.h).
#include "tools/library_settings.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "report/dump_signals.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace fs = std::filesystem;

CLI::Validator whole_number(long min, long max) {
    return CLI::Validator(
        [min, max](std::string& text) -> std::string {
            long value = 0;
            auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
                value > max) {
                return fmt::format("expected a whole number from {} to {}, got '{}'", min, max, text);
            }
            return {};
        },
        fmt::format("INT in {}..{}", min, max));
}

namespace {

// Accepts USR1, SIGUSR1, usr1, 10, RTMIN+2 and "none"; hands the library
// USR1, USR2 or none by name and any other signal by number, the forms
// FDTRACK_SIGNAL takes.
std::optional<std::string> normalise_signal(std::string text) {
    std::string upper = text;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (upper == "NONE") return "none";
    if (upper.starts_with("SIG")) upper.erase(0, 3);

    int number = 0;
    auto [end, error] = std::from_chars(upper.data(), upper.data() + upper.size(), number);
    bool numeric = !upper.empty() && error == std::errc() && end == upper.data() + upper.size();
    if (!numeric) {
        for (int sig = 1; sig < SIGRTMIN; ++sig) {
            if (const char* name = sigabbrev_np(sig); name && upper == name) number = sig;
        }
        int offset = 0;
        auto parse_offset = [&](std::string_view digits) {
            auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
            return !digits.empty() && error == std::errc() && end == digits.data() + digits.size();
        };
        if (upper == "RTMIN") number = SIGRTMIN;
        if (upper == "RTMAX") number = SIGRTMAX;
        if (upper.starts_with("RTMIN+") && parse_offset(std::string_view(upper).substr(6))) number = SIGRTMIN + offset;
        if (upper.starts_with("RTMAX-") && parse_offset(std::string_view(upper).substr(6))) number = SIGRTMAX - offset;
    }
    if (!is_usable_dump_signal(number)) return std::nullopt;
    if (number == SIGUSR1) return "USR1";
    if (number == SIGUSR2) return "USR2";
    return std::to_string(number);
}

CLI::Validator signal_or_none() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            std::optional<std::string> signal = normalise_signal(text);
            if (!signal) {
                return fmt::format("'{}' cannot be the dump signal: USR1, USR2, RTMIN+N or none (a program needs "
                                   "its other signals itself)", text);
            }
            text = *signal;
            return {};
        },
        "SIG|none");
}

CLI::Validator writable_directory() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            std::error_code error;
            if (!fs::is_directory(text, error)) return fmt::format("'{}' is not a directory", text);
            if (access(text.c_str(), W_OK | X_OK) != 0) return fmt::format("'{}' is not writable", text);
            text = fs::canonical(text).string();
            return {};
        },
        "DIR");
}

// Keeps the name as given, so that messages about the file's lines use it.
CLI::Validator readable_file() {
    return CLI::Validator(
        [](const std::string& text) -> std::string {
            std::error_code error;
            if (!fs::is_regular_file(text, error)) return fmt::format("'{}' is not a file", text);
            if (access(text.c_str(), R_OK) != 0) return fmt::format("'{}' is not readable", text);
            return {};
        },
        "FILE");
}

}  // namespace

void add_settings_options(CLI::App& sub, LibrarySettings& settings) {
    sub.add_option("--depth", settings.depth, "Native frames kept per stack (default 32) [FDTRACK_DEPTH]")
        ->transform(whole_number(1, 256).description(""))->type_name("N");
    sub.add_option("--signal", settings.signal, "The dump signal, or none (default USR1) [FDTRACK_SIGNAL]")
        ->transform(signal_or_none().description(""))->type_name("SIG|none");
    sub.add_option("--output", settings.output, "Where dumps are written [FDTRACK_OUTPUT]")
        ->transform(writable_directory().description(""))->type_name("DIR");
    sub.add_option("--threshold", settings.threshold,
                   "Dump once when the open count reaches N (default: 90% of the fd limit) [FDTRACK_THRESHOLD]")
        ->transform(whole_number(1, 1 << 30).description(""))->type_name("N");
    sub.add_option("--interval", settings.interval,
                   "Seconds between samples of each site's open count, the history every report carries "
                   "(default 10; 0: none) [FDTRACK_INTERVAL]")
        ->transform(whole_number(0, 86400).description(""))->type_name("SECONDS");
    sub.add_option("--suppressions", settings.suppressions,
                   "Leaks matching a rule in FILE are not counted (docs/suppressions.md) [FDTRACK_SUPPRESSIONS]")
        ->check(readable_file().description(""))->type_name("FILE");
    add_user_paths_option(sub, settings.user_paths,
                          "The user's own code, named in each headline, is exactly what lies under these "
                          "directories (default: a guess) [FDTRACK_USER_PATHS]");
    sub.add_flag("--no-python", settings.no_python, "Do not capture Python frames [FDTRACK_PYTHON=0]");
}

std::map<std::string, std::string> settings_variables(const LibrarySettings& settings) {
    std::map<std::string, std::string> variables;
    if (!settings.depth.empty()) variables["FDTRACK_DEPTH"] = settings.depth;
    if (!settings.signal.empty()) variables["FDTRACK_SIGNAL"] = settings.signal;
    if (!settings.output.empty()) variables["FDTRACK_OUTPUT"] = settings.output;
    if (!settings.threshold.empty()) variables["FDTRACK_THRESHOLD"] = settings.threshold;
    if (!settings.interval.empty()) variables["FDTRACK_INTERVAL"] = settings.interval;
    // Absolute: the program may change directory before its first report.
    if (!settings.suppressions.empty()) variables["FDTRACK_SUPPRESSIONS"] = fs::absolute(settings.suppressions);
    if (settings.user_paths) variables["FDTRACK_USER_PATHS"] = *settings.user_paths;
    if (settings.no_python) variables["FDTRACK_PYTHON"] = "0";
    return variables;
}

}  // namespace fdtrack::cli
