// The hand-over file: what survives an exec, written just before it and read
// by the new image's constructor. Matching by (fd, device, inode) makes a
// stale or foreign file harmless.
#include "preload/hooks/exec_handover.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "preload/track/arena.h"
#include "preload/track/config.h"
#include "preload/track/registry.h"
#include "preload/dump/report_files.h"
#include "preload/dump/snapshot.h"
#include "preload/track/stack_table.h"
#include "preload/dump/symbolizer.h"
#include "preload/track/thread_state.h"
#include "preload/track/tracker.h"
#include "report/report_json.h"

namespace fdtrack {
namespace {

// Written once, in the constructor; never destroyed, so an exit report taken
// after static destructors still finds it.
std::map<uint32_t, Site>& foreign_sites() {
    static auto* sites = new std::map<uint32_t, Site>;
    return *sites;
}

// The hand-over travels in a sealed memfd that the new image inherits: no
// file in a shared directory, which another user could plant or redirect.
// Its name says which process made it, and only that process's new image
// (same pid: exec) or child (parent pid: a followed spawn) takes it.
constexpr char kNamePrefix[] = "fdtrack-handover.";
constexpr unsigned kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
constexpr off_t kMaxSize = 64 << 20;

bool identity(int fd, uint64_t* dev, uint64_t* ino) {
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0) return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

// Writes the tracked fds that survive an exec (no CLOEXEC), with their
// symbolised sites, into a sealed memfd; -1 when there are none.
int write_handover() {
    Reentry own;
    int saved = errno;
    int memfd = -1;
    try {
        Report report;
        nlohmann::json identities = nlohmann::json::object();
        std::set<uint32_t> stacks;
        int64_t now = monotonic_ns();
        for (int fd = 3; fd <= registry().max_fd(); ++fd) {
            FdInfo info = registry().get(fd);
            if (info.origin != Origin::tracked) continue;
            long flags = syscall(SYS_fcntl, fd, F_GETFD);
            uint64_t dev, ino;
            if (flags < 0 || (flags & FD_CLOEXEC) || !identity(fd, &dev, &ino)) continue;
            FdEntry entry;
            entry.fd = fd;
            entry.origin = "tracked";
            entry.call = info.call ? info.call : "";
            entry.age_s = double(now - info.created_ns) / 1e9;
            entry.tid = info.tid;
            entry.thread = info.thread;
            entry.site = static_cast<int>(info.stack);
            report.fds.push_back(entry);
            identities[std::to_string(fd)] = {dev, ino};
            stacks.insert(info.stack);
        }
        if (!report.fds.empty()) {
            Symbolizer symbolizer;
            for (uint32_t id : stacks) report.sites.push_back(symbolize_site(id, symbolizer));
            std::string text = nlohmann::json{{"identities", identities},
                                              {"report", nlohmann::json::parse(report_to_json(report))}}
                                   .dump();
            std::string name = kNamePrefix + std::to_string(getpid());
            memfd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);  // an own fd: moved up, hidden
            if (memfd >= 0 && (!write_all(memfd, text) || fcntl(memfd, F_ADD_SEALS, kSeals) != 0)) {
                close(memfd);
                memfd = -1;
            }
        }
    } catch (...) {
        // A hand-over is a nicety: the child then reports these fds as inherited.
        if (memfd >= 0) close(memfd);
        memfd = -1;
    }
    errno = saved;
    return memfd;
}

// Whether `envp` preloads this very library: a hand-over for an image that
// will not load fdtrack would stay open there as a stray fd.
bool preloads_fdtrack(char* const* envp) {
    Dl_info self;
    if (!dladdr(reinterpret_cast<void*>(&preloads_fdtrack), &self) || !self.dli_fname) return false;
    const char* name = strrchr(self.dli_fname, '/');
    name = name ? name + 1 : self.dli_fname;
    for (char* const* entry = envp; entry && *entry; ++entry) {
        if (strncmp(*entry, "LD_PRELOAD=", 11) == 0 && strstr(*entry + 11, name)) return true;
    }
    return false;
}

// Whether the image at `path` runs the dynamic loader, which alone reads
// LD_PRELOAD: not a static binary, and not setuid or setgid to someone else
// (the loader then ignores a preload given with a path). A path that is not
// one (a PATH search, an fd) or cannot be read counts as yes.
bool runs_the_loader(const char* path) {
    if (!path || !strchr(path, '/')) return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);  // in fdtrack's own scope: the exec hook's
    if (fd < 0) return true;
    bool loader = true;
    struct stat st;
    ElfW(Ehdr) header;
    if (fstat(fd, &st) == 0 && (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
                                ((st.st_mode & S_ISGID) && st.st_gid != getegid()))) {
        loader = false;
    } else if (pread(fd, &header, sizeof header, 0) == sizeof header && !memcmp(header.e_ident, ELFMAG, SELFMAG) &&
               header.e_phentsize == sizeof(ElfW(Phdr)) && header.e_phnum < 256) {
        loader = false;  // an ELF file: only with a PT_INTERP (a script has an interpreter that is one)
        for (int i = 0; i < header.e_phnum && !loader; ++i) {
            ElfW(Phdr) segment;
            off_t at = static_cast<off_t>(header.e_phoff + i * sizeof segment);
            if (pread(fd, &segment, sizeof segment, at) != sizeof segment) loader = true;
            else if (segment.p_type == PT_INTERP) loader = true;
        }
    }
    close(fd);
    return loader;
}

// The process that made hand-over memfd `fd`, from its name; 0 when `fd` is
// no hand-over.
long handover_maker(int fd) {
    char link[64], target[128];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = '\0';
    std::string prefix = std::string("/memfd:") + kNamePrefix;
    if (strncmp(target, prefix.c_str(), prefix.size()) != 0) return 0;
    long maker = 0;
    char rest[16] = "";
    if (sscanf(target + prefix.size(), "%ld%15[^\n]", &maker, rest) != 2 || strcmp(rest, " (deleted)") != 0) return 0;
    return maker;
}

// Its contents can no longer change.
bool is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (static_cast<unsigned>(seals) & kSeals) == kSeals;
}

std::string read_all(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxSize) return {};
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = pread(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return {};
        done += static_cast<size_t>(n);
    }
    return text;
}

// Attributes the inherited fds that match the hand-over `text` describes.
void take_over(const std::string& text) {
    nlohmann::json document = nlohmann::json::parse(text);
    Report report = report_from_json(document.at("report").dump());
    std::map<int, const Site*> sites;
    for (const Site& site : report.sites) sites[site.id] = &site;
    int64_t now = monotonic_ns();
    for (const FdEntry& entry : report.fds) {
        auto known = document.at("identities").find(std::to_string(entry.fd));
        uint64_t dev, ino;
        if (known == document.at("identities").end() || !entry.site || !sites.count(*entry.site)) continue;
        if (registry().origin(entry.fd) != Origin::inherited || !identity(entry.fd, &dev, &ino)) continue;
        if ((*known)[0].get<uint64_t>() != dev || (*known)[1].get<uint64_t>() != ino) continue;
        uint32_t id = stack_table().reserve_id();
        Site site = *sites[*entry.site];
        site.id = static_cast<int>(id);
        foreign_sites()[id] = site;
        FdInfo info;
        info.origin = Origin::tracked;
        info.call = arena_strdup(entry.call.c_str(), 64);  // records keep the name for good
        info.stack = id;
        info.tid = entry.tid;
        info.created_ns = now - static_cast<int64_t>(entry.age_s * 1e9);  // CLOCK_MONOTONIC is system-wide
        snprintf(info.thread, sizeof info.thread, "%s", entry.thread.c_str());
        registry().put(entry.fd, info);
    }
}

}  // namespace

Handover::~Handover() {
    if (memfd_ < 0) return;  // never made in a vfork child: no Reentry there
    Reentry own;  // fdtrack's own fd: the close hook refuses it to the program
    close(memfd_);  // the exec failed, or the spawned child has its copy
}

Handover::Handover(Handover&& other) noexcept : memfd_(other.memfd_) { other.memfd_ = -1; }

Handover hand_over_before_exec(const char* image, char* const* envp) {
    if (fdtrack_vfork_child) return {};  // shares our memory: may not allocate
    // Nobody would read it: a child that is not followed, an environment
    // without the preload, an image that never runs the loader.
    if (!exec_stays_tracked() || !preloads_fdtrack(envp ? envp : environ) || !runs_the_loader(image)) return {};
    Handover handover;
    handover.memfd_ = write_handover();
    // Only now may the new image inherit it. Another thread's fork in this
    // instant passes it on too: that child's image closes a hand-over it
    // does not take (take_over_after_exec).
    if (handover.memfd_ >= 0) fcntl(handover.memfd_, F_SETFD, 0);
    return handover;
}

Handover hand_over_before_spawn(const char* image, char* const* envp) {
    if (!config().follow_children) return {};
    // A child whose environment no longer asks to be followed stays dormant
    // and would keep the memfd open all its life.
    constexpr char kFollow[] = "FDTRACK_FOLLOW_CHILDREN=";
    bool followed = false;
    for (char* const* entry = envp ? envp : environ; entry && *entry; ++entry) {
        if (strncmp(*entry, kFollow, sizeof kFollow - 1) == 0 && !parse_bool(*entry + sizeof kFollow - 1, &followed))
            followed = false;  // malformed: the child keeps the default
    }
    return followed ? hand_over_before_exec(image, envp) : Handover{};
}

void take_over_after_exec() {
    Reentry own;
    long self = getpid(), parent = getppid();
    for (int fd = 0, max = registry().max_fd(); fd <= max; ++fd) {
        if (registry().origin(fd) != Origin::inherited) continue;
        long maker = handover_maker(fd);
        if (!maker) continue;
        bool ours = maker == self || (config().follow_children && maker == parent);
        try {
            if (ours && is_sealed(fd)) take_over(read_all(fd));
        } catch (...) {
            // Unreadable: the fds stay "inherited".
        }
        // Taken or not (a parent that died, a child not followed), it is no
        // fd of the program's: it never knew of it.
        registry().remove(fd);
        syscall(SYS_close, fd);
    }
}

const Site* foreign_site(uint32_t stack_id) {
    if (stack_id == 0) return nullptr;
    auto it = foreign_sites().find(stack_id);
    return it == foreign_sites().end() ? nullptr : &it->second;
}

}  // namespace fdtrack
