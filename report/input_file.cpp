// Reading a file that a user or an environment variable named: regular files
// only, never more than a limit, never blocking (issue 9: /dev/zero grew the
// CLI without bound, a FIFO hung it, a directory threw from libstdc++).
#include "report/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace fdtrack {

namespace {

std::string what_it_is(mode_t mode) {
    if (S_ISDIR(mode)) return "it is a directory";
    if (S_ISFIFO(mode)) return "it is a FIFO, not a regular file";
    if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
    if (S_ISCHR(mode)) return "it is a character device, not a regular file";
    if (S_ISBLK(mode)) return "it is a block device, not a regular file";
    return "it is not a regular file";
}

std::string too_large(size_t max_bytes) {
    return fmt::format("it is larger than {}, the limit", format_size(max_bytes));
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

std::string format_size(size_t bytes) {
    if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
    if (bytes >= (size_t{1} << 10) && bytes % (size_t{1} << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
    return fmt::format("{} bytes", bytes);
}

std::string read_input_fd(int fd, size_t max_bytes) {
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw InputFileError(strerror(errno));
        if (n == 0) return text;
        if (static_cast<size_t>(n) > max_bytes - text.size()) throw InputFileError(too_large(max_bytes));
        text.append(buffer, static_cast<size_t>(n));
    }
}

std::string read_input_file(const std::string& path, size_t max_bytes, Links links) {
    // O_NONBLOCK: opening a FIFO without a writer would block before fstat
    // could say what it is. Regular files ignore the flag.
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (links == Links::refused ? O_NOFOLLOW : 0);
    Fd fd(open(path.c_str(), flags));
    if (fd.get() < 0) throw InputFileError(strerror(errno));
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) throw InputFileError(strerror(errno));
    if (!S_ISREG(st.st_mode)) throw InputFileError(what_it_is(st.st_mode));
    if (static_cast<uint64_t>(st.st_size) > max_bytes) throw InputFileError(too_large(max_bytes));
    return read_input_fd(fd.get(), max_bytes);
}

}  // namespace fdtrack
