// Fds that survive an exec (no CLOEXEC) keep their allocation site: before
// the exec, the tracked process writes them with their symbolised stacks into
// a sealed memfd the new image inherits; the new image, if tracked,
// attributes its inherited fds to those sites and closes the memfd.
#pragma once

#include <cstdint>

#include "report/report.h"

namespace fdtrack {

// The memfd handed to an exec or spawn; closed when this goes out of scope,
// which only happens in this image if the exec failed (or, for a spawn, once
// the child has its copy).
class Handover {
public:
    Handover() = default;
    Handover(Handover&& other) noexcept;
    Handover& operator=(Handover&&) = delete;
    ~Handover();

private:
    friend Handover hand_over_before_exec(const char* image, char* const* envp);
    int memfd_ = -1;
};

// Before execve and friends in this process (the new image keeps our pid),
// when `envp` (null: this process's environment) preloads fdtrack and the
// program at `image` (null when unknown) will load it.
Handover hand_over_before_exec(const char* image, char* const* envp);
// Before posix_spawn, system or popen start a child that will be tracked
// (--follow-children): the child knows the memfd by its parent's pid.
Handover hand_over_before_spawn(const char* image, char* const* envp);

// In the new image, from the library constructor: inherited fds that match a
// handed-over fd (same number, same device and inode) become tracked ones.
void take_over_after_exec();

// The pre-symbolised site of a handed-over stack id, or nullptr.
const Site* foreign_site(uint32_t stack_id);

}  // namespace fdtrack
