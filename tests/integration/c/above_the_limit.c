/* Fds above the soft limit, which the kernel keeps when the limit is lowered
   after they were opened: one fdtrack saw (dup2 to 900) and one it did not
   (dup3 to 800 by a syscall instruction of its own, past every libc entry
   point). Its reports must still list both. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

static long raw_dup3(long from, long to) {
#if defined(__x86_64__)
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(SYS_dup3), "D"(from), "S"(to), "d"(0) : "rcx", "r11", "memory");
    return result;
#else
    return syscall(SYS_dup3, from, to, 0);  /* seen by fdtrack's syscall hook: the test then fails */
#endif
}

int main(void) {
    CHECK(dup2(1, 900) == 900); /* LEAK: seen */
    CHECK(raw_dup3(1, 800) == 800);
    struct rlimit limit;
    CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    limit.rlim_cur = 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0);
    return EXIT_EXPECTED;
}
