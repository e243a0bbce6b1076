/*
 * routegen - load generator and HTTP sink of bench/run-routes.sh: line frames sent over TCP to the server under
 * test, which forwards each one as an HTTP POST to the sink in this same process.
 *
 *   routegen --  C TCP connections, each writing frames  -->  server under test (gateway route / Node peer)
 *      ^                                                              |
 *      +---- sink: HTTP/1.1 keep-alive, answers 204 to every POST <---+  (up to MAX_SOCKETS connections)
 *
 * A frame is one line: "R <conn> <slot> <gen> <send ns> <in window> xxx...\n", SIZE bytes before the LF, the send
 * time being CLOCK_MONOTONIC in nanoseconds, <in window> 1 for a frame sent in the measured window. The server forwards the line without its LF as a POST body; the sink reads the
 * fields back, so the latency is from the generator's write to the sink's read of the request, on one clock.
 *
 * Why one process: there is no reply to the device, so only the sink knows when a frame has been forwarded. Being in
 * the same process, the sink gives each connection its frame's slot back directly (closed loop): every connection has
 * WINDOW slots, a frame takes one, and the slot is free again when the sink has received that frame, so at most
 * CONNECTIONS x WINDOW frames are on their way. A connection writes again once REFILL slots (default half the
 * window) are free, all its free slots' frames in one write. A server that drops or loses a frame would keep its slot
 * forever, so a slot whose frame has not arrived after LOST_MS is counted as timed out and reused (a frame arriving
 * after that is counted as late). With --rate instead, the connections send RATE frames/s in all whatever arrives (open loop), and
 * nothing is given back.
 *
 * Before the load starts, connection 0 sends a probe frame every 100 ms until one reaches the sink (the server's
 * route and its HTTP client are up); the probes still on their way get 300 ms to arrive. Then WARMUP seconds of load,
 * DURATION measured seconds (msgs/s is what the sink received in them; latencies are of those arrivals), and up to
 * DRAIN seconds without sending, for what is still on its way: lost = the window's frames not received after that.
 *
 * The sink: epoll, one buffer per connection, requests parsed whole (request line, headers, and a body of
 * Content-Length bytes or chunked), Expect: 100-continue answered, pipelined requests answered in one write.
 * Every request, whatever its method or path, is answered "204 No Content". A body that is not a frame of this run is
 * counted as unstamped (the only thing wrk sends in --sink-only mode).
 *
 * usage: routegen --port PORT --sink-port PORT [--host 127.0.0.1] [--connections 50]
 *                 [--window 16 [--refill 8] | --rate MSGS_PER_S] [--size 64] [--warmup 2] [--duration 10]
 *                 [--drain 2] [--lost-ms 2000] [--server-pid PID] [--server-cpu 0]
 *        routegen --sink-only --sink-port PORT [--warmup 0] [--duration 10]   the sink alone, counting requests
 * SIGINT or SIGTERM ends the measured window at once, and the result is printed as usual.
 *
 * Build: cc -O2 -Wall -Wextra -std=gnu11 -o routegen routegen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 512
#define READ_CHUNK (64 * 1024)
#define MAX_REQUEST (1024 * 1024)   /* a sink connection's buffered request, headers and body */
#define MAX_HEADERS (64 * 1024)
#define MIN_SIZE 64                 /* room for the fields of a frame */
#define MAX_SIZE 60000              /* under the gateway's default MaxFrameSize of 65,536 for Line framing */
#define OPEN_LOOP_CAP 1024          /* frames a connection may have unwritten in --rate mode */

static struct {
    const char *host;
    int port, sink_port, conns, window, refill, sink_only, server_cpu;
    pid_t server_pid;
    uint32_t size;
    double rate, warmup, duration, drain, lost_ms;
} opt = { .host = "127.0.0.1", .conns = 50, .window = 16, .size = 64, .warmup = 2, .duration = 10, .drain = 2,
          .lost_ms = 2000 };

enum kind { LISTENER, DEVICE, SINK };

/* A TCP connection to the server under test: a device. */
struct device {
    enum kind kind;
    int fd, want_out, dirty;
    uint32_t index;
    uint8_t *out;            /* frames not yet written: [off, len) */
    size_t off, len, cap;
    /* closed loop: WINDOW slots; a free one may carry a frame */
    uint64_t *slot_sent;     /* send time of the slot's frame, 0 when free */
    uint32_t *slot_gen;      /* generation of the slot's frame: a late frame's does not match */
    uint32_t *free_slots, nfree;
};

/* A connection the server under test opened to the sink. */
struct sink_conn {
    enum kind kind;
    int fd, want_out, continued;   /* continued: "100 Continue" sent for the request being read */
    uint8_t *in;
    size_t have, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
};

static int epfd;
static struct device *devs;
static struct device **dirty;
static size_t ndirty;
static uint8_t *body_scratch;        /* a chunked body, put back together */
static struct latencies window_lat;
static int measuring, loading, stopped;
static uint64_t sent_total, sent_window, received_of_window, sent_probes, received, received_window, received_probes, late, timed_out, unstamped,
    not_queued, sink_accepts, unstamped_window;
static int sink_open, sink_open_max;

static volatile sig_atomic_t stop_requested;   /* SIGINT or SIGTERM: end the window now and report */
static void on_stop_signal(int sig) { (void)sig; stop_requested = 1; }

static const char RESPONSE_204[] = "HTTP/1.1 204 No Content\r\n\r\n";
static const char RESPONSE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void add_fd(int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("epoll_ctl(ADD)");
        exit(1);
    }
}

/* ======================================== devices ======================================== */

/* Appends one frame: kind 'R' (a slot's), 'O' (open loop) or 'P' (probe). Returns 0 when the buffer is full. */
static int dev_append(struct device *d, char kind, uint32_t slot, uint32_t gen, uint64_t t)
{
    size_t frame = (size_t)opt.size + 1;
    if (d->off > 0 && d->len + frame > d->cap) {
        memmove(d->out, d->out + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    if (d->len + frame > d->cap)
        return 0;
    char *f = (char *)d->out + d->len;
    int n = snprintf(f, frame, "%c %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %d ", kind, d->index, slot, gen, t,
                     measuring);
    memset(f + n, 'x', opt.size - (size_t)n);
    f[opt.size] = '\n';
    d->len += frame;
    return 1;
}

static void dev_flush(struct device *d)
{
    while (d->off < d->len) {
        ssize_t w = write(d->fd, d->out + d->off, d->len - d->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail("a device's write failed (the server closed or reset the connection)");
            return;
        }
        d->off += (size_t)w;
    }
    if (d->off == d->len)
        d->off = d->len = 0;
    epoll_want_out(epfd, d->fd, d, &d->want_out, d->len > 0);
}

static void mark_dirty(struct device *d)
{
    if (!d->dirty) {
        d->dirty = 1;
        dirty[ndirty++] = d;
    }
}

/* Closed loop: a frame in every free slot of d, once at least REFILL slots are free, so that a connection's frames
 * leave several to a write (one write per frame would cost the generator's core as much as the sink). */
static void dev_fill(struct device *d, uint64_t t)
{
    if (d->nfree < (uint32_t)opt.refill)
        return;
    while (d->nfree > 0) {
        uint32_t s = d->free_slots[d->nfree - 1];
        if (!dev_append(d, 'R', s, d->slot_gen[s], t))
            break;   /* cannot happen: the buffer holds a whole window */
        d->nfree--;
        d->slot_sent[s] = t;
        sent_total++;
        sent_window += (uint64_t)measuring;
    }
}

static void dev_free_slot(struct device *d, uint32_t s)
{
    d->slot_sent[s] = 0;
    d->slot_gen[s]++;
    d->free_slots[d->nfree++] = s;
    mark_dirty(d);
}

static void dev_readable(struct device *d)
{
    char buf[4096];
    ssize_t r = read(d->fd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0)
        fail("the server closed or reset a device connection");
    /* Anything the server sends to a device is ignored: the route has no reply. */
}

/* ======================================== sink ======================================== */

/* A received body: a frame of this run gives its slot back and its latency. */
static void on_body(const char *b, size_t n, uint64_t now)
{
    char kind = n > 2 ? b[0] : 0;
    if ((kind != 'R' && kind != 'O' && kind != 'P') || b[1] != ' ') {
        unstamped++;
        if (measuring)
            unstamped_window++;
        return;
    }
    /* The fields end at the padding, which strtoull stops at; the body is not NUL-terminated, so copy the head. */
    char head[MIN_SIZE + 1];
    size_t h = n < MIN_SIZE ? n : MIN_SIZE;
    memcpy(head, b, h);
    head[h] = 0;
    char *p = head + 2, *e;
    unsigned long long conn = strtoull(p, &e, 10), slot, gen, sent;
    if (e == p)
        goto bad;
    slot = strtoull(p = e, &e, 10);
    if (e == p)
        goto bad;
    gen = strtoull(p = e, &e, 10);
    if (e == p)
        goto bad;
    sent = strtoull(p = e, &e, 10);
    if (e == p || conn >= (unsigned long long)opt.conns || sent > now)
        goto bad;
    unsigned long long in_window = strtoull(p = e, &e, 10);
    if (e == p)
        goto bad;
    if (kind == 'P') {
        received_probes++;
        return;
    }
    received++;
    received_of_window += in_window != 0;
    if (measuring) {
        received_window++;
        lat_record(&window_lat, now - sent);
    }
    if (kind == 'R') {
        struct device *d = &devs[conn];
        if (slot < (unsigned long long)opt.window && d->slot_sent[slot] != 0 && d->slot_gen[slot] == gen)
            dev_free_slot(d, (uint32_t)slot);
        else
            late++;
    }
    return;
bad:
    fail("the sink received a body that is not a whole frame of this run");
}

static void sink_flush(struct sink_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            c->out_off = c->out_len;   /* the client went away; its close is seen on the next read */
            break;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    epoll_want_out(epfd, c->fd, c, &c->want_out, c->out_len > 0);
}

static void sink_answer(struct sink_conn *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out) {
            fprintf(stderr, "routegen: out of memory\n");
            exit(1);
        }
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void sink_close(struct sink_conn *c)
{
    close(c->fd);   /* also leaves the epoll set */
    free(c->in);
    free(c->out);
    free(c);
    sink_open--;
}

/* The value of header NAME (lower case, with its colon) in the header block [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name, const char **value_end)
{
    size_t nl = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *value_end = eol;
            return v;
        }
        line = eol + 2;
    }
    return NULL;
}

/* Chunked body starting at p, of at most n bytes: its length once whole (put together in body_scratch), with *used
 * the bytes it took up to and including the trailer's empty line; -2 while incomplete; -1 when malformed. */
static long chunked_body(const char *p, size_t n, size_t *used)
{
    size_t off = 0, body = 0;
    for (;;) {
        const char *eol = memmem(p + off, n - off, "\r\n", 2);
        if (!eol)
            return -2;
        char *e;
        unsigned long size = strtoul(p + off, &e, 16);
        if (e == p + off)
            return -1;
        off = (size_t)(eol - p) + 2;
        if (size == 0) {
            /* trailers, then an empty line */
            for (;;) {
                const char *end = memmem(p + off, n - off, "\r\n", 2);
                if (!end)
                    return -2;
                size_t len = (size_t)(end - (p + off));
                off += len + 2;
                if (len == 0) {
                    *used = off;
                    return (long)body;
                }
            }
        }
        if (size > MAX_REQUEST || body + size > MAX_REQUEST)
            return -1;
        if (n - off < size + 2)
            return -2;
        memcpy(body_scratch + body, p + off, size);
        body += size;
        off += size + 2;
    }
}

/* Parses and answers every whole request buffered in c. Returns -1 when the connection must be closed. */
static int sink_parse(struct sink_conn *c, uint64_t now)
{
    size_t off = 0;
    int rc = 0;
    while (off < c->have) {
        const char *p = (const char *)c->in + off;
        size_t n = c->have - off;
        const char *hend = memmem(p, n, "\r\n\r\n", 4);
        if (!hend) {
            if (n > MAX_HEADERS)
                rc = -1;
            break;
        }
        const char *line_end = memmem(p, n, "\r\n", 2);
        const char *hstart = line_end + 2, *hstop = hend + 2, *ve;
        size_t hlen = (size_t)(hend - p) + 4;
        const char *v;
        long body_len;
        size_t used = 0;
        const char *body;
        if ((v = header(hstart, hstop, "transfer-encoding:", &ve)) && memmem(v, (size_t)(ve - v), "chunked", 7)) {
            body_len = chunked_body(p + hlen, n - hlen, &used);
            if (body_len == -2)
                goto incomplete;
            if (body_len < 0) {
                rc = -1;
                break;
            }
            body = (const char *)body_scratch;
        } else {
            unsigned long long cl = 0;
            if ((v = header(hstart, hstop, "content-length:", &ve))) {
                char *e;
                cl = strtoull(v, &e, 10);
                if (e == v) {
                    rc = -1;
                    break;
                }
            }
            if (cl > MAX_REQUEST) {
                rc = -1;
                break;
            }
            if (n - hlen < cl)
                goto incomplete;
            body = p + hlen;
            body_len = (long)cl;
            used = (size_t)cl;
        }
        on_body(body, (size_t)body_len, now);
        sink_answer(c, RESPONSE_204, sizeof RESPONSE_204 - 1);
        c->continued = 0;
        off += hlen + used;
        continue;
    incomplete:
        if (!c->continued && (v = header(hstart, hstop, "expect:", &ve)) && memmem(v, (size_t)(ve - v), "100-continue", 12)) {
            sink_answer(c, RESPONSE_100, sizeof RESPONSE_100 - 1);
            c->continued = 1;
        }
        break;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->have - off);
        c->have -= off;
    }
    if (c->out_len > 0)
        sink_flush(c);   /* every answer of this read in one write */
    return rc;
}

static void sink_readable(struct sink_conn *c)
{
    for (;;) {
        if (c->in_cap - c->have < READ_CHUNK) {
            if (c->in_cap >= MAX_REQUEST + MAX_HEADERS + READ_CHUNK) {
                fail("a request to the sink is larger than the sink accepts");
                sink_close(c);
                return;
            }
            c->in_cap = c->in_cap ? c->in_cap * 2 : 2 * READ_CHUNK;
            c->in = realloc(c->in, c->in_cap);
            if (!c->in) {
                fprintf(stderr, "routegen: out of memory\n");
                exit(1);
            }
        }
        ssize_t r = read(c->fd, c->in + c->have, c->in_cap - c->have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sink_close(c);   /* a reset: the server's HTTP client closed it */
            return;
        }
        if (r == 0) {
            if (c->have > 0 && !stopped)
                fail("a connection to the sink closed in the middle of a request");
            sink_close(c);
            return;
        }
        c->have += (size_t)r;
        if (sink_parse(c, now_ns()) < 0) {
            fail("the sink received a request it cannot parse");
            sink_close(c);
            return;
        }
        if ((size_t)r < READ_CHUNK)
            return;   /* level-triggered: more, if any, comes with the next wakeup */
    }
}

static void sink_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sink_conn *c = calloc(1, sizeof *c);
        if (!c) {
            fprintf(stderr, "routegen: out of memory\n");
            exit(1);
        }
        c->kind = SINK;
        c->fd = fd;
        add_fd(fd, EPOLLIN, c);
        sink_accepts++;
        if (++sink_open > sink_open_max)
            sink_open_max = sink_open;
    }
}

static int sink_listen(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.sink_port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "routegen: cannot listen on 127.0.0.1:%d: %s\n", opt.sink_port, strerror(errno));
        exit(1);
    }
    static enum kind listener = LISTENER;
    add_fd(fd, EPOLLIN, &listener);
    return fd;
}

/* ======================================== main loop ======================================== */

/* The one CPU this process is pinned to, or -1. */
static int pinned_cpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) < 0 || CPU_COUNT(&set) != 1)
        return -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            return i;
    return -1;
}

/* Idle jiffies (idle + iowait) of CPU cpu, or -1. The busy share of a core is taken as what is not idle: the kernel
 * measures idle time exactly (tickless idle), while the per-CPU user and system times are sampled at each tick and
 * miss a process that runs in short bursts between ticks. Busy covers whatever ran there, including the softirq work
 * of loopback TCP, which runs on the sending core and is charged to no process. */
static long long core_idle_ticks(int cpu)
{
    if (cpu < 0)
        return -1;
    char line[512], want[16];
    snprintf(want, sizeof want, "cpu%d ", cpu);
    long long idle = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long u, ni, sy, id, io;
        if (strncmp(line, want, strlen(want)) == 0 &&
            sscanf(line + strlen(want), "%llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io) == 5) {
            idle = (long long)(id + io);
            break;
        }
    }
    fclose(f);
    return idle;
}

static int elapsed_ok(uint64_t t_stop, uint64_t t_start) { return t_start && t_stop > t_start; }

static void usage(void)
{
    fprintf(stderr,
            "usage: routegen --port PORT --sink-port PORT [--host 127.0.0.1] [--connections 50]\n"
            "                [--window 16 [--refill 8] | --rate MSGS_PER_S] [--size 64] [--warmup 2] [--duration 10] [--drain 2]\n"
            "                [--lost-ms 2000] [--server-pid PID] [--server-cpu 0]\n"
            "       routegen --sink-only --sink-port PORT [--warmup 0] [--duration 10]\n");
}

static void dispatch(struct epoll_event *ev, int lfd)
{
    enum kind k = *(enum kind *)ev->data.ptr;
    if (k == LISTENER) {
        sink_accept(lfd);
    } else if (k == DEVICE) {
        struct device *d = ev->data.ptr;
        if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            dev_readable(d);
        if (!abort_reason && (ev->events & EPOLLOUT))
            dev_flush(d);
    } else {
        struct sink_conn *c = ev->data.ptr;
        if (ev->events & EPOLLOUT) {
            sink_flush(c);
            if (!(ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                return;
        }
        sink_readable(c);   /* may free c */
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },       { "port", required_argument, 0, 'p' },
        { "sink-port", required_argument, 0, 'S' },  { "connections", required_argument, 0, 'c' },
        { "window", required_argument, 0, 'k' },     { "rate", required_argument, 0, 'r' },
        { "size", required_argument, 0, 's' },       { "warmup", required_argument, 0, 'w' },
        { "duration", required_argument, 0, 'd' },   { "drain", required_argument, 0, 'D' },
        { "lost-ms", required_argument, 0, 'L' },    { "server-pid", required_argument, 0, 'P' },
        { "server-cpu", required_argument, 0, 'C' }, { "sink-only", no_argument, 0, 'O' },
        { "refill", required_argument, 0, 'f' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'S': opt.sink_port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'k': opt.window = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 's': opt.size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'L': opt.lost_ms = atof(optarg); break;
        case 'P': opt.server_pid = (pid_t)atoi(optarg); break;
        case 'C': opt.server_cpu = atoi(optarg); break;
        case 'O': opt.sink_only = 1; break;
        case 'f': opt.refill = atoi(optarg); break;
        default: usage(); return 2;
        }
    }
    if (optind != argc || opt.sink_port <= 0 || opt.sink_port > 65535 || !(opt.duration > 0) || opt.warmup < 0 ||
        opt.drain < 0 || (!opt.sink_only && (opt.port <= 0 || opt.port > 65535 || opt.conns <= 0 || opt.window <= 0 ||
                                             opt.rate < 0 || opt.size < MIN_SIZE || opt.size > MAX_SIZE ||
                                             !(opt.lost_ms > 0)))) {
        usage();
        fprintf(stderr, "(--size is %d to %d bytes)\n", MIN_SIZE, MAX_SIZE);
        return 2;
    }
    if (opt.refill <= 0 || opt.refill > opt.window)
        opt.refill = (opt.window + 1) / 2;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    body_scratch = malloc(MAX_REQUEST);
    if (epfd < 0 || !body_scratch) {
        perror("routegen");
        return 1;
    }
    int lfd = sink_listen();
    int closed_loop = opt.rate == 0;

    if (opt.sink_only)
        opt.conns = 0;
    devs = calloc((size_t)opt.conns + 1, sizeof *devs);
    dirty = calloc((size_t)opt.conns + 1, sizeof *dirty);
    if (!devs || !dirty) {
        fprintf(stderr, "routegen: out of memory\n");
        return 1;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    if (!opt.sink_only && inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "routegen: --host must be an IPv4 address, got '%s'\n", opt.host);
        return 2;
    }
    for (int i = 0; i < opt.conns; i++) {
        struct device *d = &devs[i];
        d->kind = DEVICE;
        d->index = (uint32_t)i;
        d->fd = connect_tcp(&sa);
        if (d->fd < 0) {
            fprintf(stderr, "routegen: cannot connect device %d to %s:%d\n", i, opt.host, opt.port);
            return 1;
        }
        size_t frames = (size_t)(closed_loop ? opt.window : OPEN_LOOP_CAP) + 4;   /* + probes */
        d->cap = frames * ((size_t)opt.size + 1);
        d->out = malloc(d->cap);
        d->slot_sent = calloc((size_t)opt.window, sizeof *d->slot_sent);
        d->slot_gen = calloc((size_t)opt.window, sizeof *d->slot_gen);
        d->free_slots = malloc((size_t)opt.window * sizeof *d->free_slots);
        if (!d->out || !d->slot_sent || !d->slot_gen || !d->free_slots) {
            fprintf(stderr, "routegen: out of memory\n");
            return 1;
        }
        for (int s = 0; s < opt.window; s++)
            d->free_slots[d->nfree++] = (uint32_t)(opt.window - 1 - s);
        add_fd(d->fd, EPOLLIN, d);
    }

    struct epoll_event evs[MAX_EVENTS];
    uint64_t t_start = now_ns(), t_next_probe = t_start, t_ready = 0, t_load = 0, t_measure = 0, t_end = 0;
    uint64_t t_measure_actual = 0, t_stop = 0, t_drain_end = 0, t_next_scan = 0, open_sent = 0;
    uint32_t rr = 0;
    struct cpu_snap s0 = { 0 }, s1 = { 0 };
    int my_cpu = pinned_cpu();
    long long core0[2] = { -1, -1 }, core1[2] = { -1, -1 };
    const uint64_t lost_ns = (uint64_t)(opt.lost_ms * 1e6);
    if (opt.sink_only) {
        t_ready = t_load = t_start;
        t_measure = t_start + (uint64_t)(opt.warmup * 1e9);
        t_end = t_measure + (uint64_t)(opt.duration * 1e9);
        printf("sink only: listening on 127.0.0.1:%d\n", opt.sink_port);
        fflush(stdout);
    }

    for (;;) {
        uint64_t t = now_ns();
        if (!t_ready) {
            /* Readiness: a probe every 100 ms until one reaches the sink, for at most 30 s. */
            if (received_probes > 0) {
                t_ready = t;
                printf("ready: the first probe reached the sink %.0f ms after the first was sent (%" PRIu64 " sent)\n",
                       (double)(t - t_start) / 1e6, sent_probes);
                fflush(stdout);
            } else if (t - t_start > 30000000000ull) {
                fail("no probe frame reached the sink within 30 s (is the route up?)");
                break;
            } else if (t >= t_next_probe) {
                dev_append(&devs[0], 'P', 0, 0, t);
                dev_flush(&devs[0]);
                sent_probes++;
                t_next_probe = t + 100000000ull;
            }
        } else if (!t_load && t >= t_ready + 300000000ull) {
            /* The probes still on their way have arrived: the load starts. */
            t_load = t;
            t_measure = t + (uint64_t)(opt.warmup * 1e9);
            t_end = t_measure + (uint64_t)(opt.duration * 1e9);
            t_next_scan = t + 100000000ull;
            loading = 1;
            if (closed_loop)
                for (int i = 0; i < opt.conns; i++)
                    mark_dirty(&devs[i]);
        }
        if (t_load && !measuring && !stopped && t >= t_measure) {
            measuring = 1;
            t_measure_actual = t;
            cpu_snapshot(&s0, opt.server_pid, opt.server_cpu);
            core0[0] = core_idle_ticks(my_cpu);
            core0[1] = core_idle_ticks(opt.server_cpu);
        }
        if (stop_requested && !stopped) {
            if (!measuring)
                break;
            t_end = t;
        }
        if (measuring && t >= t_end) {
            measuring = 0;
            loading = 0;
            stopped = 1;
            t_stop = t;
            cpu_snapshot(&s1, opt.server_pid, opt.server_cpu);
            core1[0] = core_idle_ticks(my_cpu);
            core1[1] = core_idle_ticks(opt.server_cpu);
            t_drain_end = t + (uint64_t)(opt.drain * 1e9);
        }
        if (stopped && (t >= t_drain_end || opt.sink_only || received >= sent_total))
            break;
        if (abort_reason)
            break;

        /* Closed loop: slots whose frame has not arrived after LOST_MS are taken back. */
        if (loading && closed_loop && t >= t_next_scan) {
            t_next_scan = t + 100000000ull;
            for (int i = 0; i < opt.conns; i++)
                for (int s = 0; s < opt.window; s++)
                    if (devs[i].slot_sent[s] && t - devs[i].slot_sent[s] > lost_ns) {
                        timed_out++;
                        dev_free_slot(&devs[i], (uint32_t)s);
                    }
        }
        /* Open loop: what is due by now, one frame a connection in turn. */
        if (loading && !closed_loop && !opt.sink_only) {
            uint64_t due = (uint64_t)(opt.rate * (double)(t - t_load) / 1e9);
            for (; open_sent < due; open_sent++, rr = (rr + 1) % (uint32_t)opt.conns) {
                struct device *d = &devs[rr];
                if (dev_append(d, 'O', 0, 0, t)) {
                    sent_total++;
                    sent_window += (uint64_t)measuring;
                    mark_dirty(d);
                } else {
                    not_queued++;
                }
            }
        }
        for (size_t i = 0; i < ndirty; i++) {
            struct device *d = dirty[i];
            d->dirty = 0;
            if (loading && closed_loop)
                dev_fill(d, t);
            dev_flush(d);
        }
        ndirty = 0;

        uint64_t wake = !t_ready ? t_next_probe : !t_load ? t_ready + 300000000ull : stopped ? t_drain_end
                        : !measuring ? t_measure : t_end;
        if (loading && closed_loop && t_next_scan < wake)
            wake = t_next_scan;
        int timeout_ms = wake > t ? (int)((wake - t + 999999) / 1000000) : 0;
        if (loading && !closed_loop)
            timeout_ms = timeout_ms > 1 ? 1 : timeout_ms;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n && !abort_reason; i++)
            dispatch(&evs[i], lfd);
    }
    if (!stopped) {   /* aborted */
        t_stop = now_ns();
        cpu_snapshot(&s1, opt.server_pid, opt.server_cpu);
        core1[0] = core_idle_ticks(my_cpu);
        core1[1] = core_idle_ticks(opt.server_cpu);
    }
    /* Each core's busy %, whatever ran there (-1 when unknown): the generator's core near 100 % means the figures are
     * the generator's and the sink's limit, not the server's. */
    double core_pct[2];
    for (int i = 0; i < 2; i++) {
        core_pct[i] = -1;
        if (elapsed_ok(t_stop, t_measure_actual) && core0[i] >= 0 && core1[i] >= 0) {
            double idle = 100.0 * (double)(core1[i] - core0[i]) / (double)sysconf(_SC_CLK_TCK) /
                          ((double)(t_stop - t_measure_actual) / 1e9);
            core_pct[i] = idle >= 100 ? 0 : 100 - idle;
        }
    }

    double elapsed = t_measure_actual ? (double)(t_stop - t_measure_actual) / 1e9 : 0.0;
    struct cpu_pct cpu = cpu_window(&s0, &s1, elapsed);
    struct lat_us lat = lat_summary(&window_lat);
    /* lost: the frames sent in the measured window that had not arrived after the drain; lost_all: of the whole run,
     * the warm-up's included (a server still starting may drop some there). */
    uint64_t lost = sent_window > received_of_window ? sent_window - received_of_window : 0;
    uint64_t lost_all = sent_total > received ? sent_total - received : 0;
    if (opt.sink_only) {
        /* wrk's bodies are not frames: the requests of the window are counted as unstamped. */
        received_window = unstamped_window;
    }
    double mps = elapsed > 0 ? (double)received_window / elapsed : 0.0;
    if (abort_reason)
        fprintf(stderr, "routegen: ABORTED: %s\n", abort_reason);
    printf("%d conns x %s %.0f, %" PRIu32 " B, :%d -> sink :%d over %.2fs: %.0f msgs/s forwarded, latency p50 %.1fus "
           "p99 %.1fus p99.9 %.1fus max %.1fus; sent %" PRIu64 ", lost %" PRIu64 " of the window's (%" PRIu64 " in all), late %" PRIu64 ", timed out %" PRIu64
           ", sink connections %d (%" PRIu64 " accepted), errors %" PRIu64 ", routegen cpu %.0f%% (its core %.0f%% busy), "
           "server cpu %.0f%% (its core %.0f%% busy)\n",
           opt.conns, closed_loop ? "window" : "rate", closed_loop ? (double)opt.window : opt.rate, opt.size, opt.port,
           opt.sink_port, elapsed, mps, lat.p50, lat.p99, lat.p999, lat.max, sent_total, lost, lost_all, late, timed_out,
           sink_open_max, sink_accepts, errors, cpu.self, core_pct[0], cpu.srv, core_pct[1]);
    printf("RESULT msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f "
           "msgs=%" PRIu64 " sent=%" PRIu64 " sent_window=%" PRIu64 " lost=%" PRIu64 " lost_all=%" PRIu64 " late=%" PRIu64 " timed_out=%" PRIu64 " not_queued=%" PRIu64
           " unstamped=%" PRIu64 " sink_conns_max=%d sink_accepts=%" PRIu64 " errors=%" PRIu64
           " connections=%d window=%d rate=%.0f size=%" PRIu32 " duration_s=%.2f routegen_cpu_pct=%.0f"
           " routegen_core_pct=%.0f server_cpu_pct=%.0f server_core_pct=%.0f other_cpu_pct=%.0f sirq_pct=%.0f steal_pct=%.0f\n",
           mps, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean, received_window, sent_total, sent_window, lost,
           lost_all, late,
           timed_out, not_queued, unstamped, sink_open_max, sink_accepts, errors, opt.conns,
           closed_loop ? opt.window : 0, opt.rate, opt.size, elapsed, cpu.self, core_pct[0], cpu.srv, core_pct[1], cpu.other,
           cpu.sirq, cpu.steal);
    fflush(stdout);
    return abort_reason ? 3 : 0;
}
