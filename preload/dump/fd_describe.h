// Describes the calling process's own open fds the way lsof would (kind, target,
// TCP state, flags), at dump time, from the kernel's view of each descriptor.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace fdtrack {

struct FdDescription {
    std::string kind;    // file dir pipe fifo socket epoll eventfd timerfd signalfd inotify memfd pidfd chr other
    std::string target;  // "/etc/hostname", "pipe:[123]", "tcp 127.0.0.1:5000 -> 127.0.0.1:40474", "[eventpoll:5,7]"
    std::string state;   // TCP sockets only, as lsof names it: ESTABLISHED, LISTEN, CLOSE_WAIT...
    bool cloexec = false;
    bool nonblock = false;
};

// One describer per dump. The kernel tables a description may need (the unix
// socket peers, the TCP connection table) are read lazily and at most once per
// describer, so describing thousands of sockets stays linear. It holds at most
// one extra fd at a time and closes it before returning; when the process is at
// its fd limit, descriptions lose only the details those tables would add.
// Not thread-safe: use it from one thread.
class FdDescriber {
public:
    // Never throws: an fd that cannot be inspected (or is not open) comes back
    // as kind "other".
    FdDescription describe(int fd);

private:
    struct TcpRemote {
        bool ipv6 = false;
        std::string hex;  // rem_address as /proc/net/tcp{,6} prints it
    };

    void describe_socket(int fd, uint64_t inode, FdDescription& out);
    std::string describe_unix(int fd, int type, uint64_t inode);
    std::string describe_inet(int fd, int domain, int type, int protocol, uint64_t inode, FdDescription& out);
    std::string unix_peer(uint64_t inode);
    std::string tcp_remote(uint64_t inode);

    // The device of pipefs, once a pipe's link has shown it: later pipes are
    // told from named FIFOs by it, without their readlink.
    dev_t pipe_device_ = 0;
    bool pipe_device_known_ = false;
    bool unix_peers_loaded_ = false;
    std::unordered_map<uint64_t, uint64_t> unix_peers_;  // socket inode -> peer's inode
    bool tcp_remotes_loaded_ = false;
    std::unordered_map<uint64_t, TcpRemote> tcp_remotes_;  // socket inode -> remote end
};

}  // namespace fdtrack
