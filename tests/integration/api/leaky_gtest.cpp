// GoogleTest cases for the fdtrack listener (linked with fdtrack_gtest_main): one leaks, the
// others are clean, close what they open, or keep fds open on purpose.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fdtrack/fdtrack_gtest.h>

namespace {

int g_kept_fd = -1;  // outlives its test on purpose

TEST(Fds, Leaks) {
    int fd = open("/etc/hostname", O_RDONLY); /* LEAK: gtest_leak */
    EXPECT_GE(fd, 0);
}

TEST(Fds, Clean) {
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* CLOSED: gtest_clean */
    EXPECT_GE(fd, 0);
    close(fd);
}

class WithFixture : public ::testing::Test {
protected:
    void SetUp() override { fd_ = open("/dev/null", O_RDONLY); }
    void TearDown() override { close(fd_); }
    int fd_ = -1;
};

// The fixture's fd is closed in TearDown, before the listener looks.
TEST_F(WithFixture, ClosedInTearDown) {
    EXPECT_GE(fd_, 0);
}

TEST(Fds, IgnoredFd) {
    g_kept_fd = open("/dev/null", O_RDONLY);
    EXPECT_GE(g_kept_fd, 0);
    fdtrack_ignore_fd(g_kept_fd);
}

TEST(Fds, AllowedLeak) {
    FDTRACK_ALLOW_LEAK();
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
}

}  // namespace
