/* What every test program shares: fail loudly, and the exit status the tests expect. */
#pragma once
#include <stdio.h>
#include <stdlib.h>

/* Distinctive, so a test can tell that fdtrack run handed back the program's own status. */
#define EXIT_EXPECTED 7

/* A failed set-up step must not look like a missing report: exit 99 and say why. */
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            perror("");                                                          \
            exit(99);                                                            \
        }                                                                        \
    } while (0)
