// Requests answered by copies of the process while the program has a single
// thread (issue #10, item 8).
//
// A thread of fdtrack's own in every tracked process made each of its forks
// glibc's multi-threaded fork (every malloc arena and the stdio list locked
// and reset, the thread's stack reclaimed in the child: 15 more page faults
// per fork), and CPython 3.12+ warns at every os.fork() of a process with
// more than one thread. So while the program has one thread, fdtrack has no
// thread either: a client of the control socket rings the process with its
// dump signal after connecting (report/control_channel.h: only a user who may
// signal it can), and fdtrack's handler of that signal, or the hook that saw
// a threshold crossed, has a copy of the process made with clone(2) answer: the same memory, records and fds, a report written or sent while
// the program carries on, and nothing the program can wait for (a child
// with no exit signal, which wait() without __WCLONE never returns, reaped
// by fdtrack at the next request).
#pragma once

#include <signal.h>

namespace fdtrack {

// Starts answering the control socket `*listener` (a held fd, tracker.h)
// by copies: learns where the program may be interrupted. Stopping disarms
// the retry timer (the dump thread answers from then on).
void answer_by_copies(int* listener);
void stop_answering_by_copies();

// From fdtrack's handler of the dump signal while copies answer: takes the
// signal's request, then answers what is pending in a copy if the program
// was interrupted where a copy can run (not inside libc's allocator, the
// loader or fdtrack itself), else a millisecond later.
void answer_signal_in_a_copy(const siginfo_t* info, const void* context);

// Whether a delivery of the dump signal asks for a report: not a client's
// ring (kControlRing) nor fdtrack's own retry timer.
bool asks_for_a_report(const siginfo_t* info);

// The calling thread may be inside the program's allocator (a signal
// handler that interrupted malloc called a hook: on sigaltstack, a stack it
// cannot scan, or the allocator's return addresses above this frame): no
// thread may be started from here.
bool maybe_inside_the_allocator();

// From a hook (a threshold crossed, the fd limit reached): answers now.
void answer_in_a_copy_now();

// In a fork child: the parent's timer and copies are not the child's.
void forget_copies_after_fork();

}  // namespace fdtrack
