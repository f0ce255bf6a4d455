// The fd reserve for dumps at the fd limit.
#include "preload/fd_reserve.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>

#include "preload/thread_state.h"

namespace fdtrack {
namespace {

// Enough for the fd listing, one ELF file at a time and a report file; the
// symbolizer falls back to the loader's symbols when it runs short.
constexpr int kReserved = 4;
std::atomic<int> g_reserve[kReserved] = {-1, -1, -1, -1};

}  // namespace

void reserve_fds() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < limit.rlim_max) return;
    Reentry own;  // our open hook moves each one high and hides it
    for (std::atomic<int>& slot : g_reserve) {
        if (slot.load() >= 0) continue;
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && slot.exchange(fd) >= 0) close(fd);  // another thread filled it meanwhile
    }
}

ReserveReleased::ReserveReleased() {
    Reentry own;
    for (std::atomic<int>& slot : g_reserve) {
        int fd = slot.exchange(-1);
        if (fd >= 0) close(fd);
    }
}

ReserveReleased::~ReserveReleased() { reserve_fds(); }

}  // namespace fdtrack
