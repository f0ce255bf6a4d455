/* A shared library that opens (and leaks) a file in its constructor, for
   dlopen.c to load at run time. */
#include <fcntl.h>

int opener_fd = -1;

__attribute__((constructor)) static void open_at_load(void) {
    opener_fd = open("/etc/hostname", O_RDONLY); /* LEAK: constructor */
}
