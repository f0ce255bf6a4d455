// The GoogleTest leak listener: checkpoint at test start, fds still open at test end become
// failures with their allocation sites.
#include <fdtrack/fdtrack_gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace fdtrack::gtest {
namespace {

bool allows_leaks(const ::testing::TestResult& result) {
    for (int i = 0; i < result.test_property_count(); ++i) {
        if (std::string_view(result.GetTestProperty(i).key()) == kAllowLeakProperty) return true;
    }
    return false;
}

std::vector<fdtrack_fd_info> open_since(uint64_t checkpoint) {
    std::vector<fdtrack_fd_info> fds(16);
    for (;;) {
        int n = fdtrack_open_since(checkpoint, fds.data(), static_cast<int>(fds.size()));
        if (n <= static_cast<int>(fds.size())) {
            fds.resize(n > 0 ? n : 0);
            return fds;
        }
        fds.resize(n);  // more opened meanwhile (another thread): ask again
    }
}

std::string allocation_site(int fd) {
    // Symbolising is slow: a second call only for a very deep stack.
    std::string text(16384, '\0');
    int length = fdtrack_format_fd(fd, text.data(), text.size());
    if (length >= static_cast<int>(text.size())) {
        text.assign(static_cast<size_t>(length) + 1, '\0');
        length = fdtrack_format_fd(fd, text.data(), text.size());
    }
    if (length < 0) return "fd " + std::to_string(fd) + " (closed by another thread while being reported)\n";
    text.resize(std::min(static_cast<size_t>(length), text.size() - 1));
    return text;
}

}  // namespace

void LeakListener::OnTestStart(const ::testing::TestInfo&) {
    checkpoint_ = fdtrack_checkpoint();
}

void LeakListener::OnTestEnd(const ::testing::TestInfo& test) {
    const ::testing::TestResult& result = *test.result();
    if (result.Failed() || result.Skipped() || allows_leaks(result)) return;
    std::vector<fdtrack_fd_info> leaked = open_since(checkpoint_);
    if (leaked.empty()) return;
    std::string message = "fdtrack: this test left open " + std::to_string(leaked.size()) +
                          (leaked.size() == 1 ? " fd" : " fds") + " that it opened:\n";
    for (const fdtrack_fd_info& fd : leaked) message += allocation_site(fd.fd);
    message +=
        "If an fd is meant to outlive the test, call fdtrack_ignore_fd(fd) or put FDTRACK_ALLOW_LEAK() in the "
        "test.";
    // Attributed to the TEST() line: the leak belongs to the test, not to this listener.
    ADD_FAILURE_AT(test.file(), test.line()) << message;
}

bool InstallLeakListener() {
    if (!fdtrack_active()) {
        static bool said = false;
        if (!said) {
            said = true;
            std::fprintf(stderr,
                         "fdtrack: libfdtrack.so is not preloaded; fd leak checks are off "
                         "(run the tests under `fdtrack run` or with LD_PRELOAD=libfdtrack.so)\n");
        }
        return false;
    }
    ::testing::UnitTest::GetInstance()->listeners().Append(new LeakListener);
    return true;
}

}  // namespace fdtrack::gtest
