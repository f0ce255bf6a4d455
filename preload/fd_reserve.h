// A few descriptors held in advance, so a dump at "Too many open files" can
// still open what it needs (/proc/self/fd, ELF files, the report files) when
// the soft limit equals the hard one and cannot be lifted.
#pragma once

namespace fdtrack {

// Takes the reserve (again, after a dump used it) if the soft fd limit equals
// the hard one, so a dump cannot lift it; elsewhere the fds stay the
// program's. fdtrack's own fds: just below the soft limit, hidden from the
// program and the report.
void reserve_fds();

// Gives the reserve back to the kernel for the length of a dump, and takes it
// again afterwards.
class ReserveReleased {
public:
    ReserveReleased();
    ~ReserveReleased();
    ReserveReleased(const ReserveReleased&) = delete;
    ReserveReleased& operator=(const ReserveReleased&) = delete;
};

}  // namespace fdtrack
