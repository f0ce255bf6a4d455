// The fd table: chunks of slots mapped on first use, so any fd number up to
// the kernel's limit fits without a fixed cap and without malloc.
#include "preload/track/registry.h"

#include <string.h>
#include <sys/mman.h>

#include <climits>

#include "preload/track/site_counts.h"

namespace fdtrack {

// One cache line per fd: threads working on neighbouring fds do not contend.
struct alignas(64) Registry::Slot {
    std::atomic<uint32_t> seq;  // odd while a writer owns the slot
    std::atomic<uint8_t> origin;
    std::atomic<uint32_t> stack;
    std::atomic<pid_t> tid;
    std::atomic<const char*> call;
    std::atomic<int64_t> created_ns;
    std::atomic<uint64_t> thread[2];
    std::atomic<bool> held_by_stream;
    std::atomic<uintptr_t> closed_by;
};
static_assert(sizeof(Registry::Slot) == 64, "one cache line per fd: a chunk of 4096 fds is 256 KiB");

namespace {

constexpr int kChunkShift = 12;  // 4096 fds, 256 KiB per chunk
constexpr int kChunkSize = 1 << kChunkShift;
constexpr int kChunks = (INT_MAX >> kChunkShift) + 1;

std::atomic<Registry::Slot*> g_chunks[kChunks];  // zero-initialised: no constructor needed
Registry g_registry;

// Takes the slot for writing. Writers of one fd only overlap when the program
// itself races on that fd; a bounded spin keeps a slot left odd by a thread
// that died in fork from blocking us forever.
void lock(Registry::Slot& s) {
    for (int spins = 0;; ++spins) {
        uint32_t seq = s.seq.load(std::memory_order_relaxed);
        if ((seq & 1) == 0 || spins > (1 << 16)) {
            if (s.seq.compare_exchange_weak(seq, seq | 1, std::memory_order_acquire)) return;
        }
    }
}

void unlock(Registry::Slot& s) {
    s.seq.store((s.seq.load(std::memory_order_relaxed) | 1) + 1, std::memory_order_release);
}

bool counts(uint8_t origin) {
    auto o = static_cast<Origin>(origin);
    return o == Origin::tracked || is_found_open(o);
}

bool is_free(uint8_t origin) {
    return !is_open_origin(static_cast<Origin>(origin));
}

}  // namespace

Registry& registry() { return g_registry; }

Registry::Slot* Registry::slot(int fd, bool create) const {
    if (fd < 0) return nullptr;
    std::atomic<Slot*>& chunk = g_chunks[fd >> kChunkShift];
    Slot* slots = chunk.load(std::memory_order_acquire);
    if (!slots && create) {
        void* mem = mmap(nullptr, sizeof(Slot) * kChunkSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return nullptr;
        Slot* fresh = static_cast<Slot*>(mem);  // zeroed by the kernel: all slots empty
        if (chunk.compare_exchange_strong(slots, fresh, std::memory_order_acq_rel)) slots = fresh;
        else munmap(mem, sizeof(Slot) * kChunkSize);  // another thread won; `slots` holds its chunk
    }
    return slots ? &slots[fd & (kChunkSize - 1)] : nullptr;
}

// The time before the count, which releases it: as site_counts.cpp does.
void Registry::add_live(int delta) {
    live_changed_s_.store(wall_clock_seconds(), std::memory_order_relaxed);
    live_.fetch_add(delta, std::memory_order_release);
}

void Registry::put(int fd, const FdInfo& info) {
    Slot* s = slot(fd, true);
    if (!s) return;
    lock(*s);
    uint8_t before = s->origin.load(std::memory_order_relaxed);
    uint32_t before_stack = s->stack.load(std::memory_order_relaxed);
    s->call.store(info.call, std::memory_order_relaxed);
    s->stack.store(info.stack, std::memory_order_relaxed);
    s->tid.store(info.tid, std::memory_order_relaxed);
    s->created_ns.store(info.created_ns, std::memory_order_relaxed);
    uint64_t name[2];
    memcpy(name, info.thread, sizeof name);
    s->thread[0].store(name[0], std::memory_order_relaxed);
    s->thread[1].store(name[1], std::memory_order_relaxed);
    s->held_by_stream.store(info.held_by_stream, std::memory_order_relaxed);
    s->origin.store(static_cast<uint8_t>(info.origin), std::memory_order_relaxed);
    unlock(*s);
    // A missed close, or dup2's implicit one: the old site has one fewer.
    if (before == static_cast<uint8_t>(Origin::tracked)) count_open(before_stack, -1);
    if (info.origin == Origin::tracked) count_open(info.stack, 1);
    int delta = counts(static_cast<uint8_t>(info.origin)) - counts(before);
    if (delta) add_live(delta);
    int seen = max_fd_.load(std::memory_order_relaxed);
    while (fd > seen && !max_fd_.compare_exchange_weak(seen, fd, std::memory_order_relaxed)) {
    }
}

void Registry::put_inherited(int fd, Origin origin) {
    Slot* s = slot(fd, true);
    if (!s) return;
    lock(*s);
    bool was_empty = is_free(s->origin.load(std::memory_order_relaxed));
    if (was_empty) {
        s->held_by_stream.store(false, std::memory_order_relaxed);
        s->call.store(nullptr, std::memory_order_relaxed);
        s->stack.store(0, std::memory_order_relaxed);
        s->tid.store(0, std::memory_order_relaxed);
        s->created_ns.store(0, std::memory_order_relaxed);
        s->thread[0].store(0, std::memory_order_relaxed);
        s->thread[1].store(0, std::memory_order_relaxed);
        s->origin.store(static_cast<uint8_t>(origin), std::memory_order_relaxed);
    }
    unlock(*s);
    if (!was_empty) return;
    add_live(1);
    int seen = max_fd_.load(std::memory_order_relaxed);
    while (fd > seen && !max_fd_.compare_exchange_weak(seen, fd, std::memory_order_relaxed)) {
    }
}

Origin Registry::remove(int fd, FdInfo* removed, const void* closer) {
    Slot* s = slot(fd, false);
    if (!s) return Origin::empty;
    // A slot that holds no open fd needs no write.
    uint8_t seen = s->origin.load(std::memory_order_relaxed);
    if (is_free(seen)) {
        if (removed) *removed = get(fd);
        return static_cast<Origin>(seen);
    }
    lock(*s);
    uint8_t before = s->origin.load(std::memory_order_relaxed);
    if (removed) {
        removed->origin = static_cast<Origin>(before);
        removed->call = s->call.load(std::memory_order_relaxed);
        removed->stack = s->stack.load(std::memory_order_relaxed);
        removed->held_by_stream = s->held_by_stream.load(std::memory_order_relaxed);
    }
    // A closed number remembers it was open (tracked, inherited or open
    // before attach): closing it again is a double close, as valgrind reports it.
    bool was_program_fd = counts(before);
    Origin after = was_program_fd ? Origin::closed : Origin::empty;
    uint32_t stack = s->stack.load(std::memory_order_relaxed);
    s->closed_by.store(reinterpret_cast<uintptr_t>(closer), std::memory_order_relaxed);
    s->origin.store(static_cast<uint8_t>(after), std::memory_order_relaxed);
    unlock(*s);
    if (before == static_cast<uint8_t>(Origin::tracked)) count_open(stack, -1);
    if (counts(before)) add_live(-1);
    return static_cast<Origin>(before);
}

void Registry::vacate(int fd) {
    Slot* s = slot(fd, false);
    if (!s) return;
    lock(*s);
    s->origin.store(static_cast<uint8_t>(Origin::empty), std::memory_order_relaxed);
    unlock(*s);
}

FdInfo Registry::get(int fd) const {
    FdInfo info;
    const Slot* s = slot(fd, false);
    if (!s) return info;
    for (;;) {
        uint32_t seq = s->seq.load(std::memory_order_acquire);
        if (seq & 1) continue;
        info.origin = static_cast<Origin>(s->origin.load(std::memory_order_relaxed));
        info.call = s->call.load(std::memory_order_relaxed);
        info.stack = s->stack.load(std::memory_order_relaxed);
        info.tid = s->tid.load(std::memory_order_relaxed);
        info.created_ns = s->created_ns.load(std::memory_order_relaxed);
        uint64_t name[2] = {s->thread[0].load(std::memory_order_relaxed), s->thread[1].load(std::memory_order_relaxed)};
        memcpy(info.thread, name, sizeof name);
        info.thread[15] = '\0';
        info.held_by_stream = s->held_by_stream.load(std::memory_order_relaxed);
        info.closed_by = s->closed_by.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (s->seq.load(std::memory_order_relaxed) == seq) return info;
    }
}

Origin Registry::origin(int fd) const {
    const Slot* s = slot(fd, false);
    return s ? static_cast<Origin>(s->origin.load(std::memory_order_relaxed)) : Origin::empty;
}

void Registry::repair_after_fork() {
    int max = max_fd();
    for (int fd = 0; fd <= max; ++fd) {
        Slot* s = slot(fd, false);
        if (!s) {
            fd |= kChunkSize - 1;  // skip the whole unmapped chunk
            continue;
        }
        uint32_t seq = s->seq.load(std::memory_order_relaxed);
        if (seq & 1) s->seq.store(seq + 1, std::memory_order_relaxed);
    }
}

void Registry::clear() {
    int max = max_fd();
    for (int fd = 0; fd <= max; ++fd) {
        Slot* s = slot(fd, false);
        if (!s) {
            fd |= kChunkSize - 1;
            continue;
        }
        uint8_t origin = s->origin.load(std::memory_order_relaxed);
        if (origin == static_cast<uint8_t>(Origin::empty) || origin == static_cast<uint8_t>(Origin::own)) continue;
        lock(*s);
        s->origin.store(static_cast<uint8_t>(Origin::empty), std::memory_order_relaxed);
        s->stack.store(0, std::memory_order_relaxed);
        s->closed_by.store(0, std::memory_order_relaxed);
        unlock(*s);
    }
    live_changed_s_.store(wall_clock_seconds(), std::memory_order_relaxed);
    live_.store(0, std::memory_order_release);
}

}  // namespace fdtrack
