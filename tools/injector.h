// Calling a function inside another running process (`fdtrack attach` and
// `detach`): one of its threads is stopped with ptrace, made to call the
// function on its own stack, and resumed exactly where it was.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fdtrack::cli {

// Why a process cannot be injected into, or why an injection failed, in one
// line that names the cause and the fix. `touched` says whether the target
// was stopped at all before the failure (a refusal never touches it).
class InjectError : public std::runtime_error {
public:
    explicit InjectError(const std::string& why, bool touched = false) : std::runtime_error(why), touched(touched) {}
    bool touched;
};

// An ELF file mapped in the target, as /proc/PID/maps shows it.
struct MappedFile {
    std::string path;    // as the target sees it (its mount namespace, its root)
    uint64_t start = 0;  // where its first page (file offset 0) is mapped
    dev_t dev = 0;
    ino_t inode = 0;
};

// The files mapped in `pid` whose path's last component starts with `prefix`
// ("libc.so.6", "libfdtrack"), first one first.
std::vector<MappedFile> mapped_files(int pid, const std::string& prefix);

// Where the function `name` that `file` exports lies in the target: the
// load address plus the symbol's value in the file's .dynsym (no dlsym: the
// target is not asked), or nothing when the file does not export it.
std::optional<uint64_t> symbol_address(int pid, const MappedFile& file, const std::string& name);

// Whether the ELF file at `path` (as fdtrack sees it) exports the function `name`.
bool exports_function(const std::string& path, const std::string& name);

// Everything that can be checked without touching the target: it exists, is
// not a zombie, is a 64-bit x86_64 program linked against glibc, the caller
// may ptrace it (its user or root, with CAP_SYS_PTRACE; yama's ptrace_scope),
// nobody traces it already. Throws InjectError saying why not.
void check_injectable(int pid, const std::string& command);

// One thread of the target, seized and stopped at a safe point: a thread
// blocked in a system call that holds no lock the called functions need
// (poll, epoll_wait, accept, read, nanosleep... rather than one running
// user code, which could hold malloc's lock and deadlock dlopen). The
// process's other threads keep running. The destructor always puts the
// thread back: registers (general, FPU/SSE/AVX), signal mask and any
// interrupted system call as they were, signals that came meanwhile
// delivered, and the thread detached.
class StoppedThread {
public:
    // Waits at most `timeout` for each step (finding a safe thread, each call).
    StoppedThread(int pid, std::chrono::milliseconds timeout);
    ~StoppedThread();
    StoppedThread(const StoppedThread&) = delete;
    StoppedThread& operator=(const StoppedThread&) = delete;

    // Copies `bytes` onto the thread's stack, below its red zone; returns the address.
    uint64_t push(const void* bytes, size_t size);
    uint64_t push_string(const std::string& text) { return push(text.c_str(), text.size() + 1); }

    // Calls the function at `address` with up to 6 integer arguments on this
    // thread and returns its rax. Throws InjectError when the process exits,
    // the function crashes, or it does not return within the timeout (the
    // call is then abandoned and the thread put back where it was).
    uint64_t call(uint64_t address, const std::vector<uint64_t>& args);

    // Keeps the thread's errno as it is now, to be put back by resume():
    // `errno_location` is the target's __errno_location, errno being a
    // thread-local the calls overwrite.
    void keep_errno(uint64_t errno_location);

    // A NUL-terminated string of the target, at most `max` bytes.
    std::string read_string(uint64_t address, size_t max);

    // Puts the thread back now; returns how long it was stopped (from the
    // interrupt to the resume).
    std::chrono::microseconds resume();

    pid_t tid() const { return tid_; }

private:
    struct Saved;
    void seize_safe_thread(std::chrono::steady_clock::time_point deadline);
    int wait_stop(std::chrono::steady_clock::time_point deadline, const char* doing);

    int pid_;
    pid_t tid_ = 0;
    std::chrono::milliseconds timeout_;
    std::chrono::steady_clock::time_point stopped_at_;
    Saved* saved_ = nullptr;
    uint64_t stack_top_ = 0;  // where push() puts the next bytes, going down
    std::vector<int> deferred_signals_;
    uint64_t errno_address_ = 0;
    int saved_errno_ = 0;
    bool attached_ = false;
    bool in_signal_stop_ = false;  // stopped at a signal's delivery (after a call), not at the interrupt
    bool process_gone_ = false;
};

}  // namespace fdtrack::cli
