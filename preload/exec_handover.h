// Fds that survive an exec (no CLOEXEC) keep their allocation site: before
// the exec, the tracked process writes them with their symbolised stacks;
// the new image, if tracked, attributes its inherited fds to those sites.
#pragma once

#include <cstdint>

#include "report/report.h"

namespace fdtrack {

// Before execve and friends in this process (the new image keeps our pid).
void hand_over_before_exec();
// Before posix_spawn, system or popen start a child that will be tracked
// (--follow-children): the child finds the file by its parent's pid.
void hand_over_before_spawn();

// In the new image, from the library constructor: inherited fds that match a
// handed-over fd (same number, same device and inode) become tracked ones.
void take_over_after_exec();

// The pre-symbolised site of a handed-over stack id, or nullptr.
const Site* foreign_site(uint32_t stack_id);

// At exit: the spawn hand-over file is no longer needed.
void remove_spawn_handover();

}  // namespace fdtrack
