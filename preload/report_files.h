// Creates report files where another local user can neither redirect nor
// read them: through a directory fd, under a name nobody can predict, with
// O_EXCL|O_NOFOLLOW and mode 0600, then renamed into place; and picks the
// default directory, one private to this user.
#pragma once

#include <string>

namespace fdtrack {

// Writes `content` to `path` (a directory that exists, and a file name) so
// that a reader never sees half of it and nothing planted at `path` or near
// it is opened or followed. False with errno set when it could not.
bool write_report_file(const std::string& path, const std::string& content);

// Writes all of `content` to `fd`, through short writes and EINTR.
bool write_all(int fd, const std::string& content);

// $TMPDIR (when it is a writable directory) or /tmp.
std::string temp_dir();

// Where reports go when FDTRACK_OUTPUT does not say: <temp dir>/fdtrack-<uid>,
// a directory of this user's alone (created 0700; its owner, mode and type
// checked). If someone else holds that name, a fresh private directory is
// made instead and stderr says so once. Decided once per process.
const std::string& default_output_dir();

}  // namespace fdtrack
