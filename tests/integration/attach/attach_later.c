/* A library attach_self.c dlopens after fdtrack_attach_start: its call to
   open must reach fdtrack through the GOT redirected when it was loaded. */
#include <fcntl.h>

int later_open(const char* path) {
    return open(path, O_RDONLY); /* LEAK: later */
}
