/*
 * epoll-echo - minimal single-threaded epoll TCP byte-echo server.
 *
 * It is the "ceiling of this machine" reference: whatever bytes arrive are
 * written straight back, with no framing parse, no allocation per message and
 * one read()/write() pair per readiness event. A framed server cannot do less
 * work per byte than this, so gateway/c-epoll shows how close to the kernel's
 * limit the gateway gets.
 *
 * Level-triggered. If a write is partial, the unsent tail stays in the
 * connection's buffer and we switch the socket to EPOLLOUT only; reading stops
 * until the tail is flushed, which is the natural backpressure of an echo.
 *
 * usage: epoll-echo PORT [HOST]     (HOST defaults to 127.0.0.1)
 * Build: gcc -O2 -Wall -Wextra -o epoll-echo epoll-echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 512

struct conn {
    int fd;
    size_t off, len;          /* pending (not yet echoed) bytes: buf[off, len) */
    unsigned char buf[BUF_SIZE];
};

static int epfd;

static void conn_close(struct conn *c)
{
    close(c->fd);   /* close also removes the fd from the epoll set */
    free(c);
}

static int set_events(struct conn *c, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write buf[off, len). Returns 0 if fully flushed, 1 if some is left, -1 on error. */
static int flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        c->off += (size_t)w;
    }
    c->off = c->len = 0;
    return 0;
}

static void on_event(struct conn *c, unsigned events)
{
    if (events & EPOLLOUT) {
        int r = flush(c);
        if (r < 0) {
            conn_close(c);
            return;
        }
        if (r == 0 && set_events(c, EPOLLIN) < 0) {   /* drained: resume reading */
            conn_close(c);
            return;
        }
        return;
    }
    /* EPOLLIN (or ERR/HUP, which read() will report) */
    ssize_t n = read(c->fd, c->buf, BUF_SIZE);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    c->off = 0;
    c->len = (size_t)n;
    int r = flush(c);
    if (r < 0 || (r == 1 && set_events(c, EPOLLOUT) < 0))
        conn_close(c);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                perror("accept4");
            return;
        }
        int one = 1;
        /* echo replies are small; do not let Nagle hold them back */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl(ADD)");
            conn_close(c);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "epoll-echo: bad port or IPv4 host\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);   /* a vanished client must give EPIPE, not kill the server */

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        fprintf(stderr, "epoll-echo: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    /* data.ptr == NULL marks the listening socket */
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("epoll");
        return 1;
    }
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                on_accept(lfd);
            else
                on_event(evs[i].data.ptr, evs[i].events);
        }
    }
}
