// Finding libfdtrack.so for `fdtrack run`: FDTRACK_LIB, the build tree, or the install prefix.
#include "tools/preload_path.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace fdtrack::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLibraryName = "libfdtrack.so";

// The Debian multiarch directory, for a prefix installed with that layout
// but moved since (the compiled-in FDTRACK_INSTALL_LIBDIR is then stale).
#if defined(__x86_64__)
constexpr const char* kMultiarch = "x86_64-linux-gnu";
#elif defined(__aarch64__)
constexpr const char* kMultiarch = "aarch64-linux-gnu";
#else
constexpr const char* kMultiarch = nullptr;
#endif

// The dynamic loader splits LD_PRELOAD at spaces and colons, so such a path
// would silently preload the wrong thing.
std::string checked_for_ld_preload(const fs::path& path) {
    std::string text = path.string();
    if (text.find_first_of(" :") != std::string::npos) {
        throw std::runtime_error(fmt::format(
            "the path of the preload library, '{}', contains a space or a colon, which LD_PRELOAD cannot hold; "
            "set FDTRACK_LIB to a copy elsewhere",
            text));
    }
    return text;
}

std::vector<fs::path> candidates() {
    std::error_code error;
    fs::path exe_dir = fs::read_symlink("/proc/self/exe", error).parent_path();
    std::vector<fs::path> paths;
    if (!error) {
        paths.push_back(exe_dir / kLibraryName);  // build tree
        paths.push_back(exe_dir / ".." / "lib" / kLibraryName);
        if (kMultiarch) paths.push_back(exe_dir / ".." / "lib" / kMultiarch / kLibraryName);
        paths.push_back(exe_dir / ".." / "lib64" / kLibraryName);
    }
    paths.push_back(fs::path(FDTRACK_INSTALL_LIBDIR) / kLibraryName);
    return paths;
}

}  // namespace

std::string find_preload_library() {
    if (const char* override_path = std::getenv("FDTRACK_LIB"); override_path && *override_path) {
        std::error_code error;
        if (!fs::is_regular_file(override_path, error)) {
            throw std::runtime_error(fmt::format("FDTRACK_LIB={}: no such file", override_path));
        }
        return checked_for_ld_preload(fs::absolute(override_path));
    }
    std::vector<fs::path> looked_in = candidates();
    for (const fs::path& path : looked_in) {
        std::error_code error;
        if (fs::is_regular_file(path, error)) return checked_for_ld_preload(fs::weakly_canonical(path));
    }
    std::vector<std::string> names;
    for (const fs::path& path : looked_in) names.push_back(path.lexically_normal().string());
    throw std::runtime_error(fmt::format("cannot find {} (looked for {}); set FDTRACK_LIB to its path",
                                         kLibraryName, fmt::join(names, ", ")));
}

}  // namespace fdtrack::cli
