// Writing a file the user named on the command line, all or nothing (output_file.h).
#include "tools/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "report/printable.h"

namespace fdtrack::cli {

namespace {

[[noreturn]] void fail(const std::string& path, std::string_view why) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", printable(path), why));
}

bool write_all(int fd, std::string_view content) {
    while (!content.empty()) {
        ssize_t n = write(fd, content.data(), content.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        content.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

}  // namespace

void write_output_file(const std::string& path, std::string_view content) {
    if (path == "-") {
        std::cout << content << std::flush;
        if (!std::cout) fail("stdout", std::strerror(errno));
        return;
    }
    if (path.empty()) fail(path, "no file name");
    struct stat existing {};
    if (lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISLNK(existing.st_mode)) {
        // rename() would replace a FIFO or a device node (/dev/null, as root) by a page.
        fail(path, S_ISDIR(existing.st_mode) ? "it is a directory" : "it is not a regular file");
    }

    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") fail(path, "not a file name");
    // A hidden name beside the target: rename() is atomic within one file system.
    std::string temporary = fmt::format("{}/.{}.XXXXXX", dir, name);
    int fd = mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) fail(path, std::strerror(errno));

    mode_t umask_now = umask(0);
    umask(umask_now);
    int error = 0;
    errno = 0;
    if (fchmod(fd, 0666 & ~umask_now) != 0 || !write_all(fd, content)) error = errno ? errno : EIO;
    if (close(fd) != 0 && !error) error = errno;
    if (!error && rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (!error) return;
    unlink(temporary.c_str());
    fail(path, std::strerror(error));
}

}  // namespace fdtrack::cli
