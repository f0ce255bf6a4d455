// libfdtrack.so's life cycle: start tracking when loaded, follow forks, write
// the exit report when the program ends.
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/track/child_path.h"
#include "preload/track/config.h"
#include "preload/dump/dump.h"
#include "preload/dump/dump_signal.h"
#include "preload/dump/dump_thread.h"
#include "preload/hooks/exec_handover.h"
#include "preload/hooks/hooks.h"
#include "preload/track/native_stack.h"
#include "preload/python/exit_hook.h"
#include "preload/python/frames.h"
#include "preload/track/registry.h"
#include "preload/dump/snapshot.h"
#include "preload/track/thread_state.h"
#include "preload/hooks/real_symbol.h"
#include "preload/track/tracker.h"

extern "C" const ElfW(Ehdr) __ehdr_start;  // our own load address

namespace fdtrack {
namespace {

struct Order {
    bool seen_libc = false;
    bool before_libc = false;
};

FDTRACK_CHILD_PATH int find_order(dl_phdr_info* info, size_t, void* data) {
    auto* order = static_cast<Order*>(data);
    if (info->dlpi_addr == reinterpret_cast<ElfW(Addr)>(&__ehdr_start)) {
        order->before_libc = !order->seen_libc;
        return 1;
    }
    const char* slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : nullptr;
    const char* name = slash ? slash + 1 : info->dlpi_name;
    if (name && !strncmp(name, "libc.so", 7)) order->seen_libc = true;
    return 0;
}

// Preloaded (LD_PRELOAD, /etc/ld.so.preload) or linked in, libfdtrack.so is
// loaded with the program, ahead of libc.so.6 in the link map; dlopen'ed into
// a running process (`fdtrack attach`, or a program opening it itself) it is
// appended after it. The link map is what the loader did, whatever the
// environment says now (a program may have cleared LD_PRELOAD).
FDTRACK_CHILD_PATH bool loaded_with_the_program() {
    Order order;
    dl_iterate_phdr(find_order, &order);
    return order.before_libc;
}

// CPython closes what the program leaked while it finalizes, long before ELF
// destructors run: this is called from Python's atexit instead.
// A forked copy of the program that opened no fd of its own has nothing to
// report. One that did, reports when it ends through Python (a
// multiprocessing worker that leaves through sys.exit); from the library
// destructor only under `fdtrack run` or --follow-children, since every
// shell subshell opens fds for its redirections.
bool fork_child_keeps_quiet(bool through_python) {
    if (is_unsettled_fork_child()) return true;  // no call into fdtrack since the fork
    if (!is_fork_child()) return false;
    if (!recorded_since_fork()) return true;
    return !through_python && !config().exit_report && !config().follow_children;
}

void python_is_exiting() {
    python::only_this_thread_from_now_on();
    take_requested_dumps();
    if (!fork_child_keeps_quiet(true)) write_exit_report_before_shutdown();
}

// pthread_atfork is a stub linked into each library (libc_nonshared.a) that
// passes its __dso_handle on to libc: called here instead, so that an exec'd
// child does not fault in the stub's page of code (issue #10, item 8).
extern "C" int __register_atfork(void (*prepare)(), void (*parent)(), void (*child)(), void* dso_handle);
extern "C" void* __dso_handle;
void at_fork(void (*prepare)(), void (*parent)(), void (*child)()) {
    __register_atfork(prepare, parent, child, &__dso_handle);
}

__attribute__((constructor(101))) void on_load() {
    // Dlopen'ed: nothing is started or changed (no thread, handler, fd,
    // environment or fork handler) until fdtrack_attach_start, if ever.
    if (!loaded_with_the_program()) {
        find_real_symbols_anywhere();
        loaded_late();
        return;
    }
    read_settings();
    // In every process, tracked or not (a shell fdtrack does not follow
    // still forks and execs).
    at_fork(resolve_exec_functions, nullptr, nullptr);
    // An exec'd child that is not followed stops here, having allocated
    // nothing: its whole cost is what it maps and touches (issue #10).
    // Deciding allocates nothing either (tracker.cpp).
    if (!tracking_decided_at_load()) return;
    // The program's allocator initialises at its first malloc, which must be
    // the program's own, not one of ours in fdtrack's scope (setenv below):
    // an allocator that opens a file there would have its fd taken for
    // fdtrack's. libstdc++.so's constructor used to make that first call;
    // linked in, it runs after this one. (Volatile: the compiler drops a
    // plain malloc+free pair.)
    void* volatile first = malloc(1);
    free(first);
    Reentry own;
    load_unwinder();
    // Children started with exec see who the tracked process is (tracker.cpp).
    if (!config().root_pid) {
        char pid[24];
        snprintf(pid, sizeof pid, "%d", static_cast<int>(getpid()));
        setenv("FDTRACK_PID", pid, 0);
    }
    take_over_after_exec();
    at_fork(nullptr, nullptr, fork_child_started);
    install_dump_signal();
    ensure_request_service();  // after the handler: copies answer only through it
    // The exit hook needs no frame layout: a CPython whose frames fdtrack
    // cannot read still gets its exit report before finalization.
    python::init();
    python::install_exit_hook(python_is_exiting);
}

__attribute__((destructor(101))) void on_unload() {
    // A fork child that never called into fdtrack has nothing to report: it
    // leaves without settling.
    if (fdtrack_vfork_child || is_unsettled_fork_child() || !tracking()) return;
    finish_exit_report();  // a CPython program's, written before its shutdown
    take_requested_dumps();
    if (fork_child_keeps_quiet(false)) return;
    write_exit_report();
}

}  // namespace
}  // namespace fdtrack
