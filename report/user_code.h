// Whose code a frame is: the user's own, or what runs underneath it (libc, the
// loader, the interpreter, the standard library, installed packages,
// console-script launchers, fdtrack). The text report's headlines, its folding
// of interpreter frames and --gen-suppressions all ask here, so they agree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/report.h"

namespace fdtrack {

// The frame a site's headline names; at most one is set (neither for a site
// without frames).
struct UserFrame {
    const PythonFrame* python = nullptr;
    const NativeFrame* native = nullptr;
};

// The innermost frame of the user's own code. `user_paths` (--user-paths,
// FDTRACK_USER_PATHS) empty: fdtrack guesses, and a Python frame wins over a
// native one. Not empty: exactly the frames whose file (or, for a native
// frame, module) lies under one of those directories are the user's. With no
// frame of the user's, the best stand-in: third-party packages, then a
// launcher's module code, then the innermost frame.
UserFrame user_frame(const Site& site, const std::vector<std::string>& user_paths);

// libpython3.X.so, or the python executable (Debian's links libpython in
// statically): the interpreter's own native code. Extension modules
// (lib-dynload/_socket.cpython-311-x86_64-linux-gnu.so, numpy's) are not.
bool is_interpreter_module(std::string_view module);

// "P1:P2" -> {"P1", "P2"}, empty entries left out, as PATH is read.
std::vector<std::string> split_user_paths(std::string_view list);

// Whether `path` is `dir` or lies below it, compared as text: "/srv/app"
// holds "/srv/app/x.py", not "/srv/application.py".
bool is_under(std::string_view path, std::string_view dir);

}  // namespace fdtrack
