// Reading a file that a user or an environment variable named (a report, a
// suppressions file): regular files only, never more than a limit, never blocking.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace fdtrack {

// Why the file could not be read, without its name (callers add it and their
// own wording): "it is a directory", "No such file or directory"...
class InputFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Whether a symlink at the path itself is followed: not in a directory that
// someone less trusted could write to (fdtrack run reading the reports of a
// process that became another user).
enum class Links { followed, refused };

// The whole content of the regular file at `path` (a symlink to one is
// fine unless `links` says otherwise). A directory, FIFO, socket or device is
// refused without reading: /dev/zero never ends, a FIFO nobody writes to
// would block for ever. So is a file larger than `max_bytes`, including one
// that grows while read.
std::string read_input_file(const std::string& path, size_t max_bytes, Links links = Links::followed);

// What `fd` (a pipe, stdin) gives until end of file; InputFileError as soon as
// that is more than `max_bytes`.
std::string read_input_fd(int fd, size_t max_bytes);

// "256 MiB", for the messages that name a limit.
std::string format_size(size_t bytes);

}  // namespace fdtrack
