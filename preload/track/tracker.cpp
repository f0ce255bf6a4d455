// The tracker: decides whether this process is tracked, and turns what the
// hooks report into registry records with interned stacks.
#include "preload/track/child_path.h"
#include "preload/track/tracker.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <atomic>
#include <cstring>

#include "preload/track/bad_closes.h"
#include "preload/track/site_counts.h"
#include "preload/track/config.h"
#include "preload/dump/dump.h"
#include "preload/dump/dump_thread.h"
#include "preload/track/native_stack.h"
#include "preload/python/stack.h"
#include "preload/track/history.h"
#include "preload/track/registry.h"
#include "preload/dump/report_files.h"
#include "preload/dump/snapshot.h"
#include "preload/track/stack_table.h"
#include "preload/dump/triggers.h"

namespace fdtrack {
namespace {

// kForked: a fork child of a tracked process that has not called into
// fdtrack since the fork; the first call settles it (kSettling, then kActive).
enum Mode : int { kUndecided, kActive, kDormant, kForked, kSettling };
std::atomic<int> g_mode{kUndecided};
std::atomic<bool> g_fork_child{false};
std::atomic<bool> g_recorded_since_fork{false};

// The process that started tracking: FDTRACK_PID, or, when it is unset, this
// one (which sets it for its exec'd children after reading its settings).
// Found at the first call and inherited by fork children: for them the
// process that started tracking is their parent, whose settings they hold.
std::atomic<long> g_root_pid{0};

FDTRACK_CHILD_PATH long root_pid_from_settings() {
    return config().root_pid_number ? config().root_pid_number : static_cast<long>(getpid());
}

// An exec keeps the pid (a wrapper script exec'ing python is still the same
// program); a different pid means an exec'd child, tracked only when asked.
// A fork child exec'ing is one: it hands nothing over to an image that will
// not be tracked (and need not settle for it).
FDTRACK_CHILD_PATH bool is_followed_process() {
    long root = g_root_pid.load(std::memory_order_relaxed);
    if (!root) {
        root = root_pid_from_settings();
        g_root_pid.store(root, std::memory_order_relaxed);
    }
    return root == static_cast<long>(getpid()) || config().follow_children;
}

// Fds open before tracking starts are "inherited" (or, attached,
// "before_attach"). Raw getdents64 into a stack buffer: this may run inside a
// hook, before malloc is usable.
void mark_inherited(Origin origin = Origin::inherited) {
    Reentry own;
    int dir = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir < 0) return;
    alignas(8) char buffer[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
        if (n <= 0) break;
        for (long offset = 0; offset < n;) {
            struct Entry {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            };
            const auto* entry = reinterpret_cast<const Entry*>(buffer + offset);
            offset += entry->reclen;
            if (entry->name[0] < '0' || entry->name[0] > '9') continue;
            int fd = atoi(entry->name);
            // fdtrack's own fds (adopted through the hooks) keep their records.
            if (fd != dir) registry().put_inherited(fd, origin);
        }
    }
    syscall(SYS_close, dir);
}

FDTRACK_CHILD_PATH bool decide() {
    // The first hook may come from another library's constructor, before
    // ours (CPython 3.13's mimalloc, jemalloc), even from inside its
    // allocator's initialisation: nothing here allocates (libunwind is
    // opened by our constructor, load_unwinder).
    Reentry own;
    bool active = is_followed_process();
    if (active) {
        native_stack_init();
        mark_inherited();
    }
    int expected = kUndecided;
    g_mode.compare_exchange_strong(expected, active ? kActive : kDormant, std::memory_order_acq_rel);
    return g_mode.load(std::memory_order_acquire) == kActive;
}

// fdtrack's own fds sit just above the program's: at first below 1024 (or
// the soft limit), moved up ahead of the program as its fds grow
// (stay_ahead_of), up to just below the soft limit. Kept low, the fd table
// the kernel copies at every fork stays the program's own size: one fd at
// 19936 made each fork cost ~150 us more.
std::atomic<int> g_floor{0};

// The highest place: just below the soft limit (at most 64 Ki).
int top_floor() {
    rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    rlim_t soft = limit.rlim_cur > 65536 ? 65536 : limit.rlim_cur;
    return static_cast<int>(soft > 256 ? soft - 64 : soft - soft / 4);
}

int own_fd_floor() {
    int floor = g_floor.load(std::memory_order_relaxed);
    if (floor) return floor;
    int start = std::min(top_floor(), 1024 - 64);
    g_floor.compare_exchange_strong(floor, start, std::memory_order_relaxed);
    return g_floor.load(std::memory_order_relaxed);
}

// More fds than one call can create at once (SCM_RIGHTS: 253).
constexpr int kAhead = 256;

// The holders of fdtrack's long-lived fds (tracker.h). Entries are only
// added: a holder whose fd was closed reads -1 or a number no longer own.
constexpr int kMaxHolders = 12;
std::atomic<int*> g_holders[kMaxHolders];
std::atomic<int> g_uses{0};
std::atomic<bool> g_moving{false};
// The holder of the eventfd that wakes the poll in progress (HeldFdPoll), or
// null; and how many such polls have ended.
std::atomic<int*> g_poll_wake{nullptr};
std::atomic<unsigned> g_polls_ended{0};

int holder_fd(int* holder) { return std::atomic_ref<int>(*holder).load(); }

// One move at a time. dup2 is async-signal-safe: a handler may call it on a
// thread that was moving, so signals stay blocked meanwhile.
class Moving {
public:
    Moving() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous_);
        while (g_moving.exchange(true, std::memory_order_acquire)) sched_yield();
    }
    ~Moving() {
        g_moving.store(false, std::memory_order_release);
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    Moving(const Moving&) = delete;
    Moving& operator=(const Moving&) = delete;

private:
    sigset_t previous_;
};

void resolve_python_frame(const PyFrameKey& key, PyFrameText* out) {
    python_stack_describe(key, out);
}

// The calling thread's native and Python stacks, interned. Inlined for the
// same reason as capture_native_stack: one frame fewer to unwind.
[[gnu::always_inline]] inline uint32_t capture_stack() {
    const Config& c = config();
    uintptr_t native[kNativeCaptureSize];
    int n_native = capture_native_stack(native, c.depth);
    PyFrameKey python[kMaxPythonDepth];
    int n_python = c.python ? python_stack_capture(python, kMaxPythonDepth) : 0;
    return stack_table().intern(native, n_native, python, n_python, resolve_python_frame);
}

}  // namespace

FDTRACK_CHILD_PATH bool exec_stays_tracked() { return is_followed_process(); }

namespace {
std::atomic<bool> g_loaded_late{false};
}  // namespace

void loaded_late() {
    g_loaded_late.store(true);
    g_mode.store(kDormant, std::memory_order_release);
}

bool is_loaded_late() { return g_loaded_late.load(std::memory_order_relaxed); }

void start_attached_tracking() {
    Reentry own;
    native_stack_init();
    g_root_pid.store(static_cast<long>(getpid()), std::memory_order_relaxed);
    // What a hook that returned late after the last detach recorded, and
    // that period's counts: gone. fdtrack's own fds stay recorded (own).
    registry().clear();
    clear_open_counts();
    clear_bad_closes();
    // Active first, then the scan: an fd a hook records meanwhile keeps its
    // stack (put_inherited fills only empty slots).
    g_mode.store(kActive, std::memory_order_release);
    mark_inherited(Origin::before_attach);
}

void stop_attached_tracking() {
    g_mode.store(kDormant, std::memory_order_release);
    registry().clear();
    clear_open_counts();
    clear_bad_closes();
}

namespace {

// In a fork child: the other threads' uses and moves ended with them.
void own_fds_after_fork() {
    g_uses.store(0);
    g_moving.store(false);
    g_poll_wake.store(nullptr);
}

// Locks another thread of the parent may have held at the fork.
void locks_after_fork() {
    report_places_after_fork();
    history_after_fork();
    symbolized_sites_after_fork();
}

// What a fork child needs before it records anything.
void settle_fork_child() {
    own_fds_after_fork();
    locks_after_fork();
    registry().repair_after_fork();
    reset_dump_state_after_fork();
    g_fork_child.store(true);
    g_recorded_since_fork.store(false);
    dump_thread_after_fork();
}

bool settle() {
    int mode = kForked;
    if (g_mode.compare_exchange_strong(mode, kSettling, std::memory_order_acq_rel)) {
        ++tls.hook_depth;  // what a signal handler opens meanwhile passes through
        settle_fork_child();
        --tls.hook_depth;
        g_mode.store(kActive, std::memory_order_release);
        return true;
    }
    while (mode == kSettling) {  // another thread of the child settles it: a few system calls
        sched_yield();
        mode = g_mode.load(std::memory_order_acquire);
    }
    return mode == kActive;
}

}  // namespace

FDTRACK_CHILD_PATH bool tracking_decided_at_load() {
    // A store first, of what a first hook would have found the same: the
    // page's first access a write, one page fault rather than two (a read
    // maps the zero page, the write then copies it), in every exec'd child.
    g_root_pid.store(root_pid_from_settings(), std::memory_order_relaxed);
    return tracking();
}

FDTRACK_CHILD_PATH bool tracking() {
    int mode = g_mode.load(std::memory_order_acquire);
    if (__builtin_expect(mode == kActive, 1)) return true;
    if (mode == kDormant) return false;
    return mode == kUndecided ? decide() : settle();
}

void copy_of_the_process_started() {
    own_fds_after_fork();
    locks_after_fork();
    registry().repair_after_fork();
}

FDTRACK_CHILD_PATH void fork_child_started() {
    reset_thread_state_after_fork();
    if (tls.forking_copy) {  // fdtrack's own copy: it runs fdtrack's code at once, and keeps no thread
        copy_of_the_process_started();
        return;
    }
    int mode = g_mode.load(std::memory_order_relaxed);
    if (mode == kUndecided || mode == kDormant) return;
    // A parent that had not settled (or was settling on another thread, gone
    // here) closed its parent's fds at its own fork; this child settles anew.
    dump_thread_in_fork_child(mode == kActive);
    g_mode.store(kForked, std::memory_order_release);
}

FDTRACK_CHILD_PATH bool is_unsettled_fork_child() {
    int mode = g_mode.load(std::memory_order_acquire);
    return mode == kForked || mode == kSettling;
}

// The program got `fd`: when it comes near fdtrack's own fds, they move up
// first, so that the kernel's lowest free number is never one of ours.
inline void stay_ahead_of(int fd) {
    int floor = g_floor.load(std::memory_order_relaxed);
    if (__builtin_expect(fd + kAhead >= floor, 0) && floor) move_ahead_of(fd);
}

// With no dump thread (copies.h) the hooks take the history's samples, as
// their calls change the counts: before the change, so that a sample due
// since finds the counts a punctual one would have (history.h).
inline void sample_before_a_change() {
    if (answered_by_copies()) sample_history_if_due();
}

// Not fdtrack's own scope (no Reentry): a signal handler that opens an fd
// while this runs must get its fd where the program would (it passes
// through, untracked); libunwind made its pipe at init (load_unwinder).
void record_fd(const char* call, int fd, bool held_by_stream, uint32_t* stack) {
    if (*stack == kStackNotCaptured) *stack = capture_stack();
    FdInfo info;
    info.origin = Origin::tracked;
    info.call = call;
    info.stack = *stack;
    info.tid = current_tid();
    info.created_ns = monotonic_ns();
    memcpy(info.thread, current_thread_name(), sizeof info.thread);
    info.held_by_stream = held_by_stream;
    sample_before_a_change();
    registry().put(fd, info);
    if (!g_recorded_since_fork.load(std::memory_order_relaxed)) g_recorded_since_fork.store(true);
    // A fork child sets up its answering at its first fd (dump_thread_after_fork);
    // the program's at load, not here: a custom allocator's init may come first.
    if (is_fork_child()) ensure_request_service();  // its own fds: it enters fdtrack's scope itself
    stay_ahead_of(fd);
    fd_count_rose();
}

int adopt_own_fd(int fd) {
    long moved = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, own_fd_floor());
    if (moved >= 0) {
        syscall(SYS_close, fd);
        fd = static_cast<int>(moved);
    }
    FdInfo info;
    info.origin = Origin::own;
    registry().put(fd, info);
    return fd;
}

std::atomic<int>& HeldFdUse::uses() { return g_uses; }

void hold_own_fd(int* holder) {
    for (auto& slot : g_holders) {
        int* seen = slot.load();
        if (seen == holder) return;
        if (!seen && slot.compare_exchange_strong(seen, holder)) return;
        if (seen == holder) return;
    }
}

namespace {

// Moves the fd `holder` names to a free number from `floor` up (inside Moving).
void move_held(int* holder, int floor) {
    int target = holder_fd(holder);
    // A copy elsewhere first: the holder never names a closed fd.
    long moved = syscall(SYS_fcntl, target, F_DUPFD_CLOEXEC, floor);
    if (moved >= 0) {
        FdInfo info;
        info.origin = Origin::own;
        registry().put(static_cast<int>(moved), info);
    } else {
        static const char message[] =
            "fdtrack: the program takes one of fdtrack's fds and no fd is free to move it to; "
            "fdtrack gives it up (dumps on request may stop)\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
    }
    std::atomic_ref<int>(*holder).store(moved >= 0 ? static_cast<int>(moved) : -1);
    // A use that read the old number may still be about to use it.
    while (g_uses.load() > 0) sched_yield();
    // A poll that read the old number (HeldFdPoll) is woken and waited for.
    // A poll sets g_poll_wake before it reads a holder, so it either reads
    // the new number or is seen here. The count is read first: a wake seen
    // after it belongs to a poll that has not ended yet, or to one begun
    // after the poller drained the eventfd (which would have eaten our write).
    unsigned ended = g_polls_ended.load();
    if (int* wake = g_poll_wake.load()) {
        int fd = holder_fd(wake);
        uint64_t one = 1;
        if (fd >= 0 && syscall(SYS_write, fd, &one, sizeof one) == sizeof one) {
            while (g_polls_ended.load() == ended) sched_yield();
        }
    }
    registry().remove(target);
    // Closed now, not replaced by the program's dup2: if that fails, the
    // number must be free, as it would be without fdtrack.
    syscall(SYS_close, target);
}

}  // namespace

void release_held_fd(int* holder) {
    Reentry own;
    Moving moving;
    int fd = holder_fd(holder);
    if (fd < 0) return;
    std::atomic_ref<int>(*holder).store(-1);
    while (g_uses.load() > 0) sched_yield();  // a use that read the number
    registry().remove(fd);
    syscall(SYS_close, fd);
}

void release_all_held_fds() {
    for (auto& slot : g_holders) {
        if (int* holder = slot.load()) release_held_fd(holder);
    }
}

void make_room_for(int target) {
    if (registry().origin(target) != Origin::own) return;  // the fast path of every dup2
    Reentry own;
    Moving moving;
    for (auto& slot : g_holders) {
        int* holder = slot.load();
        if (!holder || holder_fd(holder) != target) continue;
        move_held(holder, own_fd_floor());
        return;
    }
}

void move_ahead_of(int fd) {
    int floor = g_floor.load(std::memory_order_relaxed);
    int top = top_floor();
    if (floor >= top) return;  // as high as it goes: the program may reach fdtrack's numbers
    int wanted = std::min(top, std::max(floor * 2, fd + 2 * kAhead));
    if (!g_floor.compare_exchange_strong(floor, wanted)) return;  // another thread moves them
    Reentry own;
    Moving moving;
    for (auto& slot : g_holders) {
        int* holder = slot.load();
        if (!holder) break;
        int held = holder_fd(holder);
        if (held >= 0 && held < wanted && registry().origin(held) == Origin::own) move_held(holder, wanted);
    }
}

int held_fd_between(int low, int high) {
    int lowest = -1;
    for (auto& slot : g_holders) {
        int* holder = slot.load(std::memory_order_relaxed);
        if (!holder) break;
        int fd = holder_fd(holder);
        if (fd >= low && fd < high && (lowest < 0 || fd < lowest) && registry().origin(fd) == Origin::own) lowest = fd;
    }
    return lowest;
}

bool is_held_fd(int fd) {
    if (is_unsettled_fork_child()) tracking();  // the numbers it holds are its parent's, closed at the fork
    return fd >= 0 && held_fd_between(fd, fd + 1) == fd;
}

void Hook::undo_created(int fd) {
    Reentry own;
    syscall(SYS_close, fd);
}

HeldFdPoll::HeldFdPoll(int* wake) { g_poll_wake.store(wake); }
HeldFdPoll::~HeldFdPoll() {
    g_poll_wake.store(nullptr);  // before the count: see move_held
    g_polls_ended.fetch_add(1);
}

bool forget_fd(int fd, bool by_fdtrack, FdInfo* before, const void* closer) {
    sample_before_a_change();
    Origin origin = registry().remove(fd, before, closer);  // one slot access on every close
    if (origin == Origin::own && !by_fdtrack) {
        registry().put(fd, *before);  // still open: the program may not close it
        return false;
    }
    if (is_open_origin(origin)) fd_count_fell();
    return true;
}

namespace {

// Where a closed fd was closed: the code that called close(), one frame
// (the stack was not walked on that close). 0 when unknown.
uint32_t closing_site(const FdInfo& before) {
    if (before.origin != Origin::closed || before.closed_by == 0) return 0;
    return stack_table().intern(&before.closed_by, 1, nullptr, 0, nullptr);
}

}  // namespace

void check_close(int fd, int result, int error, const FdInfo& before) {
    // A fork child closing everything before exec closes its copies of the
    // parent's streams on purpose; only the process that made them is judged.
    if (is_fork_child()) return;
    const char* error_kind = nullptr;
    if (result != 0 && error == EBADF && before.origin == Origin::closed) error_kind = "double_close";
    else if (result != 0 && error == EBADF && before.origin == Origin::empty) error_kind = "never_opened";
    else if (result == 0 && before.origin == Origin::tracked && before.held_by_stream) error_kind = "owned_by_stream";
    if (!error_kind) return;
    record_bad_close(fd, error_kind, capture_stack(), before.stack, closing_site(before));  // as record_fd: no own scope
}

void check_close_range(unsigned low, unsigned high) {
    if (is_fork_child()) return;
    // Up to ~0U, INT_MAX or the fd limit is "everything from low": closing
    // numbers already closed there is the point, not a mistake.
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (high >= static_cast<unsigned>(INT_MAX) || high + 1 >= limit.rlim_cur) return;
    Registry& r = registry();
    uint32_t site = 0;
    for (long fd = low, max = r.max_fd(); fd <= max && fd <= static_cast<long>(high); ++fd) {
        FdInfo before = r.get(static_cast<int>(fd));
        if (before.origin != Origin::closed) continue;
        // Reused behind fdtrack's back (glibc's own opens, a raw syscall): open
        // again, so this close is no double close.
        if (syscall(SYS_fcntl, static_cast<int>(fd), F_GETFD) >= 0) continue;
        if (site == 0) site = capture_stack();  // once per call, as record_fd: no own scope
        record_bad_close(static_cast<int>(fd), "double_close", site, before.stack, closing_site(before));
    }
}

int forget_range(unsigned low, unsigned high, int* own, int own_max, const void* closer) {
    sample_before_a_change();
    Registry& r = registry();
    int max = r.max_fd();
    int n_own = 0;
    for (long fd = low; fd <= max && fd <= static_cast<long>(high); ++fd) {
        Origin origin = r.origin(static_cast<int>(fd));
        if (!is_open_origin(origin)) continue;
        if (origin == Origin::own && n_own < own_max) own[n_own++] = static_cast<int>(fd);
        else r.remove(static_cast<int>(fd), nullptr, closer);
    }
    fd_count_fell();
    return n_own;
}

bool is_fork_child() { return g_fork_child.load(); }
bool recorded_since_fork() { return g_recorded_since_fork.load(); }

void call_failed(int error) {
    if (error != EMFILE && error != ENFILE) return;
    if (is_fork_child()) ensure_request_service();
    out_of_fds();
}

}  // namespace fdtrack
