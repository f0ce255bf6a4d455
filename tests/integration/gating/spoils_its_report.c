/* Leaks an fd, then puts a directory where fdtrack run expects its exit
   report (FDTRACK_EXIT_REPORT.<pid>.json): the report there is unreadable,
   and the gate must not pass the program for it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    if (open("/dev/null", O_RDONLY) < 0) return 99; /* LEAK: spoiled */
    const char* prefix = getenv("FDTRACK_EXIT_REPORT");
    if (!prefix) return 98;
    char path[4096];
    snprintf(path, sizeof path, "%s.%d.json", prefix, (int)getpid());
    return mkdir(path, 0700) == 0 ? 0 : 97;
}
