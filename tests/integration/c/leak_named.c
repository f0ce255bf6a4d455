/* Creates the file named by argv[1] and leaves it open, then exits with
   status argv[2] (0 by default): a program whose leak has whatever name its
   caller chose, terminal escapes and newlines included. */
#include <fcntl.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600); /* LEAK: named */
    if (fd < 0) return 3;
    return argc > 2 ? atoi(argv[2]) : 0;
}
