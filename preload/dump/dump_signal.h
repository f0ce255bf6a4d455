// The dump signal (FDTRACK_SIGNAL, SIGUSR1 by default): fdtrack's handler,
// which only wakes the dump thread, and yielding to the program when it wants
// that signal for itself (gunicorn reopens its logs on SIGUSR1).
#pragma once

#include <signal.h>

namespace fdtrack {

// Installs the handler unless the program already has one of its own.
void install_dump_signal();

// Detach: puts back the disposition the program set (SIG_DFL or SIG_IGN)
// if fdtrack's handler is still the one installed; a handler the program
// installed since stays. The next install_dump_signal() starts anew.
void uninstall_dump_signal();

// Only a real handler means the program takes the dump signal. Setting the
// default or ignoring it (git and shells reset every signal before exec;
// launchers ignore some) leaves fdtrack's handler in place, and the program
// is told the disposition it set, as if fdtrack were not there.
// keeps_dump_handler: `signum` is the dump signal and fdtrack's handler is on.
// answer_for_dump_signal: with keeps_dump_handler(signum), sets `old` to what
// the program believes the disposition is, and answers its
// sigaction(signum, action, ...) itself (true) when it sets SIG_DFL or
// SIG_IGN or only asks; false for a real handler, which must go through
// (fdtrack says once that it yields).
bool keeps_dump_handler(int signum);
bool answer_for_dump_signal(int signum, const struct sigaction* action, struct sigaction* old);

// Around exec and spawn: an image started now inherits an ignored dump
// signal as the program set it, not fdtrack's handler (which exec resets to
// the default).
class SignalsAsTheProgramSetThem {
public:
    SignalsAsTheProgramSetThem();
    ~SignalsAsTheProgramSetThem();
    SignalsAsTheProgramSetThem(const SignalsAsTheProgramSetThem&) = delete;
    SignalsAsTheProgramSetThem& operator=(const SignalsAsTheProgramSetThem&) = delete;

private:
    bool changed_ = false;
    struct sigaction saved_ {};
};

}  // namespace fdtrack
