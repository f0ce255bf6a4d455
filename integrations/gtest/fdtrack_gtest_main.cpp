// A gtest_main that also checks every test for leaked fds: link it instead of gtest_main.
#include <fdtrack/fdtrack_gtest.h>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    fdtrack::gtest::InstallLeakListener();
    return RUN_ALL_TESTS();
}
