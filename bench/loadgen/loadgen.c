/*
 * loadgen - single-threaded epoll load generator for 4-byte-length framed TCP echo.
 *
 * Wire format: every frame is a 4-byte big-endian unsigned length N followed by
 * N body bytes. The server must echo each frame back unchanged, in order.
 *
 * Each of C connections keeps K frames in flight: K frames are sent at start and
 * each completely received echo immediately triggers one more send. Because a
 * connection's echoes come back in send order, a per-connection FIFO ring of
 * send timestamps is enough to compute each frame's round-trip latency.
 *
 * Design choices that keep the generator from being the bottleneck:
 *   - one thread, one epoll set, level-triggered, up to 512 events per wakeup;
 *   - one read() per ready socket into a large shared buffer; the bytes are
 *     only parsed (header + body compare), never copied into per-connection
 *     state except for a split 4-byte header;
 *   - all replacement frames triggered by one read() go out in ONE write()
 *     from a pre-built buffer of K identical frames;
 *   - latencies go into a fixed log-linear histogram (no per-sample storage);
 *   - one clock_gettime() per read(), shared by every frame completed in it
 *     and by the frames sent in response (they really happen at that instant).
 *
 * Build: gcc -O2 -Wall -Wextra -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define READ_BUF_SIZE (256 * 1024)
#define MAX_EVENTS 512
#define MAX_BODY (64u * 1024 * 1024)   /* sanity cap on --size */
#define CONNECT_TIMEOUT_MS 5000

/* ---------- connections ---------- */
struct conn {
    int fd;
    /* receive parser */
    uint32_t hdr_have;      /* header bytes collected so far (0..4) */
    uint8_t hdr[4];
    uint32_t body_left;     /* body bytes still expected for the current frame */
    uint32_t body_off;      /* body bytes already seen (for content check) */
    /* send side: frames queued but not yet fully written */
    uint32_t unsent;        /* whole frames not yet completely written */
    uint32_t send_off;      /* bytes of the first unsent frame already written */
    int want_out;           /* EPOLLOUT currently registered */
    /* FIFO of send timestamps for frames in flight */
    uint64_t *ring;
    uint32_t ring_head, ring_count;
};

static struct {
    const char *host;
    int port, conns, inflight;
    uint32_t size;
    double duration, warmup;
} opt = { "127.0.0.1", 9000, 50, 16, 64, 10.0, 2.0 };

static int epfd;
static struct latencies latency;   /* round trips of the measured window */
static uint8_t *frames;        /* K identical frames, back to back */
static size_t frame_len;       /* 4 + size */
static uint8_t *body_pattern;  /* expected body bytes */
static int measuring;          /* 0 during warmup, 1 during measurement */

static void set_out(struct conn *c, int on) { epoll_want_out(epfd, c->fd, c, &c->want_out, on); }

/* Queue n more frames, stamping their send time; flush() writes them. */
static void queue_frames(struct conn *c, uint32_t n, uint64_t t)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot = (c->ring_head + c->ring_count) % (uint32_t)opt.inflight;
        c->ring[slot] = t;
        c->ring_count++;
    }
    c->unsent += n;
}

static void flush(struct conn *c)
{
    while (c->unsent > 0) {
        /* unsent <= inflight, so the pre-built K-frame buffer always suffices;
         * all frames are identical, so send_off maps to the same bytes. */
        size_t len = (size_t)c->unsent * frame_len - c->send_off;
        ssize_t w = write(c->fd, frames + c->send_off, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail("write failed (server closed or reset the connection)");
            return;
        }
        size_t done = c->send_off + (size_t)w;
        c->unsent -= (uint32_t)(done / frame_len);
        c->send_off = (uint32_t)(done % frame_len);
        if ((size_t)w < len)
            break;   /* socket buffer full: wait for EPOLLOUT */
    }
    set_out(c, c->unsent > 0);
}

static void frame_done(struct conn *c, uint64_t t, uint32_t *completed)
{
    if (c->ring_count == 0) {
        fail("received an echo for a frame that was never sent");
        return;
    }
    uint64_t sent = c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % (uint32_t)opt.inflight;
    c->ring_count--;
    if (measuring)
        lat_record(&latency, t - sent);   /* so latency.count is also the number of measured frames */
    (*completed)++;
}

/* Parse whatever bytes arrived; frames may be split or coalesced arbitrarily. */
static void parse(struct conn *c, const uint8_t *p, size_t n, uint64_t t, uint32_t *completed)
{
    while (n > 0 && !abort_reason) {
        if (c->hdr_have < 4) {
            size_t take = 4 - c->hdr_have;
            if (take > n)
                take = n;
            memcpy(c->hdr + c->hdr_have, p, take);
            c->hdr_have += (uint32_t)take;
            p += take;
            n -= take;
            if (c->hdr_have < 4)
                return;
            uint32_t len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
                           (uint32_t)c->hdr[2] << 8 | (uint32_t)c->hdr[3];
            if (len != opt.size) {
                fprintf(stderr, "loadgen: echoed length header %" PRIu32 " != sent %" PRIu32 "\n",
                        len, opt.size);
                fail("echoed length header mismatch");
                return;
            }
            c->body_left = len;
            c->body_off = 0;
        }
        size_t take = c->body_left < n ? c->body_left : n;
        /* cheap content check: the body must come back byte-for-byte */
        if (take && memcmp(p, body_pattern + c->body_off, take) != 0) {
            fail("echoed body differs from sent body");
            return;
        }
        c->body_left -= (uint32_t)take;
        c->body_off += (uint32_t)take;
        p += take;
        n -= take;
        if (c->body_left == 0) {
            c->hdr_have = 0;
            frame_done(c, t, completed);
        }
    }
}

static void on_readable(struct conn *c, uint8_t *buf)
{
    ssize_t r = read(c->fd, buf, READ_BUF_SIZE);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail("read failed (connection reset by server?)");
        return;
    }
    if (r == 0) {
        fail("server closed the connection");
        return;
    }
    uint64_t t = now_ns();
    uint32_t completed = 0;
    parse(c, buf, (size_t)r, t, &completed);
    if (completed && !abort_reason) {
        queue_frames(c, completed, t);   /* keep K in flight */
        flush(c);                        /* one write for all of them */
    }
}

/* Non-blocking connect with a timeout so a full backlog cannot hang us. */
static int connect_one(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        return -1;
    }
    int one = 1;
    /* Without NODELAY, Nagle + delayed ACK would add ~40 ms stalls to small frames. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        fprintf(stderr, "loadgen: connect to %s:%d failed: %s\n", opt.host, opt.port, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int pr = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
    int err = 0;
    socklen_t el = sizeof err;
    if (pr == 0)
        err = ETIMEDOUT;
    else if (pr < 0)
        err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err) {
        fprintf(stderr, "loadgen: connect to %s:%d failed: %s\n", opt.host, opt.port, strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--host 127.0.0.1] [--port 9000] [--connections 50] [--inflight 16]\n"
            "          [--size 64] [--duration 10] [--warmup 2]\n"
            "Frames are 4-byte big-endian length + body; latency is send->echo per frame.\n",
            argv0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },
        { "port", required_argument, 0, 'p' },
        { "connections", required_argument, 0, 'c' },
        { "inflight", required_argument, 0, 'k' },
        { "size", required_argument, 0, 's' },
        { "duration", required_argument, 0, 'd' },
        { "warmup", required_argument, 0, 'w' },
        { "help", no_argument, 0, '?' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h:p:c:k:s:d:w:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'k': opt.inflight = atoi(optarg); break;
        case 's': opt.size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        default: usage(argv[0]); return 2;
        }
    }
    if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.conns <= 0 ||
        opt.inflight <= 0 || opt.size > MAX_BODY || !(opt.duration > 0) || opt.warmup < 0) {
        usage(argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);   /* a dead server must give EPIPE, not kill us */

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address, got '%s'\n", opt.host);
        return 2;
    }

    /* Pre-build K identical frames so any number of sends is a single write(). */
    frame_len = 4 + (size_t)opt.size;
    frames = malloc(frame_len * (size_t)opt.inflight);
    body_pattern = malloc(opt.size ? opt.size : 1);
    uint8_t *buf = malloc(READ_BUF_SIZE);
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    uint64_t *rings = calloc((size_t)opt.conns * (size_t)opt.inflight, sizeof *rings);
    if (!frames || !body_pattern || !buf || !cs || !rings) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < opt.size; i++)
        body_pattern[i] = (uint8_t)(i * 31u + 7u);   /* non-constant, so shifts are caught */
    for (int f = 0; f < opt.inflight; f++) {
        uint8_t *p = frames + (size_t)f * frame_len;
        p[0] = (uint8_t)(opt.size >> 24);
        p[1] = (uint8_t)(opt.size >> 16);
        p[2] = (uint8_t)(opt.size >> 8);
        p[3] = (uint8_t)opt.size;
        memcpy(p + 4, body_pattern, opt.size);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("epoll_create1");
        return 1;
    }
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &cs[i];
        c->fd = connect_one(&sa);
        if (c->fd < 0)
            return 1;   /* message already printed; kernel closes the rest */
        c->ring = rings + (size_t)i * (size_t)opt.inflight;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            perror("epoll_ctl(ADD)");
            return 1;
        }
    }

    uint64_t t0 = now_ns();
    uint64_t t_measure = t0 + (uint64_t)(opt.warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(opt.duration * 1e9);
    double cpu_at_measure = 0;
    uint64_t t_measure_actual = t_measure;

    for (int i = 0; i < opt.conns; i++) {
        queue_frames(&cs[i], (uint32_t)opt.inflight, t0);
        flush(&cs[i]);
    }

    struct epoll_event evs[MAX_EVENTS];
    uint64_t t_now = now_ns();
    while (!abort_reason && t_now < t_end) {
        if (!measuring && t_now >= t_measure) {
            measuring = 1;
            t_measure_actual = t_now;
            cpu_at_measure = cpu_seconds();
        }
        /* Wake up at the next phase boundary even if the server goes silent. */
        uint64_t deadline = measuring ? t_end : t_measure;
        int timeout_ms = deadline > t_now ? (int)((deadline - t_now + 999999) / 1000000) : 0;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n && !abort_reason; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c, buf);
            if (!abort_reason && (evs[i].events & EPOLLOUT))
                flush(c);
        }
        t_now = now_ns();
    }
    uint64_t t_stop = now_ns();
    double cpu_used = cpu_seconds() - cpu_at_measure;
    for (int i = 0; i < opt.conns; i++)
        close(cs[i].fd);
    close(epfd);
    free(rings);
    free(cs);
    free(buf);
    free(body_pattern);
    free(frames);

    double elapsed = measuring ? (double)(t_stop - t_measure_actual) / 1e9 : 0.0;
    double fps = elapsed > 0 ? (double)latency.count / elapsed : 0.0;
    double mbps = fps * (double)opt.size / 1e6;
    struct lat_us lat = lat_summary(&latency);
    double cpu_pct = elapsed > 0 ? 100.0 * cpu_used / elapsed : 0.0;

    if (abort_reason)
        fprintf(stderr, "loadgen: ABORTED: %s\n", abort_reason);
    printf("%s:%d conns=%d inflight=%d size=%" PRIu32 "B over %.2fs: %.0f frames/s, %.2f MB/s, "
           "latency p50 %.1fus p90 %.1fus p99 %.1fus p99.9 %.1fus max %.1fus mean %.1fus, "
           "errors %" PRIu64 ", loadgen cpu %.0f%%\n",
           opt.host, opt.port, opt.conns, opt.inflight, opt.size, elapsed, fps, mbps,
           lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean, errors, cpu_pct);
    printf("RESULT frames_per_s=%.0f mb_per_s=%.2f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f mean_us=%.1f frames=%" PRIu64 " errors=%" PRIu64
           " conns=%d inflight=%d size=%" PRIu32 " duration_s=%.2f loadgen_cpu_pct=%.0f\n",
           fps, mbps, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean, latency.count, errors,
           opt.conns, opt.inflight, opt.size, elapsed, cpu_pct);
    fflush(stdout);
    return abort_reason ? 3 : 0;
}
