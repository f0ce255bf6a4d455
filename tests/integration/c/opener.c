/* A shared library that opens (and leaks) a file in its constructor, for
   dlopen.c to load at run time and early.c to be linked with. A syscall()
   comes first, as CPython 3.13's mimalloc and jemalloc make one from their
   constructors: the first hook that reaches fdtrack is then not an open. */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int opener_fd = -1;

__attribute__((constructor(101))) static void open_at_load(void) {
    syscall(SYS_getpid);
    opener_fd = open("/etc/hostname", O_RDONLY); /* LEAK: constructor */
}
