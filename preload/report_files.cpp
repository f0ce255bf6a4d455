// Creates report files where another local user can neither redirect nor
// read them: through a directory fd, under a name nobody can predict, with
// O_EXCL|O_NOFOLLOW and mode 0600, then renamed into place; and picks the
// default directory, one private to this user.
#include "preload/report_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "preload/config.h"
#include "preload/dump.h"
#include "preload/registry.h"
#include "preload/thread_state.h"

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

}  // namespace

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

bool write_report_file(const std::string& path, const std::string& content) {
    Reentry own;  // the fds here are fdtrack's
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return false;
    std::string tmp = temporary_name(name);
    int fd = openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write_all(fd, content);
    int error = errno;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    // rename() replaces a link planted at the final name; it never follows it.
    if (ok && renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) == 0) {
        close(dir_fd);
        return true;
    }
    if (ok) error = errno;
    if (fd >= 0) unlinkat(dir_fd, tmp.c_str(), 0);
    close(dir_fd);
    errno = error;
    return false;
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
