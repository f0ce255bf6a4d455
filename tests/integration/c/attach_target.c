/* A program to attach to, waiting where servers wait. Modes:
   read:   echoes each line of stdin ("got LINE"), from a raw read(2);
   accept: prints "port N", then echoes one line per connection;
   busy:   4 threads open/close /dev/null and malloc/free in a loop; each
           line on stdin is answered with the total so far ("count N");
   spin:   only spins in user code, never waiting in a system call;
   undumpable: read, after prctl(PR_SET_DUMPABLE, 0) (what setuid programs are);
   errno:  sets errno to 7 before each read of stdin and says "errno N" after;
   epoll:  read, each line awaited in epoll_wait(2) first (EINTR: exit 3);
   seccomp: read, under a seccomp filter (one that allows everything).
   A read or accept failing with EINTR prints "EINTR" and exits 3: an
   interrupted call must restart unseen. SIGUSR2 (SA_RESTART) is counted
   and shown in each echo; the line "value" answers "value N", N the
   sigqueue value of the last SIGUSR2. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t usr2_count;
static volatile sig_atomic_t usr2_value;
static atomic_long work_done;

static void on_usr2(int sig, siginfo_t* info, void* context) {
    (void)sig;
    (void)context;
    usr2_count++;
    usr2_value = info->si_code == SI_QUEUE ? info->si_value.sival_int : -1;
}

static void say(const char* text) {
    CHECK(write(1, text, strlen(text)) == (ssize_t)strlen(text));
}

static void wait_in_epoll(int fd) {
    int poller = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN};
    CHECK(poller >= 0 && epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event) == 0);
    int n;
    while ((n = epoll_wait(poller, &event, 1, -1)) < 0 && errno == EINTR && usr2_count > 0) {
    }
    if (n < 0 && errno == EINTR) {
        say("EINTR\n");
        exit(3);
    }
    CHECK(n == 1);
    close(poller);
}

static int g_epoll_first;

static void echo_lines(int in, int out) {
    char buffer[256], line[300];
    for (;;) {
        if (g_epoll_first) wait_in_epoll(in);
        ssize_t n = read(in, buffer, sizeof buffer - 1);
        if (n < 0 && errno == EINTR) {
            say("EINTR\n");
            exit(3);
        }
        CHECK(n >= 0);
        if (n == 0) return;
        buffer[n] = '\0';
        buffer[strcspn(buffer, "\n")] = '\0';
        if (strcmp(buffer, "value") == 0) {
            snprintf(line, sizeof line, "value %d\n", (int)usr2_value);
        } else if (in == 0 && strcmp(buffer, "count") == 0) {
            snprintf(line, sizeof line, "count %ld\n", atomic_load(&work_done));
        } else {
            snprintf(line, sizeof line, "got %s usr2=%d\n", buffer, (int)usr2_count);
        }
        CHECK(write(out, line, strlen(line)) == (ssize_t)strlen(line));
        if (in != 0) return;
    }
}

static void* work(void* unused) {
    (void)unused;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        void* block = malloc(64 + (size_t)(atomic_load(&work_done) % 4096));
        CHECK(block != NULL);
        free(block);
        close(fd);
        atomic_fetch_add(&work_done, 1);
    }
    return NULL;
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    struct sigaction action = {0};
    action.sa_sigaction = on_usr2;
    action.sa_flags = SA_RESTART | SA_SIGINFO;
    sigaction(SIGUSR2, &action, NULL);

    if (strcmp(argv[1], "seccomp") == 0) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog program = {.len = 1, .filter = &allow};
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0);
        argv[1] = "read";
    }
    if (strcmp(argv[1], "epoll") == 0) {
        g_epoll_first = 1;
        argv[1] = "read";
    }
    if (strcmp(argv[1], "undumpable") == 0) {
        CHECK(prctl(PR_SET_DUMPABLE, 0) == 0);
        argv[1] = "read";
    }
    if (strcmp(argv[1], "read") == 0 || strcmp(argv[1], "busy") == 0) {
        if (strcmp(argv[1], "busy") == 0) {
            for (int i = 0; i < 4; ++i) {
                pthread_t thread;
                CHECK(pthread_create(&thread, NULL, work, NULL) == 0);
            }
        }
        say("ready\n");
        echo_lines(0, 1);
        return 0;
    }
    if (strcmp(argv[1], "accept") == 0) {
        int server = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t length = sizeof address;
        CHECK(bind(server, (struct sockaddr*)&address, sizeof address) == 0);
        CHECK(listen(server, 16) == 0);
        CHECK(getsockname(server, (struct sockaddr*)&address, &length) == 0);
        char line[64];
        snprintf(line, sizeof line, "port %d\n", ntohs(address.sin_port));
        say(line);
        for (;;) {
            int client = accept(server, NULL, NULL);
            if (client < 0 && errno == EINTR) {
                say("EINTR\n");
                exit(3);
            }
            CHECK(client >= 0);
            echo_lines(client, client);
            close(client);
        }
    }
    if (strcmp(argv[1], "errno") == 0) {
        say("ready\n");
        for (;;) {
            char buffer[256], line[64];
            errno = 7;
            if (read(0, buffer, sizeof buffer) <= 0) return 0;
            snprintf(line, sizeof line, "errno %d\n", errno);
            say(line);
        }
    }
    if (strcmp(argv[1], "spin") == 0) {
        say("ready\n");
        for (volatile unsigned long i = 0;; ++i) {
        }
    }
    return 99;
}
