// fdtrack's settings inside the traced process, read from FDTRACK_* variables
// (docs/spec.md). Parsed once, from the process's real environment (not
// through the program's getenv), without allocating, so it can run from the
// first hook; strings are copied, since programs overwrite their environment.
#pragma once

#include <cstdint>

namespace fdtrack {

struct Config {
    int depth = 32;                  // FDTRACK_DEPTH: native frames kept per stack
    int dump_signal = 0;             // FDTRACK_SIGNAL: 0 = none; default SIGUSR1
    const char* output_dir = nullptr;     // FDTRACK_OUTPUT; nullptr = the private default (report_files.h)
    int64_t threshold = -1;          // FDTRACK_THRESHOLD; -1 = 90% of the soft RLIMIT_NOFILE
    int interval_s = 10;             // FDTRACK_INTERVAL: seconds between history samples; 0 = no history
    const char* suppressions = nullptr;   // FDTRACK_SUPPRESSIONS
    const char* user_paths = nullptr;     // FDTRACK_USER_PATHS: "DIR:DIR", every entry absolute
    bool follow_children = false;    // FDTRACK_FOLLOW_CHILDREN=1
    bool python = true;              // FDTRACK_PYTHON=0 disables Python frames
    const char* exit_report = nullptr;    // FDTRACK_EXIT_REPORT: set by `fdtrack run`
    const char* root_pid = nullptr;       // FDTRACK_PID: the process that started tracking
    int64_t root_pid_number = 0;     // the same as a number: 0 unset, -1 malformed (no process)
    const char* tmpdir = nullptr;         // TMPDIR, as it was at start
};

inline constexpr int kMaxDepth = 256;

// Parses the environment once; malformed values get a one-line message naming
// the variable and keep their default.
const Config& config();

// config() for its first call (the library's constructor): the same, without
// first reading a page it is about to write.
const Config& read_settings();

// Attach mode (fdtrack_attach_start): the settings come from `text`,
// NUL-terminated `NAME=VALUE` lines, parsed by the same code as the
// environment; a variable absent keeps its default. The target's own
// environment is not read for FDTRACK_* (it says what the program was started
// with, not what the user attaching asks for); TMPDIR comes from `text` when
// given, else from the environment, as the default output directory is where
// the program's own would be. Replaces any earlier configuration: call it only
// while nothing reads config() (before tracking starts). False when `text` is
// longer than fdtrack keeps (16 KiB).
bool configure_from_settings(const char* text);

// Parses a signal name as FDTRACK_SIGNAL takes it (USR1, SIGUSR2, RTMIN+3,
// none); returns -1 if malformed, 0 for none.
int parse_signal_name(const char* text);

// Parses a yes/no setting as FDTRACK_FOLLOW_CHILDREN and FDTRACK_PYTHON take
// it (1/yes/true, 0/no/false); false, leaving *out, if malformed.
bool parse_bool(const char* text, bool* out);

}  // namespace fdtrack
