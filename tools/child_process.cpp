// Running the traced program as our child: same stdin/stdout/stderr, our
// termination signals forwarded to it, its status reported as a shell would.
#include "tools/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include <fmt/format.h>

namespace fdtrack::cli {

namespace {

// The forwarded signals, and the child they go to once it exists.
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
volatile sig_atomic_t g_child_pid = 0;

void forward_signal(int sig, siginfo_t* info, void*) {
    // Keys typed at the terminal (^C, ^\) already reached the child, which is
    // in our foreground process group; a second SIGINT would interrupt
    // Python's KeyboardInterrupt handling, and with it the exit report.
    if (info && info->si_code == SI_KERNEL) return;
    if (g_child_pid > 0) kill(g_child_pid, sig);
}

class SignalForwarding {
public:
    SignalForwarding() {
        sigset_t forwarded;
        sigemptyset(&forwarded);
        for (int sig : kForwardedSignals) sigaddset(&forwarded, sig);
        sigprocmask(SIG_BLOCK, &forwarded, &mask_before_);
        for (int sig : kForwardedSignals) {
            struct sigaction action {};
            sigaction(sig, nullptr, &action);
            // An ignored signal (nohup) stays ignored, in us and in the child.
            if (action.sa_handler == SIG_IGN) continue;
            action.sa_sigaction = forward_signal;
            action.sa_flags = SA_SIGINFO | SA_RESTART;
            sigemptyset(&action.sa_mask);
            sigaction(sig, &action, nullptr);
            installed_.push_back(sig);
        }
    }

    // In the forked child, before exec: default dispositions, original mask.
    void restore_in_child() const {
        for (int sig : installed_) signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &mask_before_, nullptr);
    }

    void start_forwarding_to(pid_t child) {
        g_child_pid = child;
        sigprocmask(SIG_SETMASK, &mask_before_, nullptr);
    }

    // Called before the child is reaped, so that its pid cannot be reused
    // by another process while we still forward to it.
    void stop_forwarding() { g_child_pid = 0; }

private:
    sigset_t mask_before_{};
    std::vector<int> installed_;
};

}  // namespace

ChildResult run_child(const std::vector<std::string>& command, const std::vector<std::string>& env) {
    std::vector<char*> argv, envp;
    for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);

    // The child writes its exec errno here; a successful exec closes it empty.
    int exec_error[2];
    if (pipe2(exec_error, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", strerror(errno)));

    SignalForwarding forwarding;
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        forwarding.start_forwarding_to(0);
        close(exec_error[0]);
        close(exec_error[1]);
        throw std::runtime_error(fmt::format("fork: {}", strerror(error)));
    }
    if (pid == 0) {
        close(exec_error[0]);
        forwarding.restore_in_child();
        execvpe(argv[0], argv.data(), envp.data());
        int error = errno;
        ssize_t ignored = write(exec_error[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    forwarding.start_forwarding_to(pid);
    close(exec_error[1]);

    ChildResult result;
    result.pid = pid;
    ssize_t n;
    while ((n = read(exec_error[0], &result.exec_errno, sizeof result.exec_errno)) < 0 && errno == EINTR) {
    }
    if (n != sizeof result.exec_errno) result.exec_errno = 0;
    close(exec_error[0]);

    siginfo_t info{};
    while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    forwarding.stop_forwarding();
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
        result.status = 128 + result.signal;
    } else {
        result.status = WEXITSTATUS(status);
    }
    return result;
}

}  // namespace fdtrack::cli
