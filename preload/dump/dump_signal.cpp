// fdtrack's dump-signal handler and its retreat when the program takes the signal.
#include "preload/track/child_path.h"
#include "preload/dump/dump_signal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "preload/track/config.h"
#include "preload/dump/copies.h"
#include "preload/dump/dump_thread.h"
#include "preload/track/thread_state.h"

namespace fdtrack {
namespace {

std::atomic<bool> g_installed{false};
std::atomic<bool> g_yielded{false};
// What the program set (or inherited) while fdtrack's handler stays: SIG_IGN
// or, when false, SIG_DFL. Reported back to it as the disposition.
std::atomic<bool> g_program_ignores{false};

// Async-signal-safe: one atomic and one write to an eventfd made in advance,
// or, with no dump thread, a copy of the process made (copies.h).
void on_dump_signal(int, siginfo_t* info, void* context) {
    if (fdtrack_vfork_child) return;  // its memory is its parent's until it execs
    if (answered_by_copies()) answer_signal_in_a_copy(info, context);
    else if (asks_for_a_report(info)) request_dump(kDumpSignal);
}

// Runs inside the sigaction hook, maybe in a signal handler: a stack buffer,
// no allocation. sigabbrev_np has no name for real-time signals.
void say_yielded(int signum) {
    if (g_yielded.exchange(true)) return;
    char name[16];
    if (const char* abbrev = sigabbrev_np(signum)) snprintf(name, sizeof name, "%s", abbrev);
    else snprintf(name, sizeof name, "RTMIN+%d", signum - SIGRTMIN);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "fdtrack: the program handles %s itself, so it no longer triggers reports; use `fdtrack dump "
                     "%d` (or FDTRACK_SIGNAL to pick another signal)\n",
                     name, static_cast<int>(getpid()));
    ssize_t ignored = write(STDERR_FILENO, line, n > 0 && n < static_cast<int>(sizeof line) ? n : sizeof line - 1);
    (void)ignored;
}

}  // namespace

void install_dump_signal() {
    int signum = config().dump_signal;
    if (signum <= 0) return;
    struct sigaction current{};
    if (sigaction(signum, nullptr, &current) != 0) return;
    bool plain = !(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN);
    if (!plain) {  // a handler set by an earlier constructor
        say_yielded(signum);
        return;
    }
    g_program_ignores.store(current.sa_handler == SIG_IGN);  // inherited: nohup-like launchers
    struct sigaction ours{};
    ours.sa_sigaction = on_dump_signal;
    ours.sa_flags = SA_RESTART | SA_SIGINFO;  // the program's blocking calls carry on after a dump request
    sigemptyset(&ours.sa_mask);
    if (sigaction(signum, &ours, nullptr) == 0) g_installed.store(true);
}

void uninstall_dump_signal() {
    int signum = config().dump_signal;
    if (g_installed.load() && !g_yielded.load() && signum > 0) {
        struct sigaction current{};
        if (sigaction(signum, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
            current.sa_sigaction == on_dump_signal) {
            struct sigaction program{};
            program.sa_handler = g_program_ignores.load() ? SIG_IGN : SIG_DFL;
            sigemptyset(&program.sa_mask);
            sigaction(signum, &program, nullptr);
        }
    }
    g_installed.store(false);
    g_yielded.store(false);
    g_program_ignores.store(false);
}

FDTRACK_CHILD_PATH bool keeps_dump_handler(int signum) {
    return g_installed.load() && !g_yielded.load() && signum == config().dump_signal;
}

bool answer_for_dump_signal(int signum, const struct sigaction* action, struct sigaction* old) {
    if (!keeps_dump_handler(signum)) return false;
    *old = {};
    old->sa_handler = g_program_ignores.load() ? SIG_IGN : SIG_DFL;
    sigemptyset(&old->sa_mask);
    bool plain = action && !(action->sa_flags & SA_SIGINFO) &&
                 (action->sa_handler == SIG_DFL || action->sa_handler == SIG_IGN);
    if (action && !plain) {
        say_yielded(signum);  // a real handler: the program's from now on
        serve_with_a_thread();  // before it is installed: fdtrack's timer and clients rang this signal
        return false;
    }
    if (plain) g_program_ignores.store(action->sa_handler == SIG_IGN);
    return true;
}

namespace {

// fdtrack's own sigaction, which the hook must let through. A vfork child
// shares the parent's memory, TLS included: the hook lets it through anyway,
// and the re-entry count must not be touched (an exec never comes back to
// undo it).
int own_sigaction(int signum, const struct sigaction* action, struct sigaction* old) {
    if (fdtrack_vfork_child) return sigaction(signum, action, old);
    Reentry own;
    return sigaction(signum, action, old);
}

}  // namespace

FDTRACK_CHILD_PATH SignalsAsTheProgramSetThem::SignalsAsTheProgramSetThem() {
    int signum = config().dump_signal;
    if (!keeps_dump_handler(signum) || !g_program_ignores.load()) return;
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    changed_ = own_sigaction(signum, &ignore, &saved_) == 0;
}

FDTRACK_CHILD_PATH SignalsAsTheProgramSetThem::~SignalsAsTheProgramSetThem() {
    if (!changed_) return;
    // system() can take long: another thread may have installed a real
    // handler meanwhile (fdtrack then yielded). Only SIG_IGN is ours to undo.
    int signum = config().dump_signal;
    struct sigaction now {};
    if (keeps_dump_handler(signum) && own_sigaction(signum, nullptr, &now) == 0 && now.sa_handler == SIG_IGN &&
        !(now.sa_flags & SA_SIGINFO))
        own_sigaction(signum, &saved_, nullptr);
}

}  // namespace fdtrack
