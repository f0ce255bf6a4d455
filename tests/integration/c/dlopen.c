/* dlopen of a library (opener.c) whose constructor leaks an fd: the fd is
   tracked with the library's frame. Usage: dlopen LIBRARY */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "check.h"

int main(int argc, char** argv) {
    CHECK(argc == 2);
    void* library = dlopen(argv[1], RTLD_NOW);
    if (!library) fprintf(stderr, "%s\n", dlerror());
    CHECK(library);
    int* fd = dlsym(library, "opener_fd");
    CHECK(fd && *fd >= 0);
    printf("%d\n", *fd);
    return EXIT_EXPECTED;
}
