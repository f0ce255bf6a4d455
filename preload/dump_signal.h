// The dump signal (FDTRACK_SIGNAL, SIGUSR1 by default): fdtrack's handler,
// which only wakes the dump thread, and yielding to the program when it wants
// that signal for itself (gunicorn reopens its logs on SIGUSR1).
#pragma once

#include <signal.h>

namespace fdtrack {

// Installs the handler unless the program already handles or ignores the signal.
void install_dump_signal();

// The program is setting the disposition of `signum` (sigaction or signal
// hooks): if it is the dump signal, the program wins; say so once.
void program_sets_signal(int signum, bool sets_handler);

}  // namespace fdtrack
