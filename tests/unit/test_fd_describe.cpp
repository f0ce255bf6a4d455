// Tests that FdDescriber names every kind of fd this process can open the way
// lsof would, with the right TCP state and flags, without leaking fds.
#include "preload/dump/fd_describe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace fdtrack {
namespace {

// Closes every fd the test opened, so a failing assertion leaks nothing into
// the next test.
class Fds {
public:
    ~Fds() {
        for (int fd : fds_) close(fd);
    }
    int add(int fd) {
        EXPECT_GE(fd, 0) << strerror(errno);
        if (fd >= 0) fds_.push_back(fd);
        return fd;
    }

private:
    std::vector<int> fds_;
};

int count_open_fds() {
    int count = 0;
    DIR* dir = opendir("/proc/self/fd");
    while (dirent* entry = readdir(dir))
        if (entry->d_name[0] != '.') ++count;
    closedir(dir);
    return count - 1;  // the directory's own fd
}

std::string inode_of(int fd) {
    struct stat st {};
    fstat(fd, &st);
    return std::to_string(st.st_ino);
}

int port_of(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
}

int tcp_listener(Fds& fds, int backlog = 16) {
    int fd = fds.add(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd, backlog), 0);
    return fd;
}

int tcp_connect(Fds& fds, int port, int flags = 0) {
    int fd = fds.add(socket(AF_INET, SOCK_STREAM | flags, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    EXPECT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
    return fd;
}

std::string temp_dir() {
    char path[] = "/tmp/fd_describe.XXXXXX";
    return mkdtemp(path);
}

TEST(FdDescribe, RegularFile) {
    Fds fds;
    std::string dir = temp_dir();
    std::string path = dir + "/data.txt";
    int fd = fds.add(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "file");
    EXPECT_EQ(d.target, path);
    EXPECT_EQ(d.state, "");
    EXPECT_TRUE(d.cloexec);
    EXPECT_FALSE(d.nonblock);
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST(FdDescribe, DeletedFileKeepsItsNameMarkedDeleted) {
    Fds fds;
    std::string dir = temp_dir();
    std::string path = dir + "/gone.txt";
    int fd = fds.add(open(path.c_str(), O_RDWR | O_CREAT | O_NONBLOCK, 0600));
    unlink(path.c_str());
    rmdir(dir.c_str());
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "file");
    EXPECT_EQ(d.target, path + " (deleted)");
    EXPECT_FALSE(d.cloexec);
    EXPECT_TRUE(d.nonblock);
}

TEST(FdDescribe, Directory) {
    Fds fds;
    int fd = fds.add(open("/usr", O_RDONLY | O_DIRECTORY));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "dir");
    EXPECT_EQ(d.target, "/usr");
}

TEST(FdDescribe, AnonymousPipeBothEnds) {
    Fds fds;
    int ends[2];
    ASSERT_EQ(pipe2(ends, O_NONBLOCK), 0);
    fds.add(ends[0]);
    fds.add(ends[1]);
    FdDescriber describer;
    for (int fd : ends) {
        FdDescription d = describer.describe(fd);
        EXPECT_EQ(d.kind, "pipe");
        EXPECT_EQ(d.target, "pipe:[" + inode_of(ends[0]) + "]");
        EXPECT_TRUE(d.nonblock);
        EXPECT_FALSE(d.cloexec);
    }
}

TEST(FdDescribe, NamedFifoHasItsPath) {
    Fds fds;
    std::string dir = temp_dir();
    std::string path = dir + "/fifo";
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    int fd = fds.add(open(path.c_str(), O_RDWR | O_NONBLOCK));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "fifo");
    EXPECT_EQ(d.target, path);
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST(FdDescribe, TcpListener) {
    Fds fds;
    int fd = tcp_listener(fds);
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "socket");
    EXPECT_EQ(d.target, "tcp 127.0.0.1:" + std::to_string(port_of(fd)) + " (listen)");
    EXPECT_EQ(d.state, "LISTEN");
    EXPECT_TRUE(d.cloexec);
}

TEST(FdDescribe, Tcp6Listener) {
    Fds fds;
    int fd = fds.add(socket(AF_INET6, SOCK_STREAM, 0));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) GTEST_SKIP() << "no IPv6 loopback";
    ASSERT_EQ(listen(fd, 1), 0);
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.target, "tcp6 [::1]:" + std::to_string(port_of(fd)) + " (listen)");
    EXPECT_EQ(d.state, "LISTEN");
}

TEST(FdDescribe, TcpPeerClosedIsCloseWait) {
    Fds fds;
    int listener = tcp_listener(fds);
    int port = port_of(listener);
    int client = tcp_connect(fds, port);
    int accepted = accept(listener, nullptr, nullptr);
    ASSERT_GE(accepted, 0);
    std::string client_end = "127.0.0.1:" + std::to_string(port_of(client));
    std::string server_end = "127.0.0.1:" + std::to_string(port);

    FdDescription established = FdDescriber().describe(accepted);
    EXPECT_EQ(established.target, "tcp " + server_end + " -> " + client_end);
    EXPECT_EQ(established.state, "ESTABLISHED");

    close(accepted);
    FdDescription d;
    for (int i = 0; i < 200 && d.state != "CLOSE_WAIT"; ++i) {
        d = FdDescriber().describe(client);
        if (d.state != "CLOSE_WAIT") std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(d.kind, "socket");
    EXPECT_EQ(d.target, "tcp " + client_end + " -> " + server_end);
    EXPECT_EQ(d.state, "CLOSE_WAIT");
}

// A connect() still waiting for its SYN-ACK: getpeername refuses to answer, so
// the peer must come from /proc/net/tcp. A listener whose accept queue is full
// drops further SYNs, which keeps a loopback connect in SYN_SENT.
TEST(FdDescribe, TcpSynSentShowsWhereItConnects) {
    Fds fds;
    int listener = tcp_listener(fds, 0);
    int port = port_of(listener);
    for (int attempt = 0; attempt < 8; ++attempt) {
        int client = tcp_connect(fds, port, SOCK_NONBLOCK);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        FdDescription d = FdDescriber().describe(client);
        if (d.state != "SYN_SENT") continue;
        EXPECT_EQ(d.target,
                  "tcp 127.0.0.1:" + std::to_string(port_of(client)) + " -> 127.0.0.1:" + std::to_string(port));
        EXPECT_TRUE(d.nonblock);
        return;
    }
    GTEST_SKIP() << "the kernel accepted every connection; no SYN_SENT socket to describe";
}

TEST(FdDescribe, UdpBoundAndConnected) {
    Fds fds;
    int fd = fds.add(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    FdDescriber describer;
    FdDescription d = describer.describe(fd);
    EXPECT_EQ(d.kind, "socket");
    EXPECT_EQ(d.target, "udp 0.0.0.0:" + std::to_string(port_of(fd)));
    EXPECT_EQ(d.state, "");
    EXPECT_TRUE(d.nonblock);

    int connected = fds.add(socket(AF_INET, SOCK_DGRAM, 0));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(53);
    ASSERT_EQ(connect(connected, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(describer.describe(connected).target,
              "udp 127.0.0.1:" + std::to_string(port_of(connected)) + " -> 127.0.0.1:53");
}

TEST(FdDescribe, UnixSocketpairNamesEachOthersInode) {
    Fds fds;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    fds.add(pair[0]);
    fds.add(pair[1]);
    std::string a = "socket:[" + inode_of(pair[0]) + "]";
    std::string b = "socket:[" + inode_of(pair[1]) + "]";
    FdDescriber describer;
    FdDescription d0 = describer.describe(pair[0]);
    EXPECT_EQ(d0.kind, "socket");
    EXPECT_EQ(d0.target, "unix STREAM " + a + " -> " + b);
    EXPECT_EQ(d0.state, "");
    EXPECT_TRUE(d0.cloexec);
    EXPECT_EQ(describer.describe(pair[1]).target, "unix STREAM " + b + " -> " + a);

    int dgram[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram), 0);
    fds.add(dgram[0]);
    fds.add(dgram[1]);
    // A fresh describer: the one above read the peer table before this pair existed.
    EXPECT_EQ(FdDescriber().describe(dgram[0]).target,
              "unix DGRAM socket:[" + inode_of(dgram[0]) + "] -> socket:[" + inode_of(dgram[1]) + "]");
}

TEST(FdDescribe, UnixPathListenerClientAndAcceptedEnd) {
    Fds fds;
    std::string dir = temp_dir();
    std::string path = dir + "/server.sock";
    int listener = fds.add(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    int client = fds.add(socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    int accepted = fds.add(accept(listener, nullptr, nullptr));

    FdDescriber describer;
    EXPECT_EQ(describer.describe(listener).target, "unix STREAM " + path + " (listen)");
    EXPECT_EQ(describer.describe(client).target, "unix STREAM socket:[" + inode_of(client) + "] -> " + path);
    EXPECT_EQ(describer.describe(accepted).target,
              "unix STREAM " + path + " -> socket:[" + inode_of(client) + "]");
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST(FdDescribe, UnixAbstractName) {
    Fds fds;
    std::string name = "fdtrack-test-" + std::to_string(getpid());
    int fd = fds.add(socket(AF_UNIX, SOCK_DGRAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "socket");
    EXPECT_EQ(d.target, "unix DGRAM @" + name);
}

TEST(FdDescribe, NetlinkSocket) {
    Fds fds;
    int fd = fds.add(socket(AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "socket");
    EXPECT_EQ(d.target, "netlink route");
}

TEST(FdDescribe, EpollListsWatchedFds) {
    Fds fds;
    int epoll = fds.add(epoll_create1(EPOLL_CLOEXEC));
    FdDescriber describer;
    FdDescription empty = describer.describe(epoll);
    EXPECT_EQ(empty.kind, "epoll");
    EXPECT_EQ(empty.target, "[eventpoll]");
    EXPECT_TRUE(empty.cloexec);

    int watched = fds.add(eventfd(0, 0));
    epoll_event event{};
    event.events = EPOLLIN;
    ASSERT_EQ(epoll_ctl(epoll, EPOLL_CTL_ADD, watched, &event), 0);
    EXPECT_EQ(describer.describe(epoll).target, "[eventpoll:" + std::to_string(watched) + "]");
}

TEST(FdDescribe, AnonInodeKinds) {
    Fds fds;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    struct Case {
        int fd;
        const char* kind;
        const char* target;
    };
    Case cases[] = {
        {fds.add(eventfd(0, EFD_NONBLOCK)), "eventfd", "[eventfd]"},
        {fds.add(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)), "timerfd", "[timerfd]"},
        {fds.add(signalfd(-1, &mask, 0)), "signalfd", "[signalfd]"},
        {fds.add(inotify_init1(0)), "inotify", "inotify"},
    };
    FdDescriber describer;
    for (const Case& c : cases) {
        FdDescription d = describer.describe(c.fd);
        EXPECT_EQ(d.kind, c.kind);
        EXPECT_EQ(d.target, c.target);
        EXPECT_EQ(d.state, "");
    }
    EXPECT_TRUE(describer.describe(cases[0].fd).nonblock);
    EXPECT_TRUE(describer.describe(cases[1].fd).cloexec);
}

TEST(FdDescribe, Memfd) {
    Fds fds;
    int fd = fds.add(memfd_create("arena", MFD_CLOEXEC));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "memfd");
    EXPECT_EQ(d.target, "memfd:arena");
    EXPECT_TRUE(d.cloexec);
}

TEST(FdDescribe, PidfdNamesItsProcess) {
    Fds fds;
    int fd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
    if (fd < 0 && errno == ENOSYS) GTEST_SKIP() << "no pidfd_open";
    fds.add(fd);
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "pidfd");
    EXPECT_EQ(d.target, "[pidfd:" + std::to_string(getpid()) + "]");
    EXPECT_TRUE(d.cloexec);  // pidfd_open always sets it
}

TEST(FdDescribe, CharacterDevice) {
    Fds fds;
    int fd = fds.add(open("/dev/null", O_WRONLY));
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "chr");
    EXPECT_EQ(d.target, "/dev/null");
}

TEST(FdDescribe, ClosedFdIsOther) {
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    FdDescription d = FdDescriber().describe(fd);
    EXPECT_EQ(d.kind, "other");
    EXPECT_EQ(d.target, "");
    EXPECT_FALSE(d.cloexec);
}

// Describing must not leak: it runs inside programs that may be hunting their
// own fd leak. Covers every path that opens something (fdinfo, the netlink
// dump, /proc/net/tcp).
TEST(FdDescribe, OpensNothingItDoesNotClose) {
    Fds fds;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    fds.add(pair[0]);
    fds.add(pair[1]);
    int epoll = fds.add(epoll_create1(0));
    int pidfd = fds.add(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
    int listener = tcp_listener(fds, 0);
    int client = tcp_connect(fds, port_of(listener), SOCK_NONBLOCK);
    int before = count_open_fds();
    FdDescriber describer;
    for (int fd : {pair[0], pair[1], epoll, pidfd, listener, client}) describer.describe(fd);
    EXPECT_EQ(count_open_fds(), before);
}

// At the fd limit the describer cannot open /proc files or the netlink socket;
// it must still name every fd, losing only the extra detail.
TEST(FdDescribe, WorksWithNoFdToSpare) {
    Fds fds;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    fds.add(pair[0]);
    fds.add(pair[1]);
    int pidfd = fds.add(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
    int listener = tcp_listener(fds);

    rlimit saved{};
    getrlimit(RLIMIT_NOFILE, &saved);
    // Fill the table up to the limit so no new fd can be created.
    rlimit tight = saved;
    tight.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
    Fds filler;
    for (int fd; (fd = dup(0)) >= 0;) filler.add(fd);
    ASSERT_EQ(errno, EMFILE);

    FdDescriber describer;
    FdDescription unix_end = describer.describe(pair[0]);
    FdDescription pid = describer.describe(pidfd);
    FdDescription tcp = describer.describe(listener);
    setrlimit(RLIMIT_NOFILE, &saved);

    EXPECT_EQ(unix_end.kind, "socket");
    EXPECT_EQ(unix_end.target, "unix STREAM socket:[" + inode_of(pair[0]) + "] -> unnamed");
    EXPECT_EQ(pid.kind, "pidfd");
    EXPECT_EQ(pid.target, "[pidfd]");
    EXPECT_EQ(tcp.state, "LISTEN");
}

// Dumps of processes with thousands of sockets must stay fast: the peer table
// is read once per describer, not once per socket.
TEST(FdDescribe, ThousandSocketsDescribedFromOneTableRead) {
    Fds fds;
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 1200) GTEST_SKIP() << "RLIMIT_NOFILE too low";
    std::vector<int> all;
    for (int i = 0; i < 500; ++i) {
        int pair[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
        all.push_back(fds.add(pair[0]));
        all.push_back(fds.add(pair[1]));
    }
    FdDescriber describer;
    int described = 0;
    for (int fd : all) described += describer.describe(fd).target.find("-> socket:[") != std::string::npos;
    EXPECT_EQ(described, 1000);  // every peer found from the one table the describer read
}

}  // namespace
}  // namespace fdtrack
