// fdtrack's dump-signal handler and its retreat when the program takes the signal.
#include "preload/dump_signal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "preload/config.h"
#include "preload/dump_thread.h"

namespace fdtrack {
namespace {

std::atomic<bool> g_installed{false};
std::atomic<bool> g_yielded{false};

// Async-signal-safe: one atomic and one write to an eventfd made in advance.
void on_dump_signal(int) { request_dump(kDumpSignal); }

void say_yielded(int signum) {
    if (g_yielded.exchange(true)) return;
    std::string line = std::string("fdtrack: the program handles ") + sigabbrev_np(signum) +
                       " itself, so it no longer triggers reports; use `fdtrack dump " +
                       std::to_string(getpid()) + "` (or FDTRACK_SIGNAL to pick another signal)\n";
    ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace

void install_dump_signal() {
    int signum = config().dump_signal;
    if (signum <= 0) return;
    struct sigaction current{};
    if (sigaction(signum, nullptr, &current) != 0) return;
    if (current.sa_handler != SIG_DFL) {  // inherited as ignored, or set by an earlier constructor
        say_yielded(signum);
        return;
    }
    struct sigaction ours{};
    ours.sa_handler = on_dump_signal;
    ours.sa_flags = SA_RESTART;  // the program's blocking calls carry on after a dump request
    sigemptyset(&ours.sa_mask);
    if (sigaction(signum, &ours, nullptr) == 0) g_installed.store(true);
}

void program_sets_signal(int signum, bool sets_handler) {
    if (sets_handler && g_installed.load() && signum == config().dump_signal) say_yielded(signum);
}

}  // namespace fdtrack
