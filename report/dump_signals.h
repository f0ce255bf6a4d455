// Which signals may be fdtrack's dump signal, for the library's FDTRACK_SIGNAL
// and the CLI's --signal alike: only those a program does not need for its
// own life. SEGV, BUS, ILL, FPE, ABRT, TRAP and SYS report faults (a dump
// handler there turns a crash into a loop writing reports); INT, TERM, HUP,
// QUIT, PIPE, CHLD, ALRM... carry meaning the program relies on; KILL and
// STOP cannot be caught at all.
#pragma once

#include <signal.h>

namespace fdtrack {

inline bool is_usable_dump_signal(int sig) {
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

}  // namespace fdtrack
