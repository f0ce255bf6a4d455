// `fdtrack attach PID` and `fdtrack detach PID`: start or stop tracking a
// running process without restarting it, by making one of its threads load
// libfdtrack.so (its own dlopen) and call the library's attach or detach entry.
#include <dlfcn.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "report/printable.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/injector.h"
#include "tools/library_settings.h"
#include "tools/preload_path.h"
#include "tools/seconds_option.h"

namespace fdtrack::cli {

namespace {

// The entries libfdtrack.so exports for this (the contract with preload/):
// 0 done, 1 nothing to do (already tracked / not attached), 2 failed; on 1
// and 2 a one-line reason in `message`.
constexpr const char* kAttachEntry = "fdtrack_attach_start";  // (settings, message, size)
constexpr const char* kDetachEntry = "fdtrack_detach_stop";   // (message, size)
constexpr size_t kMessageSize = 512;

// The settings the library reads, as `fdtrack run` hands them to a program:
// fdtrack's own environment first, its options over it.
constexpr const char* kSettingNames[] = {"FDTRACK_DEPTH",    "FDTRACK_SIGNAL",   "FDTRACK_OUTPUT",
                                         "FDTRACK_THRESHOLD", "FDTRACK_INTERVAL", "FDTRACK_SUPPRESSIONS",
                                         "FDTRACK_USER_PATHS", "FDTRACK_PYTHON"};

struct AttachOptions {
    int pid = 0;
    LibrarySettings settings;
    double timeout_s = 10;
};

struct DetachOptions {
    int pid = 0;
    double timeout_s = 10;
};

// "NAME=VALUE\n" lines.
std::string settings_text(const LibrarySettings& settings) {
    std::map<std::string, std::string> variables;
    for (const char* name : kSettingNames) {
        if (const char* value = std::getenv(name); value && *value) variables[name] = value;
    }
    for (auto& [name, value] : settings_variables(settings)) variables[name] = value;
    std::string text;
    for (const auto& [name, value] : variables) {
        // A line break would start another setting: the library must not see one.
        if (value.find('\n') != std::string::npos) throw std::runtime_error(name + " holds a line break");
        text += name + "=" + value + "\n";
    }
    return text;
}

std::string program_of(int pid) {
    std::error_code error;
    std::string exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), error).string();
    return error ? "?" : printable(exe);
}

struct Answer {
    int code = 2;
    std::string message;  // printable
    std::string stopped;  // "its thread T was stopped for X ms"
};

// Calls an entry of the library with `args` and a message buffer, then puts
// the thread back: the stop ends before anything is printed.
Answer call_entry(StoppedThread& thread, uint64_t entry, std::vector<uint64_t> args) {
    std::string blank(kMessageSize, '\0');
    uint64_t message_at = thread.push(blank.data(), blank.size());
    args.insert(args.end(), {message_at, kMessageSize});
    Answer answer;
    answer.code = static_cast<int>(thread.call(entry, args));
    answer.message = printable(thread.read_string(message_at, kMessageSize));
    std::chrono::microseconds stopped = thread.resume();
    answer.stopped = fmt::format("its thread {} was stopped for {:.2f} ms", thread.tid(), stopped.count() / 1000.0);
    return answer;
}

// Whether the target would open the very file fdtrack means: a process in
// another mount namespace or chroot sees other files at that path, or none.
void check_visible(int pid, const std::string& library) {
    struct stat ours {}, theirs {};
    if (stat(library.c_str(), &ours) != 0) throw InjectError(fmt::format("cannot read {}", library));
    std::string seen = fmt::format("/proc/{}/root{}", pid, library);
    std::string fix = "make the library visible to it at the same path (a bind mount, or a copy inside its root) "
                      "and point FDTRACK_LIB at that path";
    if (stat(seen.c_str(), &theirs) != 0) {
        throw InjectError(fmt::format("process {} cannot see {} (it runs in another mount namespace or root: a "
                                      "container, a chroot); {}",
                                      pid, library, fix));
    }
    if (ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino) {
        throw InjectError(fmt::format("process {} sees another file at {} (it runs in another mount namespace or "
                                      "root: a container, a chroot); {}",
                                      pid, library, fix));
    }
}

// The target runs the library's code, and that of the libraries it opens
// beside it (a wheel's fdtrack.libs, found through $ORIGIN), with its own
// rights: whoever may replace one of those files, or rename a directory
// above them, between this check and the load would run code as the
// target (root attaching a root daemon with a library in a user's venv).
// Each must belong to root or to the target's user and be writable by
// nobody else; a directory others may write needs the sticky bit and the
// entry below it owned as above.
void check_library_owner(int pid, const std::string& library) {
    unsigned target = 0;
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line) && line.rfind("Uid:", 0) != 0) {
    }
    if (std::sscanf(line.c_str(), "Uid: %*u %u", &target) != 1) {  // the effective uid
        throw InjectError(fmt::format("cannot read the user of process {}", pid));
    }
    namespace fs = std::filesystem;
    std::vector<fs::path> paths;
    fs::path lib = fs::absolute(library).lexically_normal();
    for (fs::path at = lib; !at.empty(); at = at.parent_path()) {
        paths.push_back(at);
        if (at == at.root_path()) break;
    }
    std::error_code error;
    for (fs::path libs : {lib.parent_path().parent_path() / "fdtrack.libs", lib.parent_path().parent_path().parent_path() / "fdtrack.libs"}) {
        if (!fs::is_directory(libs, error)) continue;
        paths.push_back(libs);
        for (const auto& entry : fs::directory_iterator(libs, error)) paths.push_back(entry.path());
    }
    for (size_t i = 0; i < paths.size(); ++i) {
        struct stat info {};
        if (lstat(paths[i].c_str(), &info) != 0) throw InjectError(fmt::format("cannot read {}", paths[i].string()));
        bool owner_ok = info.st_uid == 0 || info.st_uid == target;
        bool others_write = (info.st_mode & (S_IWGRP | S_IWOTH)) && !S_ISLNK(info.st_mode);
        bool sticky_dir = S_ISDIR(info.st_mode) && (info.st_mode & S_ISVTX);
        if (!owner_ok || (others_write && !sticky_dir)) {
            throw InjectError(fmt::format(
                "{} may be changed by someone other than root and the user of process {} (uid {}), and the process "
                "would run what it holds; install fdtrack where only they can write (apt, or pip as that user) "
                "and point FDTRACK_LIB at it",
                printable(paths[i].string()), pid, target));
        }
    }
}

// The libfdtrack.so mapped in the target (attached before, or preloaded),
// if it exports `entry`; `found_any` says whether one is mapped at all.
std::optional<uint64_t> mapped_entry(int pid, const char* entry, bool& found_any) {
    std::vector<MappedFile> mapped = mapped_files(pid, "libfdtrack");
    found_any = !mapped.empty();
    for (const MappedFile& file : mapped) {
        if (std::optional<uint64_t> address = symbol_address(pid, file, entry)) return address;
    }
    return std::nullopt;
}

// A function of the target's libc.so.6 (check_injectable made sure there is one).
uint64_t libc_function(int pid, const char* name) {
    std::vector<MappedFile> libc = mapped_files(pid, "libc.so.6");
    std::optional<uint64_t> address = libc.empty() ? std::nullopt : symbol_address(pid, libc.front(), name);
    if (!address) {
        throw InjectError(fmt::format("the libc.so.6 of process {} exports no {} (a glibc older than 2.34?); "
                                      "start it under `fdtrack run` instead",
                                      pid, name), true);
    }
    return *address;
}

// The borrowed thread, its errno kept: what the calls leave there must not
// reach the code the thread goes back to.
std::unique_ptr<StoppedThread> borrow_thread(int pid, double timeout_s) {
    auto thread =
        std::make_unique<StoppedThread>(pid, std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
    thread->keep_errno(libc_function(pid, "__errno_location"));
    return thread;
}

// Loads `library` with the target's dlopen; returns its attach entry.
uint64_t load_library(StoppedThread& thread, int pid, const std::string& library) {
    uint64_t dlopen_at = libc_function(pid, "dlopen");
    uint64_t dlerror_at = libc_function(pid, "dlerror");
    uint64_t handle = thread.call(dlopen_at, {thread.push_string(library), RTLD_NOW});
    if (handle == 0) {
        std::string why = thread.read_string(thread.call(dlerror_at, {}), kMessageSize);
        throw InjectError(fmt::format("process {} could not load {}: {}", pid, library, printable(why)), true);
    }
    struct stat ours {};
    stat(library.c_str(), &ours);
    for (const MappedFile& file : mapped_files(pid, "")) {
        // By path too: on overlayfs (containers) maps shows the underlying file's device and inode.
        if ((file.dev != ours.st_dev || file.inode != ours.st_ino) && file.path != library) continue;
        if (std::optional<uint64_t> entry = symbol_address(pid, file, kAttachEntry)) return *entry;
    }
    throw InjectError(fmt::format("{} exports no {}: it is not a libfdtrack.so that can attach", library,
                                  kAttachEntry), true);
}

int refuse(const char* command, const std::string& why) {
    std::cerr << "fdtrack " << command << ": " << why << "\n";
    return 2;
}

// The library's answer other than done: 1, nothing to do (`state` says why:
// "is already tracked"), or 2, its refusal.
int unsuccessful(const char* command, int pid, const char* state, const Answer& answer) {
    if (answer.code == 1) {
        std::cerr << fmt::format("fdtrack {}: process {} {}: {}; nothing changed\n", command, pid, state,
                                 answer.message);
        return 1;
    }
    return refuse(command, fmt::format("libfdtrack.so could not {} in process {}: {}", command, pid,
                                       answer.message.empty() ? "(no reason given)" : answer.message));
}

int run_attach(const AttachOptions& options) {
    int pid = options.pid;
    std::string settings = settings_text(options.settings);
    std::string library = find_preload_library();
    bool mapped = false;
    std::optional<uint64_t> entry;
    try {
        check_injectable(pid, "fdtrack attach");
        entry = mapped_entry(pid, kAttachEntry, mapped);
        if (mapped && holds_control_socket(pid)) {
            std::cerr << fmt::format("fdtrack attach: process {} is already tracked (libfdtrack.so is loaded and "
                                     "its control socket listens); nothing changed. `fdtrack dump {}` asks it\n",
                                     pid, pid);
            return 1;
        }
        if (mapped && !entry) {
            std::cerr << fmt::format("fdtrack attach: process {} already has a libfdtrack.so that cannot attach "
                                     "(under the preload of an older fdtrack?); nothing changed\n",
                                     pid);
            return 1;
        }
        if (!mapped) {
            // Checked before the target loads it: an older library would start tracking as it loads.
            if (!exports_function(library, kAttachEntry)) {
                throw InjectError(fmt::format("{} exports no {}: it is a libfdtrack.so that cannot attach (an older "
                                              "build?); set FDTRACK_LIB to one that can",
                                              library, kAttachEntry));
            }
            check_visible(pid, library);
            check_library_owner(pid, library);
        }
    } catch (const InjectError& error) {
        return refuse("attach", error.what());
    }

    try {
        std::unique_ptr<StoppedThread> borrowed = borrow_thread(pid, options.timeout_s);
        StoppedThread& thread = *borrowed;
        // A libfdtrack.so already there (attached, then detached) is the one
        // to ask again: a second copy would redirect the same calls twice.
        uint64_t start = entry ? *entry : load_library(thread, pid, library);
        uint64_t settings_at = thread.push_string(settings);
        Answer answer = call_entry(thread, start, {settings_at});
        if (answer.code == 0) {
            std::cout << fmt::format("fdtrack attach: tracking process {} ({}) from now; {}. `fdtrack dump {}` "
                                     "for a report, `fdtrack detach {}` to stop\n",
                                     pid, program_of(pid), answer.stopped, pid, pid);
            return 0;
        }
        return unsuccessful("attach", pid, "is already tracked", answer);
    } catch (const InjectError& error) {
        return refuse("attach", error.what());
    }
}

int run_detach(const DetachOptions& options) {
    int pid = options.pid;
    bool mapped = false;
    std::optional<uint64_t> entry;
    try {
        check_injectable(pid, "fdtrack detach");
        entry = mapped_entry(pid, kDetachEntry, mapped);
    } catch (const InjectError& error) {
        return refuse("detach", error.what());
    }
    if (!mapped) {
        std::cerr << fmt::format("fdtrack detach: process {} is not attached: libfdtrack.so is not loaded in it; "
                                 "nothing changed\n",
                                 pid);
        return 1;
    }
    if (!entry) {
        std::cerr << fmt::format("fdtrack detach: process {} has a libfdtrack.so that cannot detach (under the "
                                 "preload of an older fdtrack?); nothing changed\n",
                                 pid);
        return 1;
    }
    try {
        std::unique_ptr<StoppedThread> borrowed = borrow_thread(pid, options.timeout_s);
        Answer answer = call_entry(*borrowed, *entry, {});
        if (answer.code == 0) {
            std::cout << fmt::format("fdtrack detach: process {} is no longer tracked; {}\n", pid,
                                     answer.stopped);
            return 0;
        }
        return unsuccessful("detach", pid, "is not attached", answer);
    } catch (const InjectError& error) {
        return refuse("detach", error.what());
    }
}

}  // namespace

Command add_attach_command(CLI::App& app) {
    auto options = std::make_shared<AttachOptions>();
    CLI::App* sub = app.add_subcommand("attach", "Start tracking a running process now, without restarting it");
    sub->add_option("PID", options->pid, "The process to track")->required()->check(CLI::Range(1, 1 << 22));
    add_settings_options(*sub, options->settings);
    add_timeout_option(*sub, options->timeout_s,
                       "Seconds to wait for a thread to borrow and for each call in it (default 10)");
    return {sub, [options] { return run_attach(*options); }};
}

Command add_detach_command(CLI::App& app) {
    auto options = std::make_shared<DetachOptions>();
    CLI::App* sub = app.add_subcommand("detach", "Stop tracking a process that `fdtrack attach` tracks");
    sub->add_option("PID", options->pid, "The process to stop tracking")->required()->check(CLI::Range(1, 1 << 22));
    add_timeout_option(*sub, options->timeout_s,
                       "Seconds to wait for a thread to borrow and for the call in it (default 10)");
    return {sub, [options] { return run_detach(*options); }};
}

}  // namespace fdtrack::cli
