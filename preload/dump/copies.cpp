// Requests answered by copies of the process (copies.h).
#include "preload/dump/copies.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "preload/dump/control_socket.h"
#include "preload/dump/dump.h"
#include "preload/dump/dump_thread.h"
#include "preload/dump/snapshot.h"
#include "preload/dump/triggers.h"
#include "preload/track/config.h"
#include "preload/track/registry.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/control_channel.h"

extern "C" const ElfW(Ehdr) __ehdr_start;  // our own load address

namespace fdtrack {
namespace {

// Clients taken at one ring; more wait for the next.
constexpr int kMaxClients = 8;
// A copy that has not finished by then (a lock it inherited held, a client
// that does not read) is ended by its own alarm.
constexpr unsigned kCopyPatience_s = 30;
// An interrupted program that is not at a safe point is tried again this
// much later, at most this many times; then a copy is made anyway (at worst
// it fails, and only it).
constexpr long kRetry_ns = 1000000;
constexpr int kMaxRetries = 200;

int* g_listener = nullptr;  // the control socket's holder (dump_thread.cpp)
std::atomic<int> g_retry_timer{-1};  // a POSIX timer id, made at the first retry
std::atomic<int> g_retries{0};
char g_retry_tag;  // its address marks the retry timer's signals
constexpr int kMaxCopies = 16;
pid_t g_copies[kMaxCopies];  // start_copy

// Code where the program may be interrupted in the middle of changing state
// a copy needs: libc (its allocator above all), the loader, the allocator
// the program uses if it is not libc's, the unwinder and fdtrack itself.
// In libc, a system call is a safe point: the idle program's one.
struct CodeRange {
    uintptr_t start, end;
    bool system_calls_are_safe;
};
constexpr int kMaxRanges = 16;
CodeRange g_unsafe[kMaxRanges];
std::atomic<int> g_unsafe_count{0};

bool named(const char* path, const char* prefix) {
    const char* slash = path ? strrchr(path, '/') : nullptr;
    const char* name = slash ? slash + 1 : path;
    return name && !strncmp(name, prefix, strlen(prefix));
}

int note_unsafe_code(dl_phdr_info* info, size_t, void* data) {
    auto malloc_base = *static_cast<uintptr_t*>(data);
    bool libc = named(info->dlpi_name, "libc.so");
    bool unsafe = libc || named(info->dlpi_name, "ld-linux") || named(info->dlpi_name, "libunwind") ||
                  info->dlpi_addr == reinterpret_cast<uintptr_t>(&__ehdr_start) || info->dlpi_addr == malloc_base;
    if (!unsafe) return 0;
    int count = g_unsafe_count.load(std::memory_order_relaxed);
    for (int i = 0; i < info->dlpi_phnum && count < kMaxRanges; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_X)) continue;
        uintptr_t start = info->dlpi_addr + segment.p_vaddr;
        g_unsafe[count++] = {start, start + segment.p_memsz, libc};
    }
    g_unsafe_count.store(count, std::memory_order_release);
    return 0;
}

// The allocator's entry points: a system call made under one of them (brk
// or mmap as the heap grows, munmap or madvise as it shrinks) comes with the
// heap half changed, unlike the idle program's read or epoll_wait.
constexpr int kMaxEntries = 8;
CodeRange g_allocator[kMaxEntries];
int g_allocator_count = 0;
// The main thread's stack ends here (its top, from /proc/self/maps): a scan
// reads only between a stack pointer and it. A stack elsewhere (a
// coroutine's, sigaltstack) is not scanned: its end is unknown.
uintptr_t g_stack_top = 0;
// How far up their return addresses are looked for: above an interrupted
// stack pointer, and above a hook's frame that a handler may have reached.
constexpr size_t kStackScan = 2048;
constexpr size_t kHandlerScan = 16384;

void learn_stack_top() {
    std::string maps = read_file("/proc/self/maps");
    size_t at = maps.find("[stack]");
    if (at == std::string::npos) return;
    size_t line = maps.rfind('\n', at);
    line = line == std::string::npos ? 0 : line + 1;
    size_t dash = maps.find('-', line);
    if (dash != std::string::npos) g_stack_top = std::strtoull(maps.c_str() + dash + 1, nullptr, 16);
}

void learn_allocator_entries() {
    void* entries[] = {reinterpret_cast<void*>(&malloc),         reinterpret_cast<void*>(&free),
                       reinterpret_cast<void*>(&calloc),         reinterpret_cast<void*>(&realloc),
                       reinterpret_cast<void*>(&posix_memalign), reinterpret_cast<void*>(&aligned_alloc),
                       reinterpret_cast<void*>(&malloc_trim)};
    for (void* entry : entries) {
        Dl_info info{};
        void* found = nullptr;
        if (!dladdr1(entry, &info, &found, RTLD_DL_SYMENT) || !found || !info.dli_saddr) continue;
        auto* symbol = static_cast<const ElfW(Sym)*>(found);
        auto start = reinterpret_cast<uintptr_t>(info.dli_saddr);
        if (g_allocator_count < kMaxEntries) g_allocator[g_allocator_count++] = {start, start + symbol->st_size, false};
    }
}

// Return addresses inside the allocator in the `bytes` above stack pointer
// `sp` of the main thread's stack (false where that stack is not `sp`'s).
bool allocator_on_stack(uintptr_t sp, size_t bytes) {
    if (!g_stack_top || sp >= g_stack_top || g_stack_top - sp > (size_t{1} << 30)) return false;
    auto* words = reinterpret_cast<const uintptr_t*>(sp);
    size_t count = std::min(bytes, g_stack_top - sp) / sizeof(uintptr_t);
    for (size_t i = 0; i < count; ++i) {
        for (int j = 0; j < g_allocator_count; ++j) {
            if (words[i] > g_allocator[j].start && words[i] <= g_allocator[j].end) return true;
        }
    }
    return false;
}

void learn_unsafe_code() {
    static bool learned = false;  // with one thread: at set-up, or in a hook
    if (learned) return;
    learned = true;
    learn_allocator_entries();
    learn_stack_top();
    Dl_info malloc_object{};
    uintptr_t malloc_base = 0;
    if (dladdr(reinterpret_cast<void*>(&malloc), &malloc_object)) {
        malloc_base = reinterpret_cast<uintptr_t>(malloc_object.dli_fbase);
    }
    dl_iterate_phdr(note_unsafe_code, &malloc_base);
}

bool is_system_call(const unsigned char* at) { return at[0] == 0x0f && at[1] == 0x05; }

// Where the interrupted thread stood. At a system call the kernel leaves the
// instruction pointer after it, or on it when the call will be restarted.
bool at_a_safe_point(const void* context) {
    const greg_t* registers = static_cast<const ucontext_t*>(context)->uc_mcontext.gregs;
    auto pc = static_cast<uintptr_t>(registers[REG_RIP]);
    for (int i = 0, n = g_unsafe_count.load(std::memory_order_acquire); i < n; ++i) {
        const CodeRange& range = g_unsafe[i];
        if (pc < range.start || pc >= range.end) continue;
        if (!range.system_calls_are_safe) return false;
        auto* at = reinterpret_cast<const unsigned char*>(pc);
        bool system_call = (pc + 2 <= range.end && is_system_call(at)) || (pc >= range.start + 2 && is_system_call(at - 2));
        return system_call && !allocator_on_stack(static_cast<uintptr_t>(registers[REG_RSP]), kStackScan);
    }
    return true;
}

// Raw system calls: from a signal handler, with nothing of glibc's timer
// bookkeeping (a SIGEV_SIGNAL timer is the kernel's id).
void retry_soon() {
    int timer = g_retry_timer.load();
    if (timer < 0) {
        sigevent event{};
        event.sigev_notify = SIGEV_SIGNAL;
        event.sigev_signo = config().dump_signal;
        event.sigev_value.sival_ptr = &g_retry_tag;
        if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &timer) != 0) return;
        g_retry_timer.store(timer);
    }
    itimerspec once{};
    once.it_value.tv_nsec = kRetry_ns;
    syscall(SYS_timer_settime, timer, 0, &once, nullptr);
}

// One copy's work, one snapshot: once described, a copy at the program's
// fd limit closes its fds, which a second snapshot would miss.
struct Work {
    const char* trigger = nullptr;  // a report file to write (with `sequence`)
    int sequence = 0;
    int client = -1;  // a client to answer
    bool queue = false;  // accepting failed at the fd limit: the copy accepts, with room
    int listener = -1;
    int pid = 0;
    rlim_t limit = 0;
};

// A copy stopped (a lock the program held at a system call, a client that
// does not read) says so as it ends.
void copy_gave_up(int) {
    static const char line[] = "fdtrack: a copy of the process answering a request gave up after 30 s\n";
    ssize_t ignored = write(STDERR_FILENO, line, sizeof line - 1);
    (void)ignored;
    _exit(1);
}

// The copy: every signal blocked (the program's handlers must not run in
// it: a Ctrl-C reaches the whole process group) but its own alarm.
[[noreturn]] void be_the_copy(const Work& work) {
    copy_of_the_process_started();  // the HeldFdUse its maker holds, above all
    Reentry own;
    sigset_t blocked;
    sigfillset(&blocked);
    sigdelset(&blocked, SIGALRM);
    sigprocmask(SIG_SETMASK, &blocked, nullptr);
    struct sigaction alarm_action {};
    alarm_action.sa_handler = copy_gave_up;
    sigaction(SIGALRM, &alarm_action, nullptr);
    alarm(kCopyPatience_s);
    prctl(PR_SET_NAME, "fdtrack copy");
    try {
        make_room_in_this_copy(work.listener);
        report_for_program(work.pid, work.limit);
        if (work.trigger) write_dump_in_this_copy(work.trigger, work.pid, work.sequence, work.limit);
        if (work.client >= 0) {
            FdInfo own_fd;  // the client's socket is fdtrack's, not the program's: not reported
            own_fd.origin = Origin::own;
            registry().put(work.client, own_fd);
            answer_in_this_copy(work.client, work.listener);
        }
        if (work.queue && work.listener >= 0) answer_queue_in_this_copy(work.listener, work.pid, work.limit);
    } catch (...) {
        // Out of memory in the copy: the program never knows.
    }
    _exit(0);
}

pid_t clone_process() { return static_cast<pid_t>(syscall(SYS_clone, 0L, nullptr, nullptr, nullptr, 0L)); }

// The copies still to be reaped: the program's children, which its wait()
// never returns (no exit signal), reaped by fdtrack at the next request.
// Never orphaned: a copy whose parent ended would be adopted by init or the
// nearest subreaper with SIGCHLD as its exit signal, an unknown child to a
// supervisor that waits for any (or a zombie under a pid 1 that reaps none).
void reap_copies() {
    for (pid_t& copy : g_copies) {
        if (copy > 0 && waitpid(copy, nullptr, __WCLONE | WNOHANG) != 0) copy = 0;
    }
}

bool room_for_a_copy() {
    reap_copies();
    for (pid_t copy : g_copies) {
        if (!copy) return true;
    }
    return false;
}

// Makes a copy for `work` (none when kMaxCopies still run: a client is then
// closed unanswered, and says so).
void start_copy(const Work& work) {
    if (!room_for_a_copy()) return;
    pid_t copy = clone_process();
    if (copy == 0) be_the_copy(work);
    if (copy < 0) {
        static std::atomic<bool> said{false};
        if (!said.exchange(true)) {
            static const char line[] = "fdtrack: cannot make a copy of the process to answer a request\n";
            ssize_t ignored = write(STDERR_FILENO, line, sizeof line - 1);
            (void)ignored;
        }
        return;
    }
    for (pid_t& slot : g_copies) {
        if (!slot) {
            slot = copy;
            return;
        }
    }
}

}  // namespace

bool maybe_inside_the_allocator() {
    learn_unsafe_code();
    stack_t alternate{};
    if (sigaltstack(nullptr, &alternate) == 0 && (alternate.ss_flags & SS_ONSTACK)) return true;  // in a handler
    uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (!g_stack_top || sp >= g_stack_top) return true;  // a stack it cannot scan
    // Above this frame: the hooks', the program's handler's, the kernel's
    // signal frame (up to ~3 KiB with AVX-512), then what it interrupted.
    return allocator_on_stack(sp, kHandlerScan);
}

// Takes the waiting connections (other users' are closed at once, unread,
// before any copy is made for them) and the pending requests, and starts a
// copy for them. Raw system calls: the hooks must not see fdtrack's fds.
void answer_in_a_copy_now() {
    Reentry own;  // syscall() is hooked too
    int clients[kMaxClients];
    int client_count = 0;
    Work work;
    HeldFdUse use;  // the copies get the listener by this number
    work.listener = g_listener ? HeldFdUse::fd(*g_listener) : -1;
    while (work.listener >= 0 && client_count < kMaxClients) {
        int client = static_cast<int>(syscall(SYS_accept4, work.listener, nullptr, nullptr, SOCK_CLOEXEC));
        if (client < 0 && errno == EINTR) continue;
        if (client < 0) {
            work.queue = out_of_resources(errno);
            break;
        }
        if (trusted(client)) clients[client_count++] = client;
        else syscall(SYS_close, client);
    }
    if (client_count == kMaxClients) retry_soon();  // more may wait: rings merge
    unsigned requests = take_pending_requests();
    // A threshold dump that comes with an emfile one says nothing more; one
    // whose count has fallen back by now (postgres probing how many fds it
    // may open) would show a count far below the threshold.
    if ((requests & kDumpThreshold) && ((requests & kDumpEmfile) || !threshold_still_reached())) {
        requests &= ~kDumpThreshold;
    }
    if (!requests && !client_count && !work.queue) return;
    work.pid = static_cast<int>(getpid());
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    work.limit = limit.rlim_cur;
    for (auto [request, trigger] : {std::pair{kDumpSignal, "signal"}, {kDumpEmfile, "emfile"}, {kDumpThreshold, "threshold"}}) {
        if (!(requests & request)) continue;
        if (!room_for_a_copy()) {  // too many still running: asked again in a moment
            add_pending_requests(request);
            retry_soon();
            continue;
        }
        Work dump = work;
        dump.queue = false;
        dump.trigger = trigger;
        dump.sequence = take_dump_sequence();
        start_copy(dump);
    }
    for (int i = 0; i < client_count; ++i) {
        Work answer = work;
        answer.queue = false;
        answer.client = clients[i];
        start_copy(answer);
        syscall(SYS_close, clients[i]);
    }
    if (work.queue) start_copy(work);
}

void answer_by_copies(int* listener) {
    Reentry own;
    g_listener = listener;
    learn_unsafe_code();
    share_dump_state_with_copies();
}

void stop_answering_by_copies() {
    int timer = g_retry_timer.load();
    if (timer < 0) return;
    itimerspec never{};
    Reentry own;
    syscall(SYS_timer_settime, timer, 0, &never, nullptr);
}

bool asks_for_a_report(const siginfo_t* info) {
    if (info->si_code == SI_QUEUE && info->si_value.sival_int == kControlRing) return false;
    return !(info->si_code == SI_TIMER && info->si_value.sival_ptr == &g_retry_tag);
}

void answer_signal_in_a_copy(const siginfo_t* info, const void* context) {
    int saved = errno;
    Reentry own;
    if (asks_for_a_report(info)) add_pending_requests(kDumpSignal);
    // A fork child that has not settled still holds its parent's numbers. A
    // process with threads glibc made behind pthread_create's back (timers
    // with SIGEV_THREAD, AIO) is not copied: a lock one of them holds would
    // stop the copy. Its request waits for the dump thread, or the exit.
    if (!is_unsettled_fork_child() && __libc_single_threaded) {
        if (at_a_safe_point(context) || g_retries.fetch_add(1) >= kMaxRetries) {
            g_retries.store(0);
            answer_in_a_copy_now();
        } else {
            retry_soon();
        }
    }
    errno = saved;
}

void forget_copies_after_fork() {
    g_retry_timer.store(-1);  // timers are not inherited, nor children
    g_retries.store(0);
    for (pid_t& copy : g_copies) copy = 0;
}

}  // namespace fdtrack
