// Reads fdtrack's FDTRACK_* settings from the environment, or in attach mode
// from the settings text `fdtrack attach` passes.
#include "preload/track/child_path.h"
#include "preload/track/config.h"

#include "report/dump_signals.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

namespace fdtrack {
namespace {

// Settings outlive the environment they came from: nginx, redis and postgres
// write their process title over it. Kept here, without allocating. One
// page-aligned block: an exec'd child that fdtrack does not track reads its
// settings and stops, and each page it touches is a page fault (~5 us on a
// virtual machine; issue #10 gives such a child 100 us in all).
struct alignas(4096) Settings {
    std::atomic<int> state{0};  // 0 unparsed, 1 parsing, 2 ready
    Config config;
    size_t kept_used = 0;
    char kept[16384] = {};
};
constinit Settings g_settings;

void complain(const char* variable, const char* value, const char* expected) {
    char line[512];
    size_t n = 0;
    for (const char* part : {"fdtrack: ignoring malformed ", variable, "=\"", value, "\" (expected ", expected,
                             "); using the default\n"}) {
        size_t len = strnlen(part, sizeof line - n - 1);
        memcpy(line + n, part, len);
        n += len;
    }
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
}

FDTRACK_CHILD_PATH bool parse_int(const char* text, int64_t min, int64_t max, int64_t* out) {
    if (!text || !*text) return false;
    int64_t value = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9') return false;
        value = value * 10 + (*p - '0');
        if (value > max) return false;
    }
    if (value < min) return false;
    *out = value;
    return true;
}

// A colon-separated list of absolute directories, empty entries allowed as
// in PATH. Relative ones are refused: the program may change directory.
bool parse_absolute_paths(const char* text) {
    for (const char* entry = text; *entry;) {
        if (*entry != ':' && *entry != '/') return false;
        const char* end = strchrnul(entry, ':');
        entry = *end ? end + 1 : end;
    }
    return true;
}

// `name`'s value in a NULL-terminated array of NAME=VALUE strings.
FDTRACK_CHILD_PATH const char* lookup(char* const* entries, const char* name) {
    size_t length = strlen(name);
    for (char* const* entry = entries; entry && *entry; ++entry) {
        if (strncmp(*entry, name, length) == 0 && (*entry)[length] == '=') return *entry + length + 1;
    }
    return nullptr;
}

// Attach mode's settings, split into NAME=VALUE strings in place (no
// allocation: the text is copied here); null entries outside attach mode.
char g_attach_settings_text[16384];
char* g_attach_settings[256];
bool g_from_attach_settings = false;

// The process's own environment, read directly: a program may export its
// own getenv (bash does, answering from its shell variables). In attach mode,
// the settings given instead (TMPDIR falls back to the environment).
FDTRACK_CHILD_PATH const char* environment(const char* name) {
    if (!g_from_attach_settings) return lookup(environ, name);
    const char* value = lookup(g_attach_settings, name);
    return value || strcmp(name, "TMPDIR") != 0 ? value : lookup(environ, name);
}

FDTRACK_CHILD_PATH const char* keep(const char* variable, const char* value) {
    size_t size = strlen(value) + 1;
    if (size > sizeof g_settings.kept - g_settings.kept_used) {
        complain(variable, "...", "a shorter value: fdtrack keeps 16 KiB of settings");
        return nullptr;
    }
    char* copy = g_settings.kept + g_settings.kept_used;
    memcpy(copy, value, size);
    g_settings.kept_used += size;
    return copy;
}

FDTRACK_CHILD_PATH const char* string_setting(const char* variable) {
    const char* v = environment(variable);
    return v && *v ? keep(variable, v) : nullptr;
}

FDTRACK_CHILD_PATH void parse(Config& c) {
    c.dump_signal = SIGUSR1;
    auto getenv = environment;  // never the program's own getenv
    int64_t number;
    if (const char* v = getenv("FDTRACK_DEPTH")) {
        if (parse_int(v, 1, kMaxDepth, &number)) c.depth = static_cast<int>(number);
        else complain("FDTRACK_DEPTH", v, "a number from 1 to 256");
    }
    if (const char* v = getenv("FDTRACK_SIGNAL")) {
        int sig = parse_signal_name(v);
        if (sig >= 0) c.dump_signal = sig;
        else complain("FDTRACK_SIGNAL", v, "USR1, USR2, RTMIN+N or none: a signal the program does not need itself");
    }
    c.output_dir = string_setting("FDTRACK_OUTPUT");
    if (const char* v = getenv("FDTRACK_THRESHOLD")) {
        if (parse_int(v, 1, 1 << 30, &number)) c.threshold = number;
        else complain("FDTRACK_THRESHOLD", v, "a positive number of fds");
    }
    if (const char* v = getenv("FDTRACK_INTERVAL")) {
        if (parse_int(v, 0, 86400, &number)) c.interval_s = static_cast<int>(number);
        else complain("FDTRACK_INTERVAL", v, "seconds between history samples, from 1 to 86400, or 0 for none");
    }
    c.suppressions = string_setting("FDTRACK_SUPPRESSIONS");
    if (const char* v = getenv("FDTRACK_USER_PATHS"); v && *v) {
        if (parse_absolute_paths(v)) c.user_paths = keep("FDTRACK_USER_PATHS", v);
        else complain("FDTRACK_USER_PATHS", v, "absolute directories separated by ':'");
    }
    if (const char* v = getenv("FDTRACK_FOLLOW_CHILDREN")) {
        if (!parse_bool(v, &c.follow_children)) complain("FDTRACK_FOLLOW_CHILDREN", v, "1 or 0");
    }
    if (const char* v = getenv("FDTRACK_PYTHON")) {
        if (!parse_bool(v, &c.python)) complain("FDTRACK_PYTHON", v, "1 or 0");
    }
    c.exit_report = string_setting("FDTRACK_EXIT_REPORT");
    c.root_pid = string_setting("FDTRACK_PID");
    if (c.root_pid && !parse_int(c.root_pid, 1, INT32_MAX, &c.root_pid_number)) c.root_pid_number = -1;
    c.tmpdir = string_setting("TMPDIR");
}

}  // namespace

FDTRACK_CHILD_PATH const Config& read_settings() {
    // A write first (the exchange): a first read of the page would map the
    // zero page, and the write after it would fault a second time.
    int expected = 0;
    if (g_settings.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
        parse(g_settings.config);
        g_settings.state.store(2, std::memory_order_release);
    } else {
        while (g_settings.state.load(std::memory_order_acquire) != 2) {
        }  // another thread is parsing: a few microseconds at most
    }
    return g_settings.config;
}

FDTRACK_CHILD_PATH const Config& config() {
    if (g_settings.state.load(std::memory_order_acquire) == 2) return g_settings.config;
    return read_settings();
}

bool configure_from_settings(const char* text) {
    size_t size = strlen(text) + 1;
    if (size > sizeof g_attach_settings_text) return false;
    memcpy(g_attach_settings_text, text, size);
    size_t n = 0;
    for (char* line = g_attach_settings_text; *line && n + 1 < sizeof g_attach_settings / sizeof *g_attach_settings;) {
        char* end = strchrnul(line, '\n');
        bool last = *end == '\0';
        *end = '\0';
        if (strchr(line, '=')) g_attach_settings[n++] = line;
        if (last) break;
        line = end + 1;
    }
    g_attach_settings[n] = nullptr;
    g_from_attach_settings = true;
    g_settings.config = Config{};
    g_settings.kept_used = 0;
    parse(g_settings.config);
    g_settings.state.store(2, std::memory_order_release);
    return true;
}

FDTRACK_CHILD_PATH bool parse_bool(const char* text, bool* out) {
    if (!strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "true")) return *out = true, true;
    if (!strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "false")) return *out = false, true;
    return false;
}

FDTRACK_CHILD_PATH int parse_signal_name(const char* text) {
    if (!strcmp(text, "none") || !strcmp(text, "NONE")) return 0;
    if (!strncmp(text, "SIG", 3)) text += 3;
    if (!strcmp(text, "USR1")) return SIGUSR1;
    if (!strcmp(text, "USR2")) return SIGUSR2;
    if (!strncmp(text, "RTMIN", 5)) {
        int64_t offset = 0;
        if (text[5] != '\0' && (text[5] != '+' || !parse_int(text + 6, 0, SIGRTMAX - SIGRTMIN, &offset))) return -1;
        return SIGRTMIN + static_cast<int>(offset);
    }
    int64_t number;
    if (parse_int(text, 1, SIGRTMAX, &number) && is_usable_dump_signal(static_cast<int>(number)))
        return static_cast<int>(number);
    return -1;
}

}  // namespace fdtrack
