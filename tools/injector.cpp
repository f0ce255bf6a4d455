// Calling a function inside another running process with ptrace (injector.h).
#include "tools/injector.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace fdtrack::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::string proc_path(int pid, const std::string& what) { return fmt::format("/proc/{}/{}", pid, what); }

std::string read_text(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// A "Name:\tvalue" line of /proc/PID/status, or "".
std::string status_field(int pid, const std::string& name) {
    std::ifstream status(proc_path(pid, "status"));
    for (std::string line; std::getline(status, line);) {
        if (line.rfind(name + ":", 0) == 0) {
            size_t start = line.find_first_not_of(" \t", name.size() + 1);
            return start == std::string::npos ? "" : line.substr(start);
        }
    }
    return "";
}

std::vector<unsigned long> numbers_of(const std::string& text, int base = 10) {
    std::vector<unsigned long> numbers;
    std::istringstream fields(text);
    for (std::string word; fields >> word;) numbers.push_back(std::stoul(word, nullptr, base));
    return numbers;
}

std::string user_name(uid_t uid) {
    passwd storage{};
    passwd* entry = nullptr;
    char buffer[4096];
    if (getpwuid_r(uid, &storage, buffer, sizeof buffer, &entry) != 0) entry = nullptr;
    return entry ? fmt::format("{} (uid {})", entry->pw_name, uid) : fmt::format("uid {}", uid);
}

constexpr int kCapSysPtrace = 19;

// What is left when the checks passed and the kernel still says no.
constexpr const char* kOtherRefusals =
    "it is not dumpable (setuid, prctl(PR_SET_DUMPABLE, 0)), or a security module (yama, SELinux, AppArmor) or a "
    "container without CAP_SYS_PTRACE forbids it; run fdtrack as root with CAP_SYS_PTRACE";

bool has_capability(const std::string& hex_set, int cap) {
    return !hex_set.empty() && (std::stoull(hex_set, nullptr, 16) >> cap & 1);
}

// The state letter of a process or thread from its stat line ('S', 'R', 'Z'...).
char state_of(const std::string& stat_path) {
    std::string line = read_text(stat_path);
    size_t end = line.rfind(')');  // the command name may hold anything, ')' too
    return end != std::string::npos && end + 2 < line.size() ? line[end + 2] : '?';
}

// ---- ELF files of the target -------------------------------------------------

class ElfFile {
public:
    explicit ElfFile(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)) {}
    explicit ElfFile(int fd) : fd_(fd) {}
    ~ElfFile() {
        if (fd_ >= 0) close(fd_);
    }
    ElfFile(const ElfFile&) = delete;
    ElfFile& operator=(const ElfFile&) = delete;

    bool read(uint64_t offset, void* out, size_t size) const {
        return fd_ >= 0 && pread(fd_, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
    }
    template <typename T>
    std::vector<T> table(uint64_t offset, size_t count) const {
        std::vector<T> rows(std::min<size_t>(count, 1 << 22));
        if (!read(offset, rows.data(), rows.size() * sizeof(T))) rows.clear();
        return rows;
    }
    bool header(Elf64_Ehdr& ehdr) const {
        return read(0, &ehdr, sizeof ehdr) && memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0 &&
               ehdr.e_ident[EI_CLASS] == ELFCLASS64;
    }

private:
    int fd_;
};

// The file as the target sees it: through its root, in its mount namespace.
std::string target_view(int pid, const std::string& path) { return proc_path(pid, "root") + path; }

}  // namespace

std::vector<MappedFile> mapped_files(int pid, const std::string& prefix) {
    std::vector<MappedFile> found;
    std::ifstream maps(proc_path(pid, "maps"));
    for (std::string line; std::getline(maps, line);) {
        // start-end perms offset major:minor inode path
        std::istringstream fields(line);
        std::string range, perms, offset, device, path;
        unsigned long inode = 0;
        if (!(fields >> range >> perms >> offset >> device >> inode) || inode == 0) continue;
        std::getline(fields >> std::ws, path);
        std::string name = path.substr(path.rfind('/') + 1);
        if (path.empty() || path[0] != '/' || name.rfind(prefix, 0) != 0 || std::stoull(offset, nullptr, 16) != 0) {
            continue;
        }
        bool seen = std::any_of(found.begin(), found.end(), [&](const MappedFile& f) { return f.path == path; });
        if (seen) continue;
        size_t colon = device.find(':');
        MappedFile file;
        file.path = path;
        file.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
        file.dev = makedev(std::stoul(device.substr(0, colon), nullptr, 16), std::stoul(device.substr(colon + 1), nullptr, 16));
        file.inode = inode;
        found.push_back(file);
    }
    return found;
}

namespace {

// The value of the function `name` in the .dynsym of `elf` and the p_vaddr
// of its first page, which the load address stands for.
struct Symbol {
    uint64_t value = 0;
    uint64_t first_vaddr = 0;
};

std::optional<Symbol> exported_function(const ElfFile& elf, const std::string& name) {
    Elf64_Ehdr ehdr{};
    if (!elf.header(ehdr) || ehdr.e_shentsize != sizeof(Elf64_Shdr) || ehdr.e_phentsize != sizeof(Elf64_Phdr)) {
        return std::nullopt;
    }
    Symbol symbol;
    for (const Elf64_Phdr& ph : elf.table<Elf64_Phdr>(ehdr.e_phoff, ehdr.e_phnum)) {
        if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
            symbol.first_vaddr = ph.p_vaddr & ~static_cast<uint64_t>(0xfff);
            break;
        }
    }
    std::vector<Elf64_Shdr> sections = elf.table<Elf64_Shdr>(ehdr.e_shoff, ehdr.e_shnum);
    const Elf64_Shdr* dynsym = nullptr;
    const Elf64_Shdr* versym = nullptr;
    for (const Elf64_Shdr& section : sections) {
        if (section.sh_type == SHT_DYNSYM) dynsym = &section;
        if (section.sh_type == SHT_GNU_versym) versym = &section;
    }
    if (!dynsym || dynsym->sh_link >= sections.size()) return std::nullopt;
    const Elf64_Shdr& strtab = sections[dynsym->sh_link];
    size_t count = dynsym->sh_size / sizeof(Elf64_Sym);
    std::vector<Elf64_Sym> symbols = elf.table<Elf64_Sym>(dynsym->sh_offset, count);
    std::vector<char> strings = elf.table<char>(strtab.sh_offset, strtab.sh_size);
    std::vector<Elf64_Half> versions;
    if (versym) versions = elf.table<Elf64_Half>(versym->sh_offset, count);
    bool found = false;
    for (size_t i = 0; i < symbols.size(); ++i) {
        const Elf64_Sym& sym = symbols[i];
        if (sym.st_name >= strings.size() || sym.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym.st_info) != STT_FUNC) {
            continue;
        }
        if (strnlen(&strings[sym.st_name], strings.size() - sym.st_name) != name.size() ||
            name.compare(0, name.size(), &strings[sym.st_name], name.size()) != 0) {
            continue;
        }
        // glibc keeps old versions of some functions (dlopen@GLIBC_2.2.5 beside
        // dlopen@@GLIBC_2.34): the default one, as a new program would bind.
        bool hidden = i < versions.size() && (versions[i] & 0x8000);
        if (!found || !hidden) symbol.value = sym.st_value;
        found = true;
        if (!hidden) break;
    }
    if (!found) return std::nullopt;
    return symbol;
}

}  // namespace

namespace {

// The file mapped at `mapped.start`, as the target maps it. Through
// /proc/PID/map_files when fdtrack may (root): no path is followed, and a
// library deleted or replaced since it was mapped (a package upgrade) is
// still the one read. Else by its path through the target's root. Either
// way only a regular file with the mapping's device and inode: a path that
// now leads to a FIFO, a device or another file (swapped by its owner while
// root reads it) gives nothing. -1 then.
int open_mapped(int pid, const MappedFile& mapped) {
    std::string range_start = fmt::format("{:x}-", mapped.start);
    int fd = -1;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(proc_path(pid, "map_files"), error)) {
        if (entry.path().filename().string().rfind(range_start, 0) == 0) {
            fd = open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            break;
        }
    }
    if (fd < 0) fd = open(target_view(pid, mapped.path).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat file{};
    if (fd >= 0 && (fstat(fd, &file) != 0 || !S_ISREG(file.st_mode) || file.st_dev != mapped.dev ||
                    file.st_ino != mapped.inode)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

}  // namespace

std::optional<uint64_t> symbol_address(int pid, const MappedFile& mapped, const std::string& name) {
    std::optional<Symbol> symbol = exported_function(ElfFile(open_mapped(pid, mapped)), name);
    if (!symbol) return std::nullopt;
    return mapped.start - symbol->first_vaddr + symbol->value;
}

bool exports_function(const std::string& path, const std::string& name) {
    return exported_function(ElfFile(path), name).has_value();
}

void check_injectable(int pid, const std::string& command) {
    std::string process = fmt::format("process {}", pid);
    if (pid == getpid()) throw InjectError(fmt::format("{} is {} itself", process, command));
    if (kill(pid, 0) != 0 && errno == ESRCH) throw InjectError(fmt::format("no process with PID {}", pid));
    if (state_of(proc_path(pid, "stat")) == 'Z') {
        throw InjectError(fmt::format("{} has exited; it is a zombie until its parent reaps it", process));
    }
    std::vector<unsigned long> uids = numbers_of(status_field(pid, "Uid"));
    if (uids.size() < 3) throw InjectError(fmt::format("no process with PID {}", pid));
    uid_t me = geteuid();
    bool can_ptrace_anyone = has_capability(status_field(getpid(), "CapEff"), kCapSysPtrace);
    // The kernel's rule (ptrace_may_access): the caller's uid must be the
    // target's real, effective and saved uid, unless it has CAP_SYS_PTRACE.
    bool same_user = uids[0] == me && uids[1] == me && uids[2] == me;
    if (!same_user && !can_ptrace_anyone) {
        if (me == 0) {
            throw InjectError(fmt::format(
                "{} belongs to {} and fdtrack runs as root without CAP_SYS_PTRACE (a container started without "
                "it?): give it that capability (docker run --cap-add=SYS_PTRACE) or run fdtrack as that user",
                process, user_name(static_cast<uid_t>(uids[1]))));
        }
        throw InjectError(fmt::format("{} belongs to {}; only that user or root may attach to it", process,
                                      user_name(static_cast<uid_t>(uids[1]))));
    }
    // A process with capabilities its caller lacks (root's daemons seen by a
    // root without CAP_SYS_PTRACE) is out of reach too.
    std::string target_caps = status_field(pid, "CapPrm"), own_caps = status_field(getpid(), "CapPrm");
    if (!can_ptrace_anyone && !target_caps.empty() && !own_caps.empty() &&
        (std::stoull(target_caps, nullptr, 16) & ~std::stoull(own_caps, nullptr, 16)) != 0) {
        throw InjectError(fmt::format(
            "{} holds capabilities fdtrack lacks, and fdtrack has no CAP_SYS_PTRACE (not root, or root in a "
            "container started without it): run fdtrack as root with that capability (docker run "
            "--cap-add=SYS_PTRACE)",
            process));
    }
    if (unsigned long tracer = std::stoul("0" + status_field(pid, "TracerPid")); tracer != 0) {
        std::string name = read_text(proc_path(static_cast<int>(tracer), "comm"));
        if (!name.empty() && name.back() == '\n') name.pop_back();
        throw InjectError(fmt::format("{} is already traced by process {} ({}), a debugger or strace: a process "
                                      "has one tracer at a time; detach that one first",
                                      process, tracer, name.empty() ? "gone" : name));
    }
    std::string scope = read_text("/proc/sys/kernel/yama/ptrace_scope");
    int yama = scope.empty() ? 0 : std::stoi(scope);
    if (yama == 3) {
        throw InjectError("kernel.yama.ptrace_scope is 3: ptrace is disabled on this machine until it reboots; "
                          "start the program under `fdtrack run` instead");
    }
    if (yama >= 1 && !can_ptrace_anyone) {
        throw InjectError(fmt::format(
            "kernel.yama.ptrace_scope is {}: only {} may attach to another process; run fdtrack as root (or give it "
            "CAP_SYS_PTRACE), or allow it with `sysctl kernel.yama.ptrace_scope=0`",
            yama, yama == 1 ? "its parent or a process with CAP_SYS_PTRACE" : "a process with CAP_SYS_PTRACE"));
    }
    // What kind of program: its executable's ELF header.
    ElfFile exe(proc_path(pid, "exe"));
    Elf64_Ehdr ehdr{};
    unsigned char ident[EI_NIDENT] = {};
    if (!exe.read(0, ident, sizeof ident)) {
        if (access(proc_path(pid, "exe").c_str(), F_OK) != 0 && (errno == EACCES || errno == EPERM)) {
            throw InjectError(fmt::format("the kernel does not let fdtrack look into {} ({}): {}", process,
                                          strerror(errno), kOtherRefusals));
        }
        throw InjectError(fmt::format("{} has no executable to read (a kernel thread?)", process));
    }
    if (ident[EI_CLASS] != ELFCLASS64 || !exe.header(ehdr) || ehdr.e_machine != EM_X86_64) {
        throw InjectError(fmt::format("{} is not a 64-bit x86_64 program ({}): fdtrack attaches only to those; run "
                                      "it under a matching fdtrack build with LD_PRELOAD",
                                      process, ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "another architecture"));
    }
    if (mapped_files(pid, "libc.so.6").empty()) {
        throw InjectError(fmt::format(
            "{} is statically linked (or not linked against glibc): it has no libc.so.6 and so no dlopen to load "
            "fdtrack with, and no shared libc calls to redirect; fdtrack can only track dynamically linked programs",
            process));
    }
    // A filter of its own (systemd's SystemCallFilter=, a sandbox) may kill
    // the process for a system call the library makes (a thread, a socket,
    // mprotect of its tables) that the program itself never makes.
    if (status_field(pid, "Seccomp") == "2") {
        throw InjectError(fmt::format("{} runs under a seccomp filter, which may kill it for a system call the "
                                      "library makes and it does not (a thread, a socket); start it under the "
                                      "preload instead (`fdtrack run`, or LD_PRELOAD in its unit)", process));
    }
    // force_sig() resets an ignored SIGSEGV to its default on delivery, and
    // the calls below end in one.
    if (std::stoull("0" + status_field(pid, "SigIgn"), nullptr, 16) >> (SIGSEGV - 1) & 1) {
        throw InjectError(fmt::format("{} ignores SIGSEGV, which the injected call needs to end cleanly", process));
    }
}

// ---- the stopped thread ----------------------------------------------------

namespace {

// System calls that a thread waits in for outside events, holding no lock
// that dlopen or malloc takes: the safe places to borrow it. The numbers are
// x86_64's (this file is compiled for x86_64 only, see the #if below).
const std::set<long> kWaitingCalls = {
    0 /*read*/,         7 /*poll*/,         19 /*readv*/,        23 /*select*/,       34 /*pause*/,
    35 /*nanosleep*/,   43 /*accept*/,      45 /*recvfrom*/,     47 /*recvmsg*/,      61 /*wait4*/,
    128 /*rt_sigtimedwait*/, 130 /*rt_sigsuspend*/, 230 /*clock_nanosleep*/, 232 /*epoll_wait*/,
    247 /*waitid*/,     270 /*pselect6*/,   271 /*ppoll*/,       281 /*epoll_pwait*/, 288 /*accept4*/,
    299 /*recvmmsg*/,   441 /*epoll_pwait2*/,
};
// Waiting for a lock or a condition (a Python thread for the GIL, a worker
// for its queue): second choice, since the waiter may hold another lock.
const std::set<long> kFutexCalls = {202 /*futex*/, 449 /*futex_waitv*/};

// Whether the stack at `rsp` has room for dlopen, libunwind's set-up and
// Python's: a thread waiting on a small stack (a signal handler's
// sigaltstack, a tiny pthread stack) would overflow into whatever lies
// below. The main thread's stack grows on demand.
bool has_stack_room(int pid, uint64_t rsp) {
    constexpr uint64_t kRoom = 256 * 1024;
    std::ifstream maps(proc_path(pid, "maps"));
    for (std::string line; std::getline(maps, line);) {
        uint64_t start = 0, end = 0;
        if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64, &start, &end) != 2 || rsp < start || rsp >= end) continue;
        return line.find("[stack]") != std::string::npos || rsp - start >= kRoom;
    }
    return false;
}

// The threads of `pid` asleep in a waiting call, the best first; fdtrack's
// own thread never (detach stops and joins it).
std::vector<pid_t> waiting_threads(int pid) {
    std::vector<pid_t> best, second;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(proc_path(pid, "task"), error)) {
        std::string task = entry.path().filename().string();
        std::string base = proc_path(pid, "task/" + task + "/");
        std::string comm = read_text(base + "comm");
        if (comm == "fdtrack\n" || state_of(base + "stat") != 'S') continue;
        std::string syscall = read_text(base + "syscall");
        if (syscall.empty() || !isdigit(static_cast<unsigned char>(syscall[0]))) continue;  // "running", "-1 ..."
        long number = std::stol(syscall);
        pid_t tid = std::stoi(task);
        // The main thread first: its stack grows as needed, a made thread's may be small.
        if (kWaitingCalls.count(number)) best.insert(tid == pid ? best.begin() : best.end(), tid);
        if (kFutexCalls.count(number)) second.push_back(tid);
    }
    best.insert(best.end(), second.begin(), second.end());
    return best;
}

// SIGCHLD blocked while a thread is traced, so that its stops can be waited
// for with a deadline (sigtimedwait).
sigset_t sigchld_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    return set;
}

std::string ms(std::chrono::milliseconds duration) { return fmt::format("{:g} s", duration.count() / 1000.0); }

}  // namespace

#if defined(__x86_64__)

struct StoppedThread::Saved {
    user_regs_struct regs{};
    std::array<unsigned char, 16384> xstate{};  // x87/SSE/AVX...: the call uses them freely
    size_t xstate_size = 0;
    int xstate_type = NT_X86_XSTATE;
    uint64_t sigmask = 0;  // the kernel's sigset: 64 bits
    bool have_sigmask = false;
    sigset_t own_mask{};
};

StoppedThread::StoppedThread(int pid, std::chrono::milliseconds timeout)
    : pid_(pid), timeout_(timeout), saved_(new Saved) {
    // SIGCHLD is waited for; the rest would end (or stop) fdtrack while the
    // target's thread runs a call that returns to address 0, or sits stopped:
    // a Ctrl-C, a closed terminal, `timeout` would crash or hang the target.
    // Held until the thread is back (the destructor), then acted on.
    sigset_t held = sigchld_set();
    for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU}) sigaddset(&held, signal);
    pthread_sigmask(SIG_BLOCK, &held, &saved_->own_mask);
    try {
        seize_safe_thread(Clock::now() + timeout_);
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &saved_->own_mask, nullptr);
        delete saved_;
        throw;
    }
}

StoppedThread::~StoppedThread() {
    try {
        resume();
    } catch (...) {
    }
    pthread_sigmask(SIG_SETMASK, &saved_->own_mask, nullptr);
    delete saved_;
}

int StoppedThread::wait_stop(Clock::time_point deadline, const char* doing) {
    sigset_t chld = sigchld_set();
    for (;;) {
        int status = 0;
        pid_t got = waitpid(tid_, &status, __WALL | WNOHANG);
        if (got == tid_ && (WIFEXITED(status) || WIFSIGNALED(status))) got = -1, errno = ECHILD;
        if (got == tid_) return status;
        if (got < 0 && errno != EINTR) {
            attached_ = false;
            process_gone_ = true;
            throw InjectError(fmt::format("process {} (thread {}) exited while {}", pid_, tid_, doing), true);
        }
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) return -1;
        // Short naps too: a notification is one signal for however many stops.
        auto nap = std::min<Clock::duration>(left, std::chrono::milliseconds(20));
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(nap).count();
        timespec wait{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        sigtimedwait(&chld, nullptr, &wait);
    }
}

void StoppedThread::seize_safe_thread(Clock::time_point deadline) {
    std::set<pid_t> tried_busy;
    do {
        for (pid_t tid : waiting_threads(pid_)) {
            if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
                if (errno == ESRCH) continue;  // the thread ended meanwhile
                if (errno == EPERM) {
                    throw InjectError(fmt::format("the kernel does not let fdtrack trace process {} (EPERM): {}",
                                                  pid_, kOtherRefusals));
                }
                throw InjectError(fmt::format("cannot trace process {}: {}", pid_, strerror(errno)));
            }
            tid_ = tid;
            attached_ = true;
            in_signal_stop_ = false;
            ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr);
            for (;;) {
                int status = wait_stop(deadline + std::chrono::seconds(1), "fdtrack stopped it");
                if (status < 0) {
                    // Stuck in an uninterruptible wait (a dead NFS server...): when
                    // fdtrack exits the kernel detaches it, the interrupt withdrawn.
                    throw InjectError(fmt::format("thread {} of process {} did not stop within {} (in an "
                                                  "uninterruptible wait?); nothing was changed, try again",
                                                  tid_, pid_, ms(timeout_)), true);
                }
                if (status >> 16 == PTRACE_EVENT_STOP) break;
                // A signal that came first: delivered now, with its siginfo,
                // as without fdtrack. The thread may then be in its handler
                // when it stops, running its own code: another is tried.
                ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(WSTOPSIG(status))));
            }
            stopped_at_ = Clock::now();
            ptrace(PTRACE_GETREGS, tid_, nullptr, &saved_->regs);
            // Still waiting where /proc said? It may have woken meanwhile, in
            // the middle of its own work: then it goes on, and another is tried.
            long call = static_cast<long>(saved_->regs.orig_rax);
            if ((kWaitingCalls.count(call) || kFutexCalls.count(call)) && has_stack_room(pid_, saved_->regs.rsp)) {
                iovec xstate{saved_->xstate.data(), saved_->xstate.size()};
                if (ptrace(PTRACE_GETREGSET, tid_, NT_X86_XSTATE, &xstate) != 0) {
                    saved_->xstate_type = NT_PRFPREG;
                    xstate = {saved_->xstate.data(), sizeof(user_fpregs_struct)};
                    ptrace(PTRACE_GETREGSET, tid_, NT_PRFPREG, &xstate);
                }
                saved_->xstate_size = xstate.iov_len;
                saved_->have_sigmask = ptrace(PTRACE_GETSIGMASK, tid_, sizeof saved_->sigmask, &saved_->sigmask) == 0;
                // Below the red zone, 16-byte aligned as the ABI wants at a call.
                stack_top_ = (saved_->regs.rsp - 128 - 256) & ~static_cast<uint64_t>(15);
                return;
            }
            tried_busy.insert(tid_);
            resume();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (Clock::now() < deadline);
    throw InjectError(fmt::format(
        "no thread of process {} was waiting in a system call (poll, epoll_wait, accept, read, a sleep, a lock...) "
        "within {}: they all run their own code, where stopping one could leave malloc's or the loader's lock "
        "held and deadlock the target; nothing was changed, try again when it is less busy",
        pid_, ms(timeout_)), !tried_busy.empty());
}

uint64_t StoppedThread::push(const void* bytes, size_t size) {
    stack_top_ = (stack_top_ - size) & ~static_cast<uint64_t>(15);
    iovec local{const_cast<void*>(bytes), size};
    iovec remote{reinterpret_cast<void*>(stack_top_), size};
    if (process_vm_writev(pid_, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(size)) {
        throw InjectError(fmt::format("cannot write to the stack of process {}: {}", pid_, strerror(errno)), true);
    }
    return stack_top_;
}

std::string StoppedThread::read_string(uint64_t address, size_t max) {
    std::string text(max, '\0');
    // Page by page: the string may end just before an unmapped page.
    size_t got = 0;
    while (got < max) {
        size_t page_left = 4096 - (address + got) % 4096;
        size_t want = std::min(max - got, page_left);
        iovec local{text.data() + got, want};
        iovec remote{reinterpret_cast<void*>(address + got), want};
        if (process_vm_readv(pid_, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(want)) break;
        if (memchr(text.data() + got, '\0', want)) break;
        got += want;
    }
    return std::string(text.c_str());
}

uint64_t StoppedThread::call(uint64_t address, const std::vector<uint64_t>& args) {
    const char* doing = "running fdtrack's call";
    // The call returns to address 0: the fault stops it there, in a
    // SIGSEGV that is caught here and never delivered.
    uint64_t return_address = 0;
    user_regs_struct regs = saved_->regs;
    regs.rsp = stack_top_ - 8;
    iovec local{&return_address, sizeof return_address};
    iovec remote{reinterpret_cast<void*>(regs.rsp), sizeof return_address};
    if (process_vm_writev(pid_, &local, 1, &remote, 1, 0) != sizeof return_address) {
        throw InjectError(fmt::format("cannot write to the stack of process {}: {}", pid_, strerror(errno)), true);
    }
    unsigned long long* registers[] = {&regs.rdi, &regs.rsi, &regs.rdx, &regs.rcx, &regs.r8, &regs.r9};
    for (size_t i = 0; i < args.size() && i < std::size(registers); ++i) *registers[i] = args[i];
    regs.rip = address;
    regs.rax = 0;  // no vector registers used by a variadic callee
    // Not in a system call, for the kernel: it must not "restart" the
    // interrupted one on resuming into the function (rip - 2).
    regs.orig_rax = static_cast<unsigned long long>(-1);
    if (saved_->have_sigmask) {
        // Every signal waits, pending with its siginfo (a timer's sival_ptr,
        // a child's pid), until the thread's own mask is back (resume), and
        // no handler of the program runs on fdtrack's call. All but SIGSEGV,
        // which ends the call: blocked it would be forced through its
        // default action, its handler reset.
        uint64_t mask = ~(1ull << (SIGSEGV - 1));
        ptrace(PTRACE_SETSIGMASK, tid_, sizeof mask, &mask);
    }
    if (ptrace(PTRACE_SETREGS, tid_, nullptr, &regs) != 0 || ptrace(PTRACE_CONT, tid_, nullptr, nullptr) != 0) {
        throw InjectError(fmt::format("cannot run a call in process {}: {}", pid_, strerror(errno)), true);
    }
    in_signal_stop_ = false;
    Clock::time_point deadline = Clock::now() + timeout_;
    bool abandoning = false;
    auto abandoned = [&] {
        return InjectError(fmt::format("the call in process {} did not return within {} (thread {} waits for "
                                       "something it cannot get); it was abandoned and the thread put back",
                                       pid_, ms(timeout_), tid_), true);
    };
    bool said_waiting = false;
    for (;;) {
        int status = wait_stop(deadline, doing);
        if (status < 0 && abandoning) {
            // Not even stopping (an uninterruptible wait). Leaving now would
            // let it return to address 0 and crash the target: wait.
            if (!said_waiting) {
                fmt::print(stderr, "fdtrack: thread {} of process {} does not stop; waiting for it (ending fdtrack "
                                   "now would crash the process)\n", tid_, pid_);
                said_waiting = true;
            }
            deadline = Clock::now() + std::chrono::seconds(2);
            continue;
        }
        if (status < 0) {
            // Stopped where it waits, then put back where it was (resume()).
            ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr);
            abandoning = true;
            deadline = Clock::now() + std::chrono::seconds(2);
            continue;
        }
        if (status >> 16 == PTRACE_EVENT_STOP) {
            if (abandoning) throw abandoned();
            ptrace(PTRACE_CONT, tid_, nullptr, nullptr);  // a group-stop (SIGSTOP...) or a stray interrupt
            continue;
        }
        int signal = WSTOPSIG(status);
        if (signal == SIGSEGV) {
            // Ours when it returned to address 0 (even as it was being abandoned).
            user_regs_struct after{};
            ptrace(PTRACE_GETREGS, tid_, nullptr, &after);
            in_signal_stop_ = true;
            if (after.rip == 0) return after.rax;
            throw InjectError(fmt::format("the call in process {} crashed (SIGSEGV at {:#x}); the thread was put "
                                          "back where it was, but what the call left half done is unknown",
                                          pid_, after.rip), true);
        }
        if (signal == SIGSTOP || signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU) {
            deferred_signals_.push_back(signal);  // a stop for the process: once the thread is back
            ptrace(PTRACE_CONT, tid_, nullptr, nullptr);
            continue;
        }
        // Everything else is blocked: this one the call raised itself (SIGBUS, SIGFPE...).
        user_regs_struct after{};
        ptrace(PTRACE_GETREGS, tid_, nullptr, &after);
        in_signal_stop_ = true;
        throw InjectError(fmt::format("the call in process {} raised {} at {:#x}; the thread was put back where it "
                                      "was, but what the call left half done is unknown",
                                      pid_, strsignal(signal), after.rip), true);
    }
}

void StoppedThread::keep_errno(uint64_t errno_location) {
    errno_address_ = call(errno_location, {});
    iovec local{&saved_errno_, sizeof saved_errno_};
    iovec remote{reinterpret_cast<void*>(errno_address_), sizeof saved_errno_};
    if (errno_address_ == 0 || process_vm_readv(pid_, &local, 1, &remote, 1, 0) != sizeof saved_errno_) {
        errno_address_ = 0;
    }
}

std::chrono::microseconds StoppedThread::resume() {
    if (!attached_ || process_gone_) return {};
    if (errno_address_) {
        iovec local{&saved_errno_, sizeof saved_errno_};
        iovec remote{reinterpret_cast<void*>(errno_address_), sizeof saved_errno_};
        process_vm_writev(pid_, &local, 1, &remote, 1, 0);
    }
    user_regs_struct regs = saved_->regs;
    // The interrupt made some waits fail with EINTR rather than restart
    // (epoll_wait, rt_sigtimedwait, a socket with a receive timeout), as a
    // signal would have; no signal came, so the program must not see one:
    // the call is made again. (After a real signal's handler orig_rax is -1.)
    long call = static_cast<long>(regs.orig_rax);
    if (static_cast<long>(regs.rax) == -EINTR && (kWaitingCalls.count(call) || kFutexCalls.count(call))) {
        regs.rax = regs.orig_rax;
        regs.rip -= 2;  // the syscall instruction
    }
    ptrace(PTRACE_SETREGS, tid_, nullptr, &regs);
    if (saved_->xstate_size) {
        iovec xstate{saved_->xstate.data(), saved_->xstate_size};
        ptrace(PTRACE_SETREGSET, tid_, saved_->xstate_type, &xstate);
    }
    if (saved_->have_sigmask) ptrace(PTRACE_SETSIGMASK, tid_, sizeof saved_->sigmask, &saved_->sigmask);
    // From a signal-delivery-stop the first signal that came meanwhile is
    // delivered as if it had just arrived (the interrupted system call then
    // restarts or fails with EINTR as its handler's SA_RESTART says); from
    // the interrupt stop, and for the others, it is sent again.
    size_t sent = 0;
    int first = in_signal_stop_ && !deferred_signals_.empty() ? deferred_signals_[sent++] : 0;
    ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(first)));
    auto stopped = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - stopped_at_);
    for (; sent < deferred_signals_.size(); ++sent) syscall(SYS_tgkill, pid_, tid_, deferred_signals_[sent]);
    deferred_signals_.clear();
    attached_ = false;
    return stopped;
}

#else

struct StoppedThread::Saved {};
StoppedThread::StoppedThread(int pid, std::chrono::milliseconds timeout) : pid_(pid), timeout_(timeout) {
    throw InjectError("fdtrack attach and detach are implemented for x86_64 only");
}
StoppedThread::~StoppedThread() = default;
int StoppedThread::wait_stop(Clock::time_point, const char*) { return -1; }
void StoppedThread::seize_safe_thread(Clock::time_point) {}
void StoppedThread::keep_errno(uint64_t) {}
uint64_t StoppedThread::push(const void*, size_t) { return 0; }
std::string StoppedThread::read_string(uint64_t, size_t) { return {}; }
uint64_t StoppedThread::call(uint64_t, const std::vector<uint64_t>&) { return 0; }
std::chrono::microseconds StoppedThread::resume() { return {}; }

#endif

}  // namespace fdtrack::cli
