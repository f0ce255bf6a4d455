// GoogleTest integration of fdtrack: a listener that fails each test which leaves open an fd it
// opened, naming where that fd was opened. Does nothing when libfdtrack.so is not preloaded.
//
//   int main(int argc, char** argv) {
//       ::testing::InitGoogleTest(&argc, argv);
//       fdtrack::gtest::InstallLeakListener();
//       return RUN_ALL_TESTS();
//   }
//
// or link fdtrack_gtest_main instead of gtest_main.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include <fdtrack/fdtrack.h>

namespace fdtrack::gtest {

// The property a test records to say its leaks are intended (see FDTRACK_ALLOW_LEAK).
inline constexpr const char* kAllowLeakProperty = "fdtrack_allow_leak";

// Takes a checkpoint as each test starts (before its fixture is built) and, when the test ends
// (after its fixture is torn down), adds a failure to it for every fd created in between that is
// still open, except those passed to fdtrack_ignore_fd. A test that already failed or was
// skipped is not checked: it has likely skipped its own cleanup.
class LeakListener : public ::testing::EmptyTestEventListener {
public:
    void OnTestStart(const ::testing::TestInfo& test) override;
    void OnTestEnd(const ::testing::TestInfo& test) override;

private:
    uint64_t checkpoint_ = 0;
};

// Appends a LeakListener to GoogleTest's listeners (call after InitGoogleTest). Without the
// preload it only says, once, that the checks are off. Returns whether the checks are on.
bool InstallLeakListener();

}  // namespace fdtrack::gtest

// In a test body: the fds this test leaves open are intended (a connection kept by a singleton,
// a cache file). To allow one fd rather than the whole test, call fdtrack_ignore_fd(fd).
#define FDTRACK_ALLOW_LEAK() ::testing::Test::RecordProperty(::fdtrack::gtest::kAllowLeakProperty, "1")
