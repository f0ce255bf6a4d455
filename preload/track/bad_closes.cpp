// A fixed array of bad closes, appended to with one atomic increment.
#include "preload/track/bad_closes.h"

#include <atomic>
#include <cstring>

namespace fdtrack {
namespace {

constexpr int kCapacity = 4096;
BadCloseRecord g_records[kCapacity];
std::atomic<int> g_reserved{0};
std::atomic<bool> g_ready[kCapacity];

}  // namespace

void record_bad_close(int fd, const char* error, uint32_t site, uint32_t opened_site, uint32_t previous_close_site) {
    // A close-everything loop closes hundreds of numbers never opened from
    // one line: that line is named once.
    if (!strcmp(error, "never_opened")) {
        int n = g_reserved.load(std::memory_order_relaxed);
        for (int i = 0; i < n && i < kCapacity; ++i) {
            if (g_ready[i].load(std::memory_order_acquire) && g_records[i].site == site &&
                !strcmp(g_records[i].error, error))
                return;
        }
    }
    int index = g_reserved.fetch_add(1, std::memory_order_relaxed);
    if (index >= kCapacity) return;
    g_records[index] = {fd, error, site, opened_site, previous_close_site};
    g_ready[index].store(true, std::memory_order_release);
}

std::vector<BadCloseRecord> bad_closes() {
    std::vector<BadCloseRecord> records;
    int n = g_reserved.load(std::memory_order_relaxed);
    for (int i = 0; i < n && i < kCapacity; ++i) {
        if (g_ready[i].load(std::memory_order_acquire)) records.push_back(g_records[i]);
    }
    return records;
}

void clear_bad_closes() {
    int n = g_reserved.exchange(0);
    for (int i = 0; i < n && i < kCapacity; ++i) g_ready[i].store(false, std::memory_order_relaxed);
}

}  // namespace fdtrack
