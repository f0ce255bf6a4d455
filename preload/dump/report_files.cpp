// Creates report files where another local user can neither redirect nor
// read them: through a directory fd, under a name nobody can predict, with
// O_EXCL|O_NOFOLLOW and mode 0600, then renamed into place; and keeps the
// directories they go to reachable for as long as the process lives.
#include "preload/dump/report_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <mutex>

#include "preload/track/config.h"
#include "preload/dump/dump.h"
#include "preload/track/fork_safe_mutex.h"
#include "preload/track/registry.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/input_file.h"
#include "report/report_json.h"

namespace fdtrack {
namespace {

// A name in the report's directory that nobody can create first: a FIFO or
// a link planted at a guessable temporary name would hang or redirect us.
std::string temporary_name(const std::string& name) {
    static std::atomic<uint64_t> counter{0};
    uint64_t random = 0;
    if (getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
        random = static_cast<uint64_t>(monotonic_ns()) * 0x9e3779b97f4a7c15ull ^ counter.fetch_add(1);
    }
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, ".%016" PRIx64, random);
    return "." + name + suffix;
}

// lstat, not open: no fd is needed (a dump may run at the fd limit), and a
// link is seen as a link.
bool is_private_dir(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & 077) == 0;
}

std::string choose_default_dir() {
    std::string base = temp_dir();
    std::string path = base + "/fdtrack-" + std::to_string(geteuid());
    bool made = mkdir(path.c_str(), 0700) == 0;
    if (made || is_private_dir(path)) return path;
    if (errno != EEXIST) return path;  // writing there fails and says why
    std::string fresh = path + ".XXXXXX";
    if (!mkdtemp(fresh.data())) return path;  // writing will fail there and say why
    say(path + " is not a directory of this user's alone (someone else made it?): reports go to " + fresh);
    return fresh;
}


// A place's directory and, once the process changed user, that user's
// subdirectory of it: both held own fds (tracker.h), read through HeldFdUse.
struct Place {
    int fd = -1;
    int user_fd = -1;
    uid_t user = 0;
    bool pinned = false;   // held across a chroot or a change of user: its path may lead elsewhere now
    bool refused = false;  // said once that the new user's subdirectory could not be made
};
constinit Place g_places[3];
// Opening and handing over places; never held across a report's writing. A
// fork child gets it free (report_places_after_fork).
constinit ForkSafeMutex g_places_lock;


Place& place_of(ReportPlace place) { return g_places[static_cast<int>(place)]; }

// The directory reports of `place` go to now: the user's subdirectory once
// there is one. Read under HeldFdUse, again for each use (tracker.h).
int dir_in_use(const Place& place) {
    int user = std::atomic_ref<const int>(place.user_fd).load();
    return user >= 0 ? user : std::atomic_ref<const int>(place.fd).load();
}

// FDTRACK_EXIT_REPORT is a prefix: <directory>/<stem>, the library adds .<pid>.json.
std::string exit_report_dir() {
    std::string prefix = config().exit_report ? config().exit_report : "";
    size_t slash = prefix.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : prefix.substr(0, slash);
}

std::string dir_path(ReportPlace place) {
    switch (place) {
        case ReportPlace::exit_reports: return exit_report_dir();
        case ReportPlace::output: return config().output_dir ? config().output_dir : default_output_dir();
        case ReportPlace::default_output: break;
    }
    return default_output_dir();
}

std::string user_dir_name(uid_t uid) { return "uid-" + std::to_string(uid); }

// The place's directory, opened on first use (inside PlacesLock); -1 with errno if it cannot be.
int open_place(ReportPlace which) {
    Place& place = place_of(which);
    if (int fd = HeldFdUse::fd(place.fd); fd >= 0) return fd;
    if (which == ReportPlace::exit_reports && !config().exit_report) {
        errno = ENOENT;
        return -1;
    }
    int fd = open(dir_path(which).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;  // tried again at the next report: it may be made meanwhile
    std::atomic_ref<int>(place.fd).store(adopt_own_fd(fd));
    hold_own_fd(&place.fd);
    return HeldFdUse::fd(place.fd);
}

// The directory reports of `which` go to now; errno set when there is none.
int current_dir(ReportPlace which) {
    std::lock_guard lock(g_places_lock);
    int base = open_place(which);
    return base < 0 ? -1 : dir_in_use(place_of(which));
}

// A directory held that its path no longer leads to (removed, perhaps made
// again, by a clean-up of the output directory): let go, to be opened anew
// by its path. Not one held across a chroot or a change of user, which the
// path cannot reach again.
bool reopen_if_removed(ReportPlace which) {
    std::lock_guard lock(g_places_lock);
    Place& place = place_of(which);
    struct stat st;
    int fd = HeldFdUse::fd(place.fd);
    if (place.pinned || fd < 0 || fstat(fd, &st) != 0 || st.st_nlink > 0) return false;
    release_held_fd(&place.user_fd);
    release_held_fd(&place.fd);
    return true;
}

// Whether a process that became another user could climb out of `fd`
// (openat(fd, "../..")): only a directory of this process's user that no
// one else may search is safe to keep across the change.
bool is_private_dir_fd(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0;
}

// `uid`'s subdirectory of `base` if it is there and N's alone: -1 otherwise.
int open_user_dir(int base, const std::string& name, uid_t uid) {
    int fd = openat(base, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == uid && (st.st_mode & 077) == 0) return fd;
    close(fd);
    errno = EPERM;  // someone else's in the way
    return -1;
}

// `uid`'s subdirectory of `base`, made and given to `uid` by this (root)
// process; -1 when it cannot be, or when someone else's is in the way. Made
// under a name nobody can guess, given to `uid`, then renamed into place
// (never over one there): nginx's workers change user at the same moment,
// and none may find another's before it is `uid`'s.
int make_user_dir(int base, uid_t uid) {
    std::string name = user_dir_name(uid);
    if (int fd = open_user_dir(base, name, uid); fd >= 0 || errno != ENOENT) return fd;
    std::string fresh = temporary_name(name);
    if (mkdirat(base, fresh.c_str(), 0700) != 0) return -1;
    int fd = openat(base, fresh.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    bool given = fd >= 0 && fchown(fd, uid, static_cast<gid_t>(-1)) == 0;
    int error = errno;
    if (given && renameat2(base, fresh.c_str(), base, name.c_str(), RENAME_NOREPLACE) == 0) return fd;
    if (given) error = errno;
    if (fd >= 0) close(fd);
    unlinkat(base, fresh.c_str(), AT_REMOVEDIR);
    if (error != EEXIST) {
        errno = error;
        return -1;
    }
    return open_user_dir(base, name, uid);  // another process of ours was first
}

}  // namespace

bool write_report_file(ReportPlace which, const std::string& name, const std::string& content) {
    Reentry own;  // the fds here are fdtrack's
    if (current_dir(which) < 0) return false;
    if (reopen_if_removed(which) && current_dir(which) < 0) return false;
    Place& place = place_of(which);
    // Each use reads the number again: the program may take it (tracker.h).
    auto dir = [&] { return dir_in_use(place); };
    std::string tmp = temporary_name(name);
    int fd;
    {
        HeldFdUse use;
        fd = openat(dir(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    bool ok = fd >= 0 && write_all(fd, content);
    int error = errno;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    HeldFdUse use;
    // rename() replaces a link planted at the final name; it never follows it.
    if (ok && renameat(dir(), tmp.c_str(), dir(), name.c_str()) == 0) return true;
    if (ok) error = errno;
    if (fd >= 0) unlinkat(dir(), tmp.c_str(), 0);
    errno = error;
    return false;
}

void remove_report_file(ReportPlace which, const std::string& name) {
    Reentry own;
    int saved = errno;
    if (current_dir(which) >= 0) {
        Place& place = place_of(which);
        HeldFdUse use;
        unlinkat(dir_in_use(place), name.c_str(), 0);
    }
    errno = saved;
}

std::optional<std::string> read_report_file(ReportPlace which, const std::string& name) {
    Reentry own;
    if (current_dir(which) < 0) return std::nullopt;
    Place& place = place_of(which);
    int fd;
    {
        HeldFdUse use;
        fd = openat(dir_in_use(place), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd < 0) return std::nullopt;
    std::optional<std::string> content;
    try {
        content = read_input_fd(fd, kMaxReportBytes);
    } catch (const InputFileError&) {
        content.reset();
    }
    close(fd);
    return content;
}

std::string report_path(ReportPlace which, const std::string& name) {
    std::string dir = dir_path(which);
    Place& place = place_of(which);
    std::lock_guard lock(g_places_lock);
    if (HeldFdUse::fd(place.user_fd) >= 0) dir += "/" + user_dir_name(place.user);
    return dir + "/" + name;
}

std::string exit_report_name(int pid) {
    std::string prefix = config().exit_report ? config().exit_report : "exit";
    return prefix.substr(prefix.rfind('/') + 1) + "." + std::to_string(pid) + ".json";
}

void hold_report_places() {
    Reentry own;
    int saved = errno;
    try {  // from the chroot hook: nothing may leave
        std::lock_guard lock(g_places_lock);
        for (ReportPlace which : {ReportPlace::exit_reports, ReportPlace::output, ReportPlace::default_output}) {
            if (open_place(which) >= 0) place_of(which).pinned = true;
        }
    } catch (...) {
    }
    errno = saved;
}

void hand_report_places_to(uid_t uid) {
    if (uid == static_cast<uid_t>(-1) || uid == geteuid() || geteuid() != 0) return;
    Reentry own;
    int saved = errno;
    try {  // from the set*uid hooks: nothing may leave
        std::lock_guard lock(g_places_lock);
        // The default directory is the output's fallback; it is handed over
        // only as the output itself (no FDTRACK_OUTPUT), not made for nothing.
        for (ReportPlace which : {ReportPlace::exit_reports, ReportPlace::output}) {
            Place& place = place_of(which);
            int base = open_place(which);
            if (base < 0 || (HeldFdUse::fd(place.user_fd) >= 0 && place.user == uid)) continue;
            if (!is_private_dir_fd(base)) {
                // Kept, it would let the new user out of a chroot or into
                // places its own rights do not reach: let go, to be opened by
                // its path, with the new user's rights, at the next report.
                release_held_fd(&place.user_fd);
                release_held_fd(&place.fd);
                continue;
            }
            int fd = make_user_dir(base, uid);
            if (fd < 0) {
                if (!place.refused) {
                    place.refused = true;
                    say("cannot give " + dir_path(which) + "/" + user_dir_name(uid) + " to uid " +
                        std::to_string(uid) + " (" + strerror(errno) + "): reports after the change of user may be lost");
                }
                continue;
            }
            release_held_fd(&place.user_fd);
            place.user = uid;
            place.pinned = true;
            std::atomic_ref<int>(place.user_fd).store(adopt_own_fd(fd));
            hold_own_fd(&place.user_fd);
        }
    } catch (...) {
    }
    errno = saved;
}

bool is_report_place_fd(int fd) {
    if (fd < 0) return false;
    for (Place& place : g_places) {
        if (HeldFdUse::fd(place.fd) == fd || HeldFdUse::fd(place.user_fd) == fd) return true;
    }
    return false;
}

void report_places_after_fork() { g_places_lock.reset_after_fork(); }


bool write_all(int fd, const std::string& content) {
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

std::string temp_dir() {
    const char* tmp = config().tmpdir;
    struct stat st;
    bool usable = tmp && *tmp && stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) && access(tmp, W_OK | X_OK) == 0;
    return usable ? tmp : "/tmp";
}

const std::string& default_output_dir() {
    // Never freed: exit reports come after static destructors. Not a
    // once_flag: a fork child must not wait for a thread it does not have.
    static std::atomic<std::string*> chosen{nullptr};
    if (std::string* dir = chosen.load(std::memory_order_acquire)) return *dir;
    auto* made = new std::string(choose_default_dir());
    std::string* expected = nullptr;
    if (chosen.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return *made;
    delete made;
    return *expected;
}

}  // namespace fdtrack
