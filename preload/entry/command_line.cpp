// Keeps the command line before main runs: servers write their process
// title over argv, and reports would show it (and dozens of empty strings).
// A constructor of the shared library only, run right after on_load.
#include "preload/dump/snapshot.h"
#include "preload/track/tracker.h"

namespace fdtrack {
namespace {

__attribute__((constructor(102))) void keep_command_line() {
    if (tracking()) remember_command_line();
}

}  // namespace
}  // namespace fdtrack
