// --user-paths: normalised once here, so that the library (through
// FDTRACK_USER_PATHS) and a re-rendered report see the same directories.
#include "tools/user_paths_option.h"

#include <filesystem>

#include <fmt/format.h>

#include "report/user_code.h"

namespace fdtrack::cli {

namespace {

// Absolute because the traced program may change directory, and normal
// because frames are matched against the directories as text.
std::string absolute_directory(const std::string& entry) {
    std::string path = std::filesystem::absolute(entry).lexically_normal().string();
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

}  // namespace

void add_user_paths_option(CLI::App& command, std::optional<std::string>& value, const std::string& help) {
    command
        .add_option_function<std::string>(
            "--user-paths",
            [&value](const std::string& text) {
                std::vector<std::string> dirs;
                for (const std::string& entry : split_user_paths(text)) dirs.push_back(absolute_directory(entry));
                value = fmt::format("{}", fmt::join(dirs, ":"));
            },
            help)
        ->type_name("DIR:DIR");
}

void apply_user_paths(const std::optional<std::string>& value, Report& report) {
    if (value) report.user_paths = split_user_paths(*value);
}

}  // namespace fdtrack::cli
