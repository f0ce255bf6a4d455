// Describes the calling process's own open fds the way lsof would: what the
// /proc fd link, fstat, fcntl and the socket calls say about each descriptor.
#include "preload/dump/fd_describe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace fdtrack {
namespace {

// /proc/thread-self, not /proc/self: a thread that unshared its fd table
// (unshare(CLONE_FILES)) sees different fds than the thread-group leader, and
// the fcntl/getsockopt calls below see the calling thread's table.
constexpr const char* kProc = "/proc/thread-self";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Closes the describer's one extra fd even when a bad_alloc unwinds past it.
struct ScopedFd {
    int fd;
    explicit ScopedFd(int opened) : fd(opened) {}
    ScopedFd(const ScopedFd&) = delete;
    ScopedFd& operator=(const ScopedFd&) = delete;
    ~ScopedFd() {
        if (fd >= 0) close(fd);
    }
};

std::string fd_link(int fd) {
    char path[64];
    snprintf(path, sizeof path, "%s/fd/%d", kProc, fd);
    char buf[4096 + 64];
    ssize_t n = readlink(path, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// Reads a /proc text file line by line through one short-lived fd, stopping
// after max_bytes (an epoll watching 100k fds has a megabyte of fdinfo) or when
// on_line returns false. Returns false when the file could not be opened, e.g.
// at the fd limit.
template <typename OnLine>
bool for_each_line(const char* path, size_t max_bytes, OnLine on_line) {
    ScopedFd file(open(path, O_RDONLY | O_CLOEXEC));
    if (file.fd < 0) return false;
    std::string pending;
    char chunk[16384];
    size_t total = 0;
    bool more = true;
    while (more && total < max_bytes) {
        ssize_t n = read(file.fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        pending.append(chunk, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl; more && (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
            more = on_line(std::string_view(pending).substr(start, nl - start));
        pending.erase(0, start);
    }
    if (more && !pending.empty()) on_line(std::string_view(pending));
    return true;
}

std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) fields.push_back(line.substr(start, i - start));
    }
    return fields;
}

uint64_t parse_u64(std::string_view s, int base) {
    std::string copy(s);
    return strtoull(copy.c_str(), nullptr, base);
}

// The inode number in "socket:[123]", "pipe:[123]".
uint64_t bracket_inode(std::string_view link) {
    size_t open = link.find('[');
    return open == std::string_view::npos ? 0 : parse_u64(link.substr(open + 1), 10);
}

// include/net/tcp_states.h, with the names lsof and netstat print.
const char* tcp_state_name(unsigned state) {
    static constexpr const char* kNames[] = {"",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1",
                                             "FIN_WAIT2", "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT", "LAST_ACK",
                                             "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
    return state < std::size(kNames) ? kNames[state] : "UNKNOWN";
}

std::string format_inet(int family, const void* addr, unsigned port) {
    char host[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, host, sizeof host);
    if (family == AF_INET6) return "[" + std::string(host) + "]:" + std::to_string(port);
    return std::string(host) + ":" + std::to_string(port);
}

std::string format_sockaddr(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(a);
        return format_inet(AF_INET, &in.sin_addr, ntohs(in.sin_port));
    }
    if (a.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
        return format_inet(AF_INET6, &in6.sin6_addr, ntohs(in6.sin6_port));
    }
    return {};
}

// A unix socket address as lsof and ss print it: the path, "@name" for the
// abstract namespace (whose names may hold NULs, shown as '@'), or empty when
// the socket is unnamed.
std::string unix_name(const sockaddr_un& a, socklen_t len) {
    size_t size = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    size = std::min(size, sizeof a.sun_path);
    if (size == 0) return {};
    if (a.sun_path[0] != '\0') return std::string(a.sun_path, strnlen(a.sun_path, size));
    std::string name(a.sun_path, size);
    for (char& c : name)
        if (c == '\0') c = '@';
    return name;
}

// /proc/net/tcp prints each 32-bit word of the address with %08X as the CPU
// reads it, so parsing each word and storing it back in native order restores
// the network-order bytes.
std::string format_proc_net_address(bool ipv6, std::string_view hex) {
    size_t colon = hex.find(':');
    if (colon == std::string_view::npos || colon != (ipv6 ? 32u : 8u)) return {};
    unsigned port = static_cast<unsigned>(parse_u64(hex.substr(colon + 1), 16));
    unsigned char addr[16];
    for (size_t word = 0; word < colon / 8; ++word) {
        uint32_t value = static_cast<uint32_t>(parse_u64(hex.substr(word * 8, 8), 16));
        memcpy(addr + word * 4, &value, 4);
    }
    return format_inet(ipv6 ? AF_INET6 : AF_INET, addr, port);
}

int sockopt_int(int fd, int level, int name) {
    int value = -1;
    socklen_t len = sizeof value;
    return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
}

const char* inet_protocol_name(int type, int protocol) {
    switch (protocol) {
        case IPPROTO_TCP: return "tcp";
        case IPPROTO_UDP: return "udp";
        case IPPROTO_UDPLITE: return "udplite";
        case IPPROTO_SCTP: return "sctp";
        case IPPROTO_MPTCP: return "mptcp";
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6: return type == SOCK_RAW ? "raw" : "icmp";
    }
    return type == SOCK_RAW ? "raw" : "ip";
}

const char* netlink_protocol_name(int protocol) {
    switch (protocol) {
        case NETLINK_ROUTE: return "route";
        case NETLINK_SOCK_DIAG: return "sock_diag";
        case NETLINK_NFLOG: return "nflog";
        case NETLINK_XFRM: return "xfrm";
        case NETLINK_AUDIT: return "audit";
        case NETLINK_CONNECTOR: return "connector";
        case NETLINK_NETFILTER: return "netfilter";
        case NETLINK_KOBJECT_UEVENT: return "uevent";
        case NETLINK_GENERIC: return "generic";
        case NETLINK_CRYPTO: return "crypto";
    }
    return nullptr;
}

const char* unix_type_name(int type) {
    switch (type) {
        case SOCK_STREAM: return "STREAM";
        case SOCK_DGRAM: return "DGRAM";
        case SOCK_SEQPACKET: return "SEQPACKET";
    }
    return "UNKNOWN";
}

// The target of an anon_inode or pidfs fd, with what lsof adds from fdinfo:
// the pid behind a pidfd, the fds an epoll instance watches.
std::string anon_target(int fd, std::string_view name) {
    bool epoll = name == "[eventpoll]";
    if (!epoll && name != "[pidfd]") return std::string(name);
    char path[64];
    snprintf(path, sizeof path, "%s/fdinfo/%d", kProc, fd);
    std::string detail;
    constexpr int kMaxListed = 16;
    int listed = 0;
    for_each_line(path, 64 * 1024, [&](std::string_view line) {
        std::vector<std::string_view> f = split_ws(line);
        if (f.size() < 2) return true;
        if (!epoll && f[0] == "Pid:") {
            detail = std::string(f[1]);
            return false;
        }
        if (epoll && f[0] == "tfd:") {
            if (listed++ == kMaxListed) {
                detail += ",...";
                return false;
            }
            detail += (detail.empty() ? "" : ",") + std::string(f[1]);
        }
        return true;
    });
    std::string base(name.substr(0, name.size() - 1));  // without the closing ']'
    return detail.empty() ? std::string(name) : base + ":" + detail + "]";
}

const char* anon_kind(std::string_view name) {
    if (name == "[eventpoll]") return "epoll";
    if (name == "[eventfd]") return "eventfd";
    if (name == "[timerfd]") return "timerfd";
    if (name == "[signalfd]") return "signalfd";
    if (name == "inotify") return "inotify";
    if (name == "[pidfd]") return "pidfd";
    return "other";
}

// Fills peers (socket inode -> peer inode) from one NETLINK_SOCK_DIAG dump of
// every unix socket in the network namespace. Leaves it empty when the kernel
// lacks unix_diag or no fd is left.
void read_unix_peers(std::unordered_map<uint64_t, uint64_t>& peers) {
    ScopedFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (nl.fd < 0) return;
    // The kernel fills a dump as it is read, so recv never waits long; the
    // timeout guards against a kernel that never says NLMSG_DONE.
    timeval timeout{1, 0};
    setsockopt(nl.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct {
        nlmsghdr header;
        unix_diag_req request;
    } message{};
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = AF_UNIX;
    message.request.udiag_states = ~0u;
    message.request.udiag_show = UDIAG_SHOW_PEER;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(nl.fd, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
        static_cast<ssize_t>(sizeof message))
        return;

    std::vector<uint64_t> buffer(32768 / sizeof(uint64_t));  // uint64_t: nlmsghdr-aligned
    for (;;) {
        ssize_t n = recv(nl.fd, buffer.data(), buffer.size() * sizeof(uint64_t), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(unix_diag_msg))) continue;
            auto* msg = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
            int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
            for (auto* attr = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(attr, attr_len);
                 attr = RTA_NEXT(attr, attr_len)) {
                if (attr->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(attr) >= sizeof(uint32_t))
                    peers[msg->udiag_ino] = *static_cast<uint32_t*>(RTA_DATA(attr));
            }
        }
    }
}

}  // namespace

FdDescription FdDescriber::describe(int fd) {
    FdDescription out;
    out.kind = "other";
    try {
        int fd_flags = fcntl(fd, F_GETFD);
        if (fd_flags < 0) return out;
        int status_flags = fcntl(fd, F_GETFL);
        out.cloexec = (fd_flags & FD_CLOEXEC) != 0;
        out.nonblock = status_flags >= 0 && (status_flags & O_NONBLOCK) != 0;

        struct stat st {};
        bool have_stat = fstat(fd, &st) == 0;
        if (have_stat && S_ISSOCK(st.st_mode)) {
            // The /proc link would only repeat the inode; skipping its
            // readlink (the slowest call here) halves the cost per socket.
            out.kind = "socket";
            describe_socket(fd, st.st_ino, out);
            return out;
        }
        if (have_stat && S_ISFIFO(st.st_mode) && pipe_device_known_ && st.st_dev == pipe_device_) {
            out.kind = "pipe";
            out.target = "pipe:[" + std::to_string(st.st_ino) + "]";  // what its link says
            return out;
        }
        std::string link = fd_link(fd);
        out.target = link;

        if (starts_with(link, "socket:")) {
            out.kind = "socket";
            describe_socket(fd, bracket_inode(link), out);
        } else if (starts_with(link, "anon_inode:")) {
            // Anon inodes carry no file type in st_mode; their link names them.
            std::string_view name = std::string_view(link).substr(strlen("anon_inode:"));
            out.kind = anon_kind(name);
            out.target = anon_target(fd, name);
        } else if (starts_with(link, "pidfd:")) {
            // What pidfs-backed pidfds would show if the kernel stopped
            // presenting them as anon_inode:[pidfd].
            out.kind = "pidfd";
            out.target = anon_target(fd, "[pidfd]");
        } else if (!have_stat) {
            return out;
        } else if (S_ISFIFO(st.st_mode)) {
            out.kind = starts_with(link, "pipe:") ? "pipe" : "fifo";
            if (out.kind == "pipe") {
                pipe_device_ = st.st_dev;
                pipe_device_known_ = true;
            }
        } else if (S_ISDIR(st.st_mode)) {
            out.kind = "dir";
        } else if (S_ISCHR(st.st_mode)) {
            out.kind = "chr";
        } else if (S_ISREG(st.st_mode) && starts_with(link, "/memfd:") && ends_with(link, " (deleted)")) {
            // memfds live on an internal tmpfs mount and are never linked, so
            // the kernel's " (deleted)" says nothing about the program.
            out.kind = "memfd";
            out.target = link.substr(1, link.size() - 1 - strlen(" (deleted)"));
        } else if (S_ISREG(st.st_mode) && starts_with(link, "/")) {
            out.kind = "file";
        }
        // Anything else (block devices, namespace fds "net:[...]", ...) stays
        // "other" with its link as the target.
    } catch (...) {
        // Out of memory while formatting: report what is known.
    }
    return out;
}

void FdDescriber::describe_socket(int fd, uint64_t inode, FdDescription& out) {
    std::string inode_name = "socket:[" + std::to_string(inode) + "]";
    out.target = inode_name;
    int domain = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
    int type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
    int protocol = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);
    switch (domain) {
        case AF_UNIX: out.target = describe_unix(fd, type, inode); break;
        case AF_INET:
        case AF_INET6: out.target = describe_inet(fd, domain, type, protocol, inode, out); break;
        case AF_NETLINK: {
            const char* name = netlink_protocol_name(protocol);
            out.target = name ? std::string("netlink ") + name : "netlink " + std::to_string(protocol);
            break;
        }
        case AF_PACKET: out.target = "packet " + inode_name; break;
        case -1: break;
        default: out.target = "socket family " + std::to_string(domain) + " " + inode_name; break;
    }
}

// "unix STREAM /run/x.sock (listen)", "unix STREAM socket:[12] -> socket:[13]"
// (a socketpair: each side names the other's inode, as lsof's "->INODE" does),
// "unix STREAM socket:[14] -> /run/x.sock" (a client), "unix DGRAM @name".
std::string FdDescriber::describe_unix(int fd, int type, uint64_t inode) {
    std::string target = std::string("unix ") + unix_type_name(type) + " ";
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    std::string local = getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 ? unix_name(addr, len) : "";
    target += local.empty() ? "socket:[" + std::to_string(inode) + "]" : local;
    if (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1) return target + " (listen)";

    addr = {};
    len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return target;  // not connected
    std::string peer = unix_name(addr, len);
    return target + " -> " + (peer.empty() ? unix_peer(inode) : peer);
}

// "tcp 127.0.0.1:5000 -> 127.0.0.1:40474", "tcp6 [::1]:80 (listen)", "udp 0.0.0.0:53".
std::string FdDescriber::describe_inet(int fd, int domain, int type, int protocol, uint64_t inode,
                                       FdDescription& out) {
    std::string target = inet_protocol_name(type, protocol);
    if (domain == AF_INET6) target += "6";
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) target += " " + format_sockaddr(addr);

    bool tcp = protocol == IPPROTO_TCP;
    if (tcp) {
        tcp_info info{};
        socklen_t info_len = sizeof info;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0) out.state = tcp_state_name(info.tcpi_state);
    }
    if (out.state == "LISTEN") return target + " (listen)";

    addr = {};
    len = sizeof addr;
    std::string peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        peer = format_sockaddr(addr);
    else if (tcp && out.state != "CLOSE" && !out.state.empty())
        // The kernel hides the peer of a connect() still in SYN_SENT from
        // getpeername, but the connection table already holds it.
        peer = tcp_remote(inode);
    return peer.empty() ? target : target + " -> " + peer;
}

// The peer inode of a connected unnamed unix socket, which only sock_diag
// knows (it is how lsof and ss print socketpair ends). One dump of the
// namespace's unix sockets serves the whole describer.
std::string FdDescriber::unix_peer(uint64_t inode) {
    if (!unix_peers_loaded_) {
        unix_peers_loaded_ = true;
        read_unix_peers(unix_peers_);
    }
    auto it = unix_peers_.find(inode);
    return it == unix_peers_.end() ? "unnamed" : "socket:[" + std::to_string(it->second) + "]";
}

// The remote address of a TCP socket from the connection tables, read once.
std::string FdDescriber::tcp_remote(uint64_t inode) {
    if (!tcp_remotes_loaded_) {
        tcp_remotes_loaded_ = true;
        for (bool ipv6 : {false, true}) {
            std::string path = std::string(kProc) + (ipv6 ? "/net/tcp6" : "/net/tcp");
            // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ..."
            for_each_line(path.c_str(), SIZE_MAX, [&](std::string_view line) {
                std::vector<std::string_view> f = split_ws(line);
                if (f.size() > 9 && f[0] != "sl") tcp_remotes_[parse_u64(f[9], 10)] = {ipv6, std::string(f[2])};
                return true;
            });
        }
    }
    auto it = tcp_remotes_.find(inode);
    return it == tcp_remotes_.end() ? "" : format_proc_net_address(it->second.ipv6, it->second.hex);
}

}  // namespace fdtrack
