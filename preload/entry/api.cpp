// The C API of fdtrack/fdtrack.h, as libfdtrack.so exports it: checkpoints, the fds opened since
// one, an fd's allocation site as text, fds kept open on purpose, and dumps on request.
#define FDTRACK_IMPLEMENTATION
#include "fdtrack/fdtrack.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "preload/track/config.h"
#include "preload/dump/dump.h"
#include "preload/dump/fd_describe.h"
#include "preload/track/registry.h"
#include "preload/track/stack_table.h"
#include "preload/dump/snapshot.h"
#include "preload/dump/symbolizer.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/report_text.h"
#include "report/user_code.h"

namespace fdtrack {
namespace {

// Frames of each stack in fdtrack_format_fd's text: enough to see the caller's caller's caller
// without burying a test log.
constexpr size_t kFormatFrames = 12;

// The registry keeps a record until a hook sees the close; an fd closed behind our back (a raw
// close syscall) must not be reported as open.
bool is_open(int fd) {
    return syscall(SYS_fcntl, fd, F_GETFD) >= 0;
}

// A tracked fd's record, or an empty one if `fd` is not a tracked open fd.
FdInfo tracked_open(int fd) {
    FdInfo info = registry().get(fd);
    if (info.origin != Origin::tracked || !is_open(fd)) return FdInfo{};
    return info;
}

// The fds the program keeps open on purpose. Each is remembered with its record's creation time:
// once closed, its number may come back for an fd nobody vouched for.
struct Ignored {
    int fd;
    int64_t created_ns;
};

std::mutex& ignored_mutex() {
    static std::mutex mutex;
    return mutex;
}

std::vector<Ignored>& ignored() {
    static std::vector<Ignored> fds;
    return fds;
}

bool is_ignored(int fd, const FdInfo& info) {
    std::lock_guard lock(ignored_mutex());
    return std::any_of(ignored().begin(), ignored().end(),
                       [&](const Ignored& i) { return i.fd == fd && i.created_ns == info.created_ns; });
}

std::string describe(int fd, const FdInfo& info) {
    FdDescription what = FdDescriber().describe(fd);
    std::string kind = what.target.empty() ? what.kind : what.kind + " " + what.target;
    if (!what.state.empty()) kind += " " + what.state;
    double age_s = double(monotonic_ns() - info.created_ns) / 1e9;  // before symbolising, which takes a while
    Symbolizer symbolizer;
    Site site = symbolize_site(info.stack, symbolizer);
    std::vector<std::string> user_paths = split_user_paths(config().user_paths ? config().user_paths : "");
    std::string text = fmt::format("fd {} ({}) opened by {} at {}, {} ago on thread {}\n", fd, kind,
                                   info.call ? info.call : "?", user_location(site, user_paths), format_age(age_s),
                                   info.thread[0] ? info.thread : "?");
    return text + render_stacks(site, "    ", kFormatFrames);
}

}  // namespace
}  // namespace fdtrack

using namespace fdtrack;

extern "C" __attribute__((visibility("default"))) int fdtrack_active(void) {
    Reentry own;
    return tracking() ? 1 : 0;
}

extern "C" __attribute__((visibility("default"))) uint64_t fdtrack_checkpoint(void) {
    Reentry own;
    if (!tracking()) return 0;
    // An fd is "since" the checkpoint when its created_ns >= the token. Waiting for the clock to
    // tick past `now` makes that exact: records made before this call carry at most `now`,
    // records made after it at least now + 1.
    int64_t now = monotonic_ns();
    while (monotonic_ns() == now) {
    }
    return static_cast<uint64_t>(now) + 1;
}

extern "C" __attribute__((visibility("default"))) int fdtrack_open_since(uint64_t checkpoint, fdtrack_fd_info* out,
                                                                         int max) {
    Reentry own;
    if (!tracking()) return 0;
    int found = 0;
    int max_fd = registry().max_fd();
    // Not 0-2, as in the exit report: test harnesses dup2 onto them to capture output.
    for (int fd = 3; fd <= max_fd; ++fd) {
        FdInfo info = tracked_open(fd);
        if (info.origin != Origin::tracked || static_cast<uint64_t>(info.created_ns) < checkpoint) continue;
        if (is_ignored(fd, info)) continue;
        if (out && found < max) {
            fdtrack_fd_info& entry = out[found];
            entry = fdtrack_fd_info{};
            entry.fd = fd;
            entry.tid = info.tid;
            entry.site = info.stack;
            entry.created_ns = static_cast<uint64_t>(info.created_ns);
            if (info.call) snprintf(entry.call, sizeof entry.call, "%s", info.call);
            memcpy(entry.thread, info.thread, sizeof entry.thread);
            entry.thread[sizeof entry.thread - 1] = '\0';
        }
        ++found;
    }
    return found;
}

extern "C" __attribute__((visibility("default"))) int fdtrack_format_fd(int fd, char* buf, size_t cap) {
    Reentry own;
    int saved = errno;
    if (buf && cap > 0) buf[0] = '\0';
    int length = -1;
    if (tracking()) {
        FdInfo info = tracked_open(fd);
        if (info.origin == Origin::tracked) {
            try {
                std::string text = describe(fd, info);
                if (buf && cap > 0) snprintf(buf, cap, "%s", text.c_str());
                length = static_cast<int>(text.size());
            } catch (...) {  // out of memory: the program must not pay for our report
            }
        }
    }
    errno = saved;
    return length;
}

extern "C" __attribute__((visibility("default"))) int fdtrack_ignore_fd(int fd) {
    Reentry own;
    if (!tracking()) return -1;
    FdInfo info = tracked_open(fd);
    if (info.origin != Origin::tracked) return -1;
    try {
        std::lock_guard lock(ignored_mutex());
        auto& fds = ignored();
        // Forget entries whose fd has since been closed or reused, so the list stays as short
        // as what the program keeps open.
        std::erase_if(fds, [](const Ignored& i) { return registry().get(i.fd).created_ns != i.created_ns; });
        fds.push_back({fd, info.created_ns});
    } catch (...) {
        return -1;
    }
    return 0;
}

extern "C" __attribute__((visibility("default"))) int fdtrack_dump(const char* reason) {
    Reentry own;
    if (!tracking()) return -1;
    int saved = errno;
    int result = -1;
    try {
        if (reason && *reason) {
            std::string line = fmt::format("fdtrack: dump requested by the program: {}\n", reason);
            ssize_t ignored_result = write(STDERR_FILENO, line.data(), line.size());
            (void)ignored_result;
        }
        result = dump_now("api").path.empty() ? -1 : 0;
    } catch (...) {
    }
    errno = saved;
    return result;
}
