// The hand-over file: what survives an exec, written just before it and read
// by the new image's constructor. Matching by (fd, device, inode) makes a
// stale or foreign file harmless.
#include "preload/exec_handover.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "preload/arena.h"
#include "preload/config.h"
#include "preload/registry.h"
#include "preload/snapshot.h"
#include "preload/stack_table.h"
#include "preload/symbolizer.h"
#include "preload/thread_state.h"
#include "preload/tracker.h"
#include "report/report_json.h"

namespace fdtrack {
namespace {

// Written once, in the constructor; never destroyed, so an exit report taken
// after static destructors still finds it.
std::map<uint32_t, Site>& foreign_sites() {
    static auto* sites = new std::map<uint32_t, Site>;
    return *sites;
}

// Next to `fdtrack run`'s exit reports when there is one, else the temp dir.
std::string handover_dir() {
    if (const char* prefix = config().exit_report) {
        std::string dir = prefix;
        size_t slash = dir.rfind('/');
        return slash == std::string::npos ? "." : dir.substr(0, slash);
    }
    const char* tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

std::string handover_path(const char* kind, long pid) {
    return handover_dir() + "/fdtrack-handover." + kind + std::to_string(pid) + ".json";
}

bool identity(int fd, uint64_t* dev, uint64_t* ino) {
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0) return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

void write_handover(const std::string& path) {
    Reentry own;
    int saved = errno;
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
        if (report.fds.empty()) {
            unlink(path.c_str());
            errno = saved;
            return;
        }
        Symbolizer symbolizer;
        for (uint32_t id : stacks) report.sites.push_back(symbolize_site(id, symbolizer));
        nlohmann::json document = {{"identities", identities},
                                   {"report", nlohmann::json::parse(report_to_json(report))}};
        std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << document.dump();
        }
        rename(tmp.c_str(), path.c_str());
    } catch (...) {
        // A hand-over is a nicety: the child then reports these fds as inherited.
    }
    errno = saved;
}

bool take_over_from(const std::string& path, bool remove_after) {
    std::ifstream in(path);
    if (!in) return false;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (remove_after) unlink(path.c_str());
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
    return true;
}

}  // namespace

void hand_over_before_exec() {
    if (fdtrack_vfork_child) return;  // shares our memory: may not allocate or write files
    if (!exec_stays_tracked()) return;  // nobody would read it
    write_handover(handover_path("", static_cast<long>(getpid())));
}

void hand_over_before_spawn() {
    if (!config().follow_children) return;
    write_handover(handover_path("from.", static_cast<long>(getpid())));
}

void take_over_after_exec() {
    Reentry own;
    try {
        if (!take_over_from(handover_path("", static_cast<long>(getpid())), true) && config().follow_children) {
            take_over_from(handover_path("from.", static_cast<long>(getppid())), false);
        }
    } catch (...) {
        // Unreadable or foreign: the fds stay "inherited".
    }
}

const Site* foreign_site(uint32_t stack_id) {
    if (stack_id == 0) return nullptr;
    auto it = foreign_sites().find(stack_id);
    return it == foreign_sites().end() ? nullptr : &it->second;
}

void remove_spawn_handover() {
    if (config().follow_children) unlink(handover_path("from.", static_cast<long>(getpid())).c_str());
}

}  // namespace fdtrack
