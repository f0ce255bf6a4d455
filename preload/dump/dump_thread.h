// The dump thread: produces reports off the signal path. Signal handlers and
// hooks only set a bit and write to an eventfd made in advance; this thread
// (all signals blocked) does the work. It also answers `fdtrack dump` on the
// control socket. A program with a single thread gets no such thread: copies
// of the process answer instead (copies.h).
#pragma once

namespace fdtrack {

enum DumpRequest : unsigned {
    kDumpSignal = 1u << 0,
    kDumpEmfile = 1u << 1,
    kDumpThreshold = 1u << 2,
};

// Sets up how requests are answered, once per process: at load, and in a
// fork child at its first fd (record_fd). While the program has one thread
// and the dump signal is fdtrack's, by copies of the process (copies.h) and
// no thread at all; else by the dump thread. Safe to call often: after the
// first time it is one load.
void ensure_request_service();

// The program starts a thread of its own, takes the dump signal, or waits
// for it itself: the dump thread answers from now on (a program that already
// has threads pays nothing more at a fork for one more).
void serve_with_a_thread();

// Requests are answered by copies now (no dump thread).
bool answered_by_copies();

// The requests not answered yet (DumpRequest bits), taken or added.
unsigned take_pending_requests();
void add_pending_requests(unsigned requests);

// Starts the thread once per process (ensure_request_service, attach).
void ensure_dump_thread();

// Detach: stops the thread and waits for it (a dump it is writing is
// finished first), then closes the eventfd and the control socket. The next
// ensure_dump_thread() starts anew. Attached, the thread is joinable, and it
// also redirects objects the program loaded without dlopen (got_patch.h).
// Waits 2 s at most: false when the thread is still busy then, having been
// told to stop; it and its fds are left as they are until a later call.
bool stop_dump_thread();

// Async-signal-safe: asks the dump thread for a report (or, from a hook, a
// copy at once).
void request_dump(DumpRequest why);

// From the thread that ends the program, before its exit report: waits for
// the dump the thread may be writing, then takes the ones asked for that it
// has not taken yet. A program that gives up at "Too many open files" exits
// at once, and its emfile report was lost with it, or written by a copy
// after it had exited (issue #10, item 6).
void take_requested_dumps();

// In a fork child the thread is gone and the eventfd and socket are the
// parent's. From the fork handler: they are closed (unless the parent, a
// fork child that had not settled, closed them already at its own fork), and
// the parent's requests dropped. When the child settles (tracker.h): they are
// forgotten, and the next ensure_dump_thread() starts anew.
void dump_thread_in_fork_child(bool parent_settled);
void dump_thread_after_fork();

}  // namespace fdtrack
