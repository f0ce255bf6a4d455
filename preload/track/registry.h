// The table of live descriptors, indexed by fd number: who created each one,
// when, on which thread and from which stack. Lock-free: the kernel never hands
// out a live number twice, so each slot has one writer at a time; a per-slot
// sequence number lets dumps read while hooks write.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>

namespace fdtrack {

enum class Origin : uint8_t {
    empty = 0,
    tracked,    // created through a hook while fdtrack was tracking
    inherited,  // already open when the library loaded
    own,        // fdtrack's own descriptor: hidden from the program and the report
    closed,     // was tracked or inherited, then closed through a hook: not open,
                // but a second close of the number is a double close (its opener is kept)
    before_attach,  // already open when `fdtrack attach` started tracking: never a leak, no site
};

// Whether a slot holds an fd that is open as far as the registry knows.
inline bool is_open_origin(Origin origin) {
    return origin == Origin::tracked || origin == Origin::inherited || origin == Origin::own ||
           origin == Origin::before_attach;
}

// The program's fds that were open before fdtrack saw them created (not fdtrack's own).
inline bool is_found_open(Origin origin) { return origin == Origin::inherited || origin == Origin::before_attach; }

// The clock records are stamped with: CLOCK_MONOTONIC is system-wide, so
// ages stay right across an exec hand-over.
inline int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Seconds since the epoch. Not time(): it is an IFUNC, and a reference to
// it runs its resolver when the library is loaded, a page fault in every
// process, tracked or not (issue #10, item 8).
inline int64_t wall_clock_seconds() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

struct FdInfo {
    Origin origin = Origin::empty;
    const char* call = nullptr;  // a string literal: the hooked function's name
    uint32_t stack = 0;          // id in the stack table; 0 = none
    pid_t tid = 0;
    int64_t created_ns = 0;      // CLOCK_MONOTONIC
    char thread[16] = {};
    bool held_by_stream = false; // a FILE or DIR owns it: close() on it is a bad close
    uintptr_t closed_by = 0;     // Origin::closed: the return address in the code that closed it
};

class Registry {
public:
    // Records `fd` as created now, replacing whatever the slot held (a missed
    // close, or the implicit close of dup2 onto a live fd).
    void put(int fd, const FdInfo& info);
    // Records an fd found open when tracking started (`origin`: inherited at
    // load, before_attach at attach), unless a hook got there first.
    void put_inherited(int fd, Origin origin = Origin::inherited);
    // Forgets `fd` and returns what it was (Origin::empty if unknown); a
    // tracked record becomes Origin::closed and keeps its opener, and
    // `closer` (the caller of close: one address, no stack walk on a close).
    // With `removed`, also copies the record as it was.
    Origin remove(int fd, FdInfo* removed = nullptr, const void* closer = nullptr);
    // In a copy of the process that closed its copy of `fd` once described
    // (close_directly, tracker.h): the number is free there, to be reused by
    // the copy's own files, and the counts stay the program's, which its
    // report gives.
    void vacate(int fd);
    // A consistent copy of slot `fd`.
    FdInfo get(int fd) const;
    Origin origin(int fd) const;

    int max_fd() const { return max_fd_.load(std::memory_order_relaxed); }
    int live_count() const { return live_.load(std::memory_order_acquire); }
    // The wall-clock second of live_count()'s last change, 0 for none (the
    // history dates its points by it); read after live_count().
    int64_t live_changed_s() const { return live_changed_s_.load(std::memory_order_relaxed); }

    // In a fork child another thread may have died mid-write: reopen its slots.
    void repair_after_fork();
    // Empties every slot but fdtrack's own (detach, and the start of an
    // attach): the chunks stay mapped, since a hook still in flight may be
    // about to write one.
    void clear();

    struct Slot;

private:
    Slot* slot(int fd, bool create) const;
    void add_live(int delta);
    std::atomic<int> max_fd_{-1};
    std::atomic<int> live_{0};  // slots not empty and not own
    std::atomic<int64_t> live_changed_s_{0};
};

Registry& registry();

}  // namespace fdtrack
