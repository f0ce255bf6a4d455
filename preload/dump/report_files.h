// Creates report files where another local user can neither redirect nor
// read them: through a directory fd, under a name nobody can predict, with
// O_EXCL|O_NOFOLLOW and mode 0600, then renamed into place; and keeps the
// directories they go to reachable for as long as the process lives.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace fdtrack {

// Where a report goes. Each place is a directory held open (an own fd,
// tracker.h) from its first use, or from just before a chroot or a change of
// user, whichever comes first: a chrooted program still reaches it, and one
// that drops privileges writes into a subdirectory `uid-<N>` handed to its
// new user before the drop (0700, reachable only through the held fd).
enum class ReportPlace {
    exit_reports,    // fdtrack run's directory, FDTRACK_EXIT_REPORT
    output,          // FDTRACK_OUTPUT, else the default below
    default_output,  // <temp dir>/fdtrack-<uid>: the fallback of an unwritable FDTRACK_OUTPUT
};

// Writes `content` as `name` in `place` so that a reader never sees half of
// it and nothing planted at that name or near it is opened or followed.
// False with errno set when it could not (ENOENT once fdtrack run, which made
// the exit report directory, has ended and removed it).
bool write_report_file(ReportPlace place, const std::string& name, const std::string& content);

// Removes a report file this process wrote (half of a pair that failed).
void remove_report_file(ReportPlace place, const std::string& name);

// The content of a report file this process wrote, or nullopt.
std::optional<std::string> read_report_file(ReportPlace place, const std::string& name);

// The path a report `name` in `place` has, as messages show it.
std::string report_path(ReportPlace place, const std::string& name);

// The name `fdtrack run` gives the exit report of `pid` (exit.<pid>.json).
std::string exit_report_name(int pid);

// Before chroot(): every place is opened now, while its path still resolves.
void hold_report_places();

// Before the process's effective user becomes `uid`: while it may still, the
// process makes each place's subdirectory for that user, and writes there
// from then on. Nothing happens when the user stays or the process cannot
// create files for another user (it is not root).
void hand_report_places_to(uid_t uid);

// One of the places' fds: a forked copy writing a dump at the fd limit keeps them.
bool is_report_place_fd(int fd);

// Writes all of `content` to `fd`, through short writes and EINTR.
bool write_all(int fd, const std::string& content);

// $TMPDIR (when it is a writable directory) or /tmp.
std::string temp_dir();

// <temp dir>/fdtrack-<uid>, a directory of this user's alone (created 0700;
// its owner, mode and type checked). If someone else holds that name, a
// fresh private directory is made instead and stderr says so once. Decided
// once per process.
const std::string& default_output_dir();

// In a fork child: the lock on the places is free again.
void report_places_after_fork();

}  // namespace fdtrack
