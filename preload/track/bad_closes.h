// Bad closes seen by the close hook: a second close of a number already closed
// (it may close another thread's fd), a close of a number never open (once
// per closing line), and close() of an fd that a FILE or DIR still owns (its
// fclose or closedir will close the number again).
#pragma once

#include <cstdint>
#include <vector>

namespace fdtrack {

struct BadCloseRecord {
    int fd;
    const char* error;     // "double_close" | "never_opened" | "owned_by_stream"
    uint32_t site;         // stack of the bad close
    uint32_t opened_site;  // stack that opened the fd
    uint32_t previous_close_site;  // double_close: the code that closed it first (one frame), or 0
};

// Lock-free; keeps the first few thousand, which is plenty to name the bug.
void record_bad_close(int fd, const char* error, uint32_t site, uint32_t opened_site,
                      uint32_t previous_close_site = 0);

// Every bad close so far, oldest first (report time).
std::vector<BadCloseRecord> bad_closes();

// Forgets them all (detach: a later attach reports only its own period).
void clear_bad_closes();

}  // namespace fdtrack
