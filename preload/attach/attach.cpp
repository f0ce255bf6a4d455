// fdtrack_attach_start and fdtrack_detach_stop: what `fdtrack attach` and
// `fdtrack detach` call, from one thread of the target they hijacked, in the
// libfdtrack.so they dlopen'ed into it (docs/spec.md, "Attaching").
//
// Both run while that thread is stopped from the injector's view, other
// threads going on, maybe inside hooked calls: nothing here waits for the
// program, nothing describes fds or loads libdw (dumps do that later, on the
// dump thread), and no exception leaves.
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <atomic>

#include "preload/attach/got_patch.h"
#include "preload/dump/dump.h"
#include "preload/dump/dump_signal.h"
#include "preload/dump/dump_thread.h"
#include "preload/dump/snapshot.h"
#include "preload/dump/triggers.h"
#include "preload/hooks/hooks.h"
#include "preload/python/frames.h"
#include "preload/track/config.h"
#include "preload/track/native_stack.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"

namespace fdtrack {
namespace {

// One attach or detach at a time (two injectors racing on one process).
// Taken with trylock, never waited for: the injector abandons a call past
// its --timeout by restoring the borrowed thread's registers, and a lock
// taken inside that call is never released. Waiting would then hang every
// later attach and detach in the hijacked thread; refusing lets them say so.
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
const char kBusy[] =
    "fdtrack is busy attaching or detaching in this process (or an earlier attempt was abandoned); try again";
bool g_attached = false;
bool g_fork_handler_registered = false;

// The one-line reason, NUL-terminated and cut to fit.
void tell(char* message, unsigned long size, const char* text) {
    if (!message || size == 0) return;
    size_t n = strnlen(text, size - 1);
    memcpy(message, text, n);
    message[n] = '\0';
}

int attach(const char* settings, char* message, unsigned long message_size) {
    if (!is_loaded_late()) {
        tell(message, message_size, "the process is already tracked: fdtrack is preloaded in it (LD_PRELOAD)");
        return 1;
    }
    if (g_attached) {
        tell(message, message_size, "fdtrack is already attached to this process; `fdtrack detach` first");
        return 1;
    }
    if (!configure_from_settings(settings ? settings : "")) {
        tell(message, message_size, "the settings are longer than fdtrack keeps (16 KiB)");
        return 2;
    }
    Reentry own;  // what fdtrack opens from here on is its own
    // Every object's entries first, while tracking is still off: the hooks
    // then only adopt fdtrack's own fds (its socket, libunwind's pipe) and
    // pass the program's calls through, until the tracking starts last.
    if (redirect_loaded_objects() < 0) {
        restore_redirected_entries();
        tell(message, message_size, "could not rewrite the GOT of a loaded object (mprotect refused)");
        return 2;
    }
    load_unwinder();  // (the linked unwinder sets itself up at its first use: entry/personality.cpp)
    remember_command_line();
    // Python is running already: its thread states and code objects are read
    // as under the preload. The exit hook needs an audit hook installed before
    // Py_Initialize; attached, the exit report comes from the library
    // destructor instead (after interpreter shutdown: no at_exit states).
    python::init();
    if (!g_fork_handler_registered) {  // pthread_atfork cannot be undone: the handlers check the mode
        pthread_atfork(resolve_exec_functions, nullptr, fork_child_started);
        g_fork_handler_registered = true;
    }
    reset_triggers();
    ensure_dump_thread();
    install_dump_signal();
    start_attached_tracking();
    // A lazily bound entry the loader wrote back meanwhile, an object
    // dlopen'ed meanwhile: the pass is idempotent.
    redirect_loaded_objects();
    g_attached = true;
    return 0;
}

int detach(char* message, unsigned long message_size) {
    if (!is_loaded_late()) {
        tell(message, message_size, "fdtrack is preloaded in this process (LD_PRELOAD), not attached: it stays");
        return 1;
    }
    if (!g_attached) {
        tell(message, message_size, "fdtrack is not attached to this process");
        return 1;
    }
    Reentry own;
    // No new call enters a hook from here; calls in flight find the tracking
    // stopped (a hook is a plain call then), or record once into a registry
    // the next attach forgets.
    restore_redirected_entries();
    stop_attached_tracking();
    if (!stop_dump_thread()) {
        // Still attached as far as the next detach knows: it does the steps
        // above again (each a no-op now) and joins the thread then.
        tell(message, message_size,
             "fdtrack's dump thread is still writing a dump or answering `fdtrack dump`; fdtrack no longer "
             "tracks, run `fdtrack detach` again to finish");
        return 2;
    }
    uninstall_dump_signal();
    release_all_held_fds();
    g_attached = false;
    return 0;
}

}  // namespace
}  // namespace fdtrack

extern "C" __attribute__((visibility("default"))) int fdtrack_attach_start(const char* settings, char* message,
                                                                            unsigned long message_size) {
    if (pthread_mutex_trylock(&fdtrack::g_lock) != 0) {
        fdtrack::tell(message, message_size, fdtrack::kBusy);
        return 2;
    }
    int result;
    try {
        result = fdtrack::attach(settings, message, message_size);
    } catch (...) {
        fdtrack::restore_redirected_entries();
        fdtrack::tell(message, message_size, "fdtrack could not start (out of memory?)");
        result = 2;
    }
    pthread_mutex_unlock(&fdtrack::g_lock);
    return result;
}

extern "C" __attribute__((visibility("default"))) int fdtrack_detach_stop(char* message, unsigned long message_size) {
    if (pthread_mutex_trylock(&fdtrack::g_lock) != 0) {
        fdtrack::tell(message, message_size, fdtrack::kBusy);
        return 2;
    }
    int result;
    try {
        result = fdtrack::detach(message, message_size);
    } catch (...) {
        fdtrack::tell(message, message_size, "fdtrack could not detach");
        result = 2;
    }
    pthread_mutex_unlock(&fdtrack::g_lock);
    return result;
}
