// Report output: file naming, atomic writes, the output directory, and the
// one-line stderr notice.
#include "preload/dump.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "preload/config.h"
#include "preload/snapshot.h"
#include "preload/thread_state.h"
#include "report/report_json.h"
#include "report/report_text.h"

namespace fdtrack {
namespace {

std::atomic<int> g_sequence{0};
std::atomic<bool> g_exit_written{false};
std::atomic<bool> g_output_warned{false};

void say(const std::string& line) {
    std::string text = "fdtrack: " + line + "\n";
    ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
}

// Writes `content` to `path` through a temporary name, so a reader (fdtrack
// dump) never sees half a report.
bool write_atomically(const std::string& path, const std::string& content) {
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    bool ok = done == content.size();
    ok = (close(fd) == 0) && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
    unlink(tmp.c_str());
    return false;
}

bool writable_dir(const char* dir) {
    return dir && *dir && access(dir, W_OK | X_OK) == 0;
}

// FDTRACK_OUTPUT, else the current directory if writable, else the temp dir.
std::string output_dir() {
    const char* chosen = config().output_dir;
    if (chosen) {
        if (writable_dir(chosen)) return chosen;
        if (!g_output_warned.exchange(true)) {
            say(std::string("cannot write to FDTRACK_OUTPUT=") + chosen + " (" + strerror(errno) +
                "); writing reports to the temp dir instead");
        }
    } else if (writable_dir(".")) {
        char cwd[4096];
        return getcwd(cwd, sizeof cwd) ? cwd : ".";
    }
    const char* tmp = getenv("TMPDIR");
    return writable_dir(tmp) ? tmp : "/tmp";
}

}  // namespace

Dumped dump_now(const char* trigger) {
    Reentry own;
    Report report = take_snapshot(trigger);
    Dumped dumped{{}, report_to_json(report)};
    std::string base = output_dir() + "/fdtrack." + std::to_string(report.pid) + "." +
                       std::to_string(g_sequence.fetch_add(1) + 1);
    if (!write_atomically(base + ".json", dumped.json) || !write_atomically(base + ".txt", render_text(report))) {
        say("could not write " + base + ".{json,txt}: " + strerror(errno));
        return dumped;
    }
    dumped.path = base + ".json";
    std::string summary = top_site_summary(report);
    if (summary.rfind("fdtrack: ", 0) == 0) summary.erase(0, 9);
    say(std::string(trigger) + " report " + dumped.path + " (and .txt): " + summary);
    return dumped;
}

void write_exit_report() {
    if (g_exit_written.exchange(true)) return;
    Reentry own;
    int saved = errno;
    if (const char* prefix = config().exit_report) {
        Report report = take_snapshot("exit");
        std::string path = std::string(prefix) + "." + std::to_string(report.pid) + ".json";
        if (!write_atomically(path, report_to_json(report))) say("could not write the exit report " + path);
    } else {
        dump_now("exit");
    }
    errno = saved;
}

void reset_dump_state_after_fork() {
    g_exit_written.store(false);
    g_sequence.store(0);
}

}  // namespace fdtrack
