/* recvmsg and recvmmsg: an fd received over a unix socket (SCM_RIGHTS) is a
   new fd of the receiver. We send fds to ourselves over a socketpair. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static int channel[2];

static void send_fd(int fd) {
    char byte = 'x';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    CHECK(sendmsg(channel[0], &msg, 0) == 1);
}

/* Message buffers for one fd. */
struct incoming {
    char byte;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
};

static struct msghdr* prepare(struct incoming* in) {
    in->iov = (struct iovec){.iov_base = &in->byte, .iov_len = 1};
    in->msg = (struct msghdr){.msg_iov = &in->iov, .msg_iovlen = 1, .msg_control = in->control.buf,
                              .msg_controllen = sizeof in->control.buf};
    return &in->msg;
}

static int fd_in(struct msghdr* msg) {
    struct cmsghdr* c = CMSG_FIRSTHDR(msg);
    CHECK(c && c->cmsg_type == SCM_RIGHTS);
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

int main(void) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, channel) == 0); /* CLOSED: channel */
    int sent = open("/etc/hostname", O_RDONLY); /* CLOSED: sent */
    CHECK(sent >= 0);
    struct incoming in;
    int fd;

    send_fd(sent);
    CHECK(recvmsg(channel[1], prepare(&in), 0) == 1); /* LEAK: recvmsg */
    send_fd(sent);
    CHECK(recvmsg(channel[1], prepare(&in), 0) == 1); /* CLOSED: recvmsg */
    fd = fd_in(&in.msg);
    CHECK(close(fd) == 0);

    struct mmsghdr batch = {0};
    send_fd(sent);
    batch.msg_hdr = *prepare(&in);
    CHECK(recvmmsg(channel[1], &batch, 1, 0, NULL) == 1); /* LEAK: recvmmsg */
    send_fd(sent);
    batch.msg_hdr = *prepare(&in);
    CHECK(recvmmsg(channel[1], &batch, 1, 0, NULL) == 1); /* CLOSED: recvmmsg */
    fd = fd_in(&batch.msg_hdr);
    CHECK(close(fd) == 0);

    CHECK(close(sent) == 0 && close(channel[0]) == 0 && close(channel[1]) == 0);
    return EXIT_EXPECTED;
}
