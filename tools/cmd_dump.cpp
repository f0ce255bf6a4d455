// `fdtrack dump PID [--json]`: ask a running tracked process for a snapshot
// now, through its control socket (works whatever became of the dump signal).
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "report/control_channel.h"
#include "report/report_json.h"
#include "report/report_text.h"
#include "tools/commands.h"

namespace fdtrack::cli {

namespace {

struct DumpOptions {
    int pid = 0;
    bool json = false;
    double timeout_s = 10;
};

bool has_fdtrack_loaded(int pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);) {
        if (line.find("libfdtrack") != std::string::npos) return true;
    }
    return false;
}

// Why the process did not answer, in words a user can act on.
std::string why_unreachable(int pid) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return "no process with PID " + std::to_string(pid);
    if (!has_fdtrack_loaded(pid)) {
        return "process " + std::to_string(pid) +
               " is not tracked: libfdtrack.so is not loaded in it (start it with LD_PRELOAD=libfdtrack.so or "
               "`fdtrack run`)";
    }
    return "process " + std::to_string(pid) +
           " has libfdtrack.so loaded but is not tracking (an exec'd child without --follow-children?) or its "
           "dump thread is not running";
}

int connect_to(int pid) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string name = control_socket_name(pid);
    memcpy(address.sun_path + 1, name.data(), name.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Reads the answer until the process closes the connection, or the deadline.
bool read_answer(int fd, double timeout_s, std::string& out) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    char buffer[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return false;
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0;
        out.append(buffer, static_cast<size_t>(n));
    }
}

int run_dump(const DumpOptions& options) {
    int fd = connect_to(options.pid);
    if (fd < 0) {
        std::cerr << "fdtrack dump: " << why_unreachable(options.pid) << "\n";
        return 2;
    }
    std::string answer;
    bool complete = send(fd, kDumpRequest, strlen(kDumpRequest), MSG_NOSIGNAL) > 0 &&
                    read_answer(fd, options.timeout_s, answer);
    close(fd);
    if (!complete || answer.empty()) {
        std::cerr << "fdtrack dump: process " << options.pid << " did not answer within " << options.timeout_s
                  << " s\n";
        return 2;
    }
    try {
        Report report = report_from_json(answer);
        std::cout << (options.json ? report_to_json(report) : render_text(report));
        return 0;
    } catch (const ReportError& error) {
        std::cerr << "fdtrack dump: process " << options.pid << " sent a malformed report: " << error.what() << "\n";
        return 2;
    }
}

}  // namespace

Command add_dump_command(CLI::App& app) {
    auto options = std::make_shared<DumpOptions>();
    CLI::App* sub = app.add_subcommand("dump", "Ask a running tracked process for a snapshot now and print it");
    sub->add_option("PID", options->pid, "The process to ask")->required()->check(CLI::Range(1, 1 << 22));
    sub->add_flag("--json", options->json, "Print the snapshot as JSON instead of text");
    sub->add_option("--timeout", options->timeout_s, "Seconds to wait for the answer (default 10)")
        ->check(CLI::Range(0.1, 3600.0));
    return {sub, [options] { return run_dump(*options); }};
}

}  // namespace fdtrack::cli
