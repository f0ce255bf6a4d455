/* Built with -static: a program the dynamic loader never runs, so it loads
   no preload. Prints what each of its fds points to, one per line. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return 99;
    for (struct dirent* entry; (entry = readdir(dir));) {
        char link[300], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", entry->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) printf("%.*s\n", (int)n, target);
    }
    closedir(dir);
    return 0;
}
