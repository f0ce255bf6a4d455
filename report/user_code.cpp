// Whose code a frame is, and which frame of a site is the user's: by the
// --user-paths a user gave, else by where Python and the system install things.
#include "report/user_code.h"

#include <algorithm>

namespace fdtrack {

namespace {

std::string_view basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The directory components of `path`, outermost first (the file name left out).
std::vector<std::string_view> directories(std::string_view path) {
    std::vector<std::string_view> parts;
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return parts;
    std::string_view dirs = path.substr(0, slash);
    for (size_t start = 0; start <= dirs.size();) {
        size_t end = std::min(dirs.find('/', start), dirs.size());
        if (end > start) parts.push_back(dirs.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// Third-party packages: site-packages (pip, venvs, /usr/local builds) or
// dist-packages (Debian's apt and pip).
bool is_package_path(std::string_view path) {
    auto dirs = directories(path);
    return std::any_of(dirs.begin(), dirs.end(),
                       [](std::string_view d) { return d == "site-packages" || d == "dist-packages"; });
}

// python3, python3.11, python3.13t (free-threaded), python3.11d (debug).
bool is_versioned_python(std::string_view name) {
    return name.starts_with("python") && name.size() > 6 && name[6] >= '0' && name[6] <= '9' &&
           name.substr(6).find_first_not_of("0123456789.dmut") == std::string_view::npos;
}

// The standard library: .../lib/python3.11/ (Debian, pyenv, /usr/local),
// .../lib64/python3.11/ (Fedora), .../lib/python311.zip/, Debian's
// /usr/lib/python3/. Judged by whole components, so that a project in
// ~/lib/python3-tools/ is not taken for it.
bool is_stdlib_path(std::string_view path) {
    auto dirs = directories(path);
    for (size_t i = 1; i < dirs.size(); ++i) {
        std::string_view d = dirs[i];
        if (d.ends_with(".zip")) d.remove_suffix(4);
        if ((dirs[i - 1] == "lib" || dirs[i - 1] == "lib64") && is_versioned_python(d)) return true;
    }
    return false;
}

bool is_python_library_path(std::string_view path) {
    return is_package_path(path) || is_stdlib_path(path);
}

// The runtime underneath every program: the fd was created on the user's
// behalf by libc, the C++ runtime, the dynamic loader, the interpreter and
// its modules, or our own hooks.
bool is_runtime_module(std::string_view module) {
    std::string_view name = basename(module);
    static constexpr std::string_view kPrefixes[] = {
        "libc.so", "libc-", "libpthread", "libdl", "librt", "ld-linux", "ld64.so",
        "libstdc++", "libgcc_s", "libfdtrack", "[vdso]",
    };
    for (std::string_view prefix : kPrefixes) {
        if (name.starts_with(prefix)) return true;
    }
    return is_interpreter_module(module) || is_python_library_path(module);
}

// A system header's inline function compiled into the program (open() under
// _FORTIFY_SOURCE comes from bits/fcntl2.h) is still libc's code.
bool is_system_header(std::string_view file) {
    return file.starts_with("/usr/include/");
}

bool under_any(std::string_view path, const std::vector<std::string>& dirs) {
    return !path.empty() &&
           std::any_of(dirs.begin(), dirs.end(), [&](const std::string& dir) { return is_under(path, dir); });
}

bool is_user_native_frame(const NativeFrame& frame, const std::vector<std::string>& user_paths) {
    if (is_system_header(frame.file)) return false;
    if (!user_paths.empty()) return under_any(frame.file, user_paths) || under_any(frame.module, user_paths);
    if (frame.module.empty() && frame.function.empty()) return false;
    return !is_runtime_module(frame.module);
}

// How good a stand-in for "the user's code" a Python frame is, best first; a
// user's native frame ranks between kPseudoFile and kOther.
enum Rank {
    kUser,
    kPseudoFile,  // <string> (python -c, exec), <stdin>: often the user's, never a file to open
    kOther,       // not under --user-paths, though fdtrack would have guessed it the user's
    kPackage,     // site-packages, dist-packages
    kLauncher,    // the <module> code of a console script pip wrote into bin/
    kRuntime,     // the standard library, frozen modules (<frozen runpy>), no file at all
};

// pip and setuptools write console scripts (gunicorn, pytest) into a bin/
// directory (/usr/local/bin, venv/bin, ~/.local/bin): a few lines of module
// code that import the package and call it. Only that module code is the
// launcher: a function in the user's ~/bin/tool.py is the user's.
bool is_launcher(const PythonFrame& frame) {
    auto dirs = directories(frame.file);
    return frame.function == "<module>" && !dirs.empty() && (dirs.back() == "bin" || dirs.back() == "sbin");
}

Rank guessed_rank(const PythonFrame& frame) {
    if (frame.file.empty() || frame.file.starts_with("<frozen")) return kRuntime;
    if (frame.file.starts_with("<")) return kPseudoFile;
    if (is_package_path(frame.file)) return kPackage;
    if (is_stdlib_path(frame.file)) return kRuntime;
    if (is_launcher(frame)) return kLauncher;
    return kUser;
}

Rank python_rank(const PythonFrame& frame, const std::vector<std::string>& user_paths) {
    Rank guessed = guessed_rank(frame);
    if (user_paths.empty()) return guessed;
    if (under_any(frame.file, user_paths)) return kUser;
    return guessed <= kOther ? kOther : guessed;
}

}  // namespace

bool is_interpreter_module(std::string_view module) {
    std::string_view name = basename(module);
    return name.starts_with("libpython") || name == "python" || is_versioned_python(name);
}

UserFrame user_frame(const Site& site, const std::vector<std::string>& user_paths) {
    const PythonFrame* best = nullptr;
    Rank best_rank = kRuntime;
    for (const PythonFrame& frame : site.python) {
        Rank rank = python_rank(frame, user_paths);
        if (!best || rank < best_rank) best = &frame, best_rank = rank;
    }
    if (best && best_rank <= kPseudoFile) return {best, nullptr};
    for (const NativeFrame& frame : site.frames) {
        if (is_user_native_frame(frame, user_paths)) return {nullptr, &frame};
    }
    if (best) return {best, nullptr};
    if (!site.frames.empty()) return {nullptr, &site.frames.front()};
    return {};
}

std::vector<std::string> split_user_paths(std::string_view list) {
    std::vector<std::string> paths;
    for (size_t start = 0; start <= list.size();) {
        size_t end = std::min(list.find(':', start), list.size());
        if (end > start) paths.emplace_back(list.substr(start, end - start));
        start = end + 1;
    }
    return paths;
}

bool is_under(std::string_view path, std::string_view dir) {
    while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
    if (dir == "/") return path.starts_with('/');
    return path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/');
}

}  // namespace fdtrack
