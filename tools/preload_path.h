// Finding libfdtrack.so for `fdtrack run`: FDTRACK_LIB, the build tree, or the install prefix.
#pragma once

#include <string>

namespace fdtrack::cli {

// An absolute path usable in LD_PRELOAD; throws std::runtime_error saying
// where it looked when there is none.
std::string find_preload_library();

}  // namespace fdtrack::cli
