// Tests that return addresses of the running process symbolise to the right function, file:line and module.
#include "preload/dump/symbolizer.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>

namespace fdtrack {
namespace {

// noclone and the empty asm keep the compiler from folding this into its caller, so the
// return address is a real call site in the test body.
__attribute__((noinline, noclone)) uintptr_t return_address_of_this_call() {
    asm volatile("");
    return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

std::string basename_of(const std::string& path) {
    return path.substr(path.find_last_of('/') + 1);
}

std::string this_executable() {
    char path[PATH_MAX];
    const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    return length > 0 ? std::string(path, length) : std::string();
}

TEST(Symbolizer, NamesTheCallerWithFileLineAndModule) {
    const uintptr_t address = return_address_of_this_call(); const int call_line = __LINE__;

    Symbolizer symbolizer;
    const NativeFrame frame = symbolizer.symbolize(address).back();

    EXPECT_EQ(frame.address, address);
    EXPECT_EQ(frame.function, "fdtrack::(anonymous namespace)::Symbolizer_NamesTheCallerWithFileLineAndModule_Test::TestBody()");
    EXPECT_EQ(basename_of(frame.file), "test_symbolizer.cpp");
    EXPECT_EQ(frame.line, call_line);
    EXPECT_EQ(frame.module, this_executable());
}

uintptr_t address_inside_qsort = 0;

int compare_ints(const void* left, const void* right) {
    address_inside_qsort = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    return *static_cast<const int*>(left) - *static_cast<const int*>(right);
}

TEST(Symbolizer, NamesFramesInsideLibc) {
    int values[] = {3, 1, 2};
    qsort(values, 3, sizeof values[0], compare_ints);
    ASSERT_NE(address_inside_qsort, 0u);

    Symbolizer symbolizer;
    const NativeFrame frame = symbolizer.symbolize(address_inside_qsort).back();

    EXPECT_FALSE(frame.function.empty());
    EXPECT_NE(frame.module.find("libc"), std::string::npos) << frame.module;
    EXPECT_EQ(frame.address, address_inside_qsort);
}

TEST(Symbolizer, AddressesOutsideAnyModuleHaveNoFunction) {
    Symbolizer symbolizer;
    for (uintptr_t address : {uintptr_t{0}, uintptr_t{1}, uintptr_t{0x10}, ~uintptr_t{0}}) {
        const NativeFrame frame = symbolizer.symbolize(address).back();
        EXPECT_EQ(frame.address, address);
        EXPECT_TRUE(frame.function.empty()) << frame.function;
        EXPECT_EQ(frame.module, "[unknown]") << std::hex << address;
        EXPECT_TRUE(frame.file.empty());
        EXPECT_EQ(frame.line, 0);
    }
}

// The Symbolizer reads the module list on first use; a library the program dlopens later must
// still resolve. libthread_db ships with glibc and no ordinary program loads it.
TEST(Symbolizer, FindsLibrariesLoadedAfterItsFirstUse) {
    Symbolizer symbolizer;
    symbolizer.symbolize(return_address_of_this_call());

    void* library = dlopen("libthread_db.so.1", RTLD_LAZY | RTLD_LOCAL);
    ASSERT_NE(library, nullptr) << dlerror();
    void* function = dlsym(library, "td_init");
    ASSERT_NE(function, nullptr);

    const NativeFrame frame = symbolizer.symbolize(reinterpret_cast<uintptr_t>(function) + 4).back();
    EXPECT_EQ(frame.function, "td_init");
    EXPECT_NE(frame.module.find("libthread_db"), std::string::npos) << frame.module;
    dlclose(library);
}

int open_fd_count() {
    DIR* directory = opendir("/proc/self/fd");
    if (directory == nullptr) return -1;
    int count = 0;
    while (readdir(directory) != nullptr) ++count;
    closedir(directory);
    return count;
}

// The Symbolizer runs inside the traced program: the ELF and debug files it opens must not
// outlive it, or they would show up as leaks in the next report.
TEST(Symbolizer, ClosesEveryFileItOpenedWhenDestroyed) {
    const int before = open_fd_count();
    {
        Symbolizer symbolizer;
        symbolizer.symbolize(return_address_of_this_call());
        symbolizer.symbolize(reinterpret_cast<uintptr_t>(&qsort) + 4);
        EXPECT_GT(open_fd_count(), before);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// Timing belongs in benchmarks, not tests: this checks that a large batch
// resolves and that repeated addresses give the cached answer.
TEST(Symbolizer, ThousandsOfAddressesResolveConsistently) {
    const uintptr_t in_executable = return_address_of_this_call();
    const uintptr_t in_libc = reinterpret_cast<uintptr_t>(&qsort);
    Symbolizer symbolizer;

    int named = 0;
    for (uintptr_t i = 0; i < 1000; ++i) {
        named += !symbolizer.symbolize(in_executable + i * 4).back().function.empty();
        named += !symbolizer.symbolize(in_libc + i * 4).back().function.empty();
    }
    EXPECT_GT(named, 1000);

    const NativeFrame first = symbolizer.symbolize(in_executable).back();
    const NativeFrame again = symbolizer.symbolize(in_executable).back();
    EXPECT_EQ(first.function, again.function);
    EXPECT_EQ(first.file, again.file);
    EXPECT_EQ(first.line, again.line);
}

}  // namespace
}  // namespace fdtrack
