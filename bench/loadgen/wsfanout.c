/*
 * wsfanout - single-threaded epoll WebSocket fan-out load generator.
 *
 * Opens S subscriber connections (GET PATH?subscribe=TOPIC) and one publisher
 * connection (GET PATH?publish=TOPIC) with a real HTTP/1.1 Upgrade handshake
 * (random Sec-WebSocket-Key, the response must be "101" with "Upgrade: websocket"),
 * then the publisher sends P messages/s for warmup + duration seconds. Every
 * message is one masked client frame (text by default, --binary for binary)
 * whose payload starts with "<seq as 16 hex digits> <send time as 16 hex
 * digits>" (CLOCK_MONOTONIC ns, taken right before the write()) and is padded
 * with 'x' to --size bytes. Subscribers parse the unmasked server frames
 * (2/4/10-byte headers, split or coalesced arbitrarily across reads), answer
 * pings with masked pongs, and for each delivered message record two
 * latencies from the send time, and check the sequence number:
 *   read latency     to the moment this program read the frame;
 *   arrival latency  to the moment the frame reached the subscriber's socket:
 *                    the kernel's receive timestamp (SO_TIMESTAMPNS) of the
 *                    last packet of the read that completed the frame.
 * On loopback the arrival is the server's send (the receiving side of the TCP
 * stack runs inside the sender's system call), so the arrival latency is the
 * server's alone. The read latency adds this program's own time for reading
 * the subscriber sockets one after another: 6-10 us of its core per delivery
 * here, so a fan-out to 1,000 subscribers shows no read p99 much below 7 ms
 * however fast the server is.
 *
 * Reported:
 *   deliveries/s  messages received by all subscribers per second in the
 *                 measured window (ideal = publish rate x subscribers);
 *   latency       both kinds, of the messages published in the measured window,
 *                 including those that arrive during the final drain (arrival_*
 *                 fields; a read without a timestamp counts its read time as the
 *                 arrival, and arrival_untimed says how many frames that was);
 *   lost          published x subscribers - received, after the drain:
 *                 gaps (sequence numbers a subscriber never saw although a later
 *                 one arrived: dropped by the server) + undelivered (still
 *                 missing when the drain ended: the server was still behind).
 *
 * Pacing: a timerfd ticks every max(1/P, 100 us); on each tick the publisher
 * sends floor(elapsed * P) - sent messages (one write() for all of them), so a
 * late tick is caught up and the average rate is exact.
 *
 * Exit status: 0 ok, 1 connect/handshake failure, 2 bad arguments,
 * 3 run aborted on a protocol/socket error (RESULT still printed, errors > 0).
 * It always stops by itself: setup timeout + settle + warmup + duration + drain.
 *
 * Build: gcc -O2 -Wall -Wextra -o wsfanout wsfanout.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define READ_BUF_SIZE (256 * 1024)
#define MAX_EVENTS 512
#define MAX_PENDING_HANDSHAKES 64      /* stay well under the servers' listen backlogs */
#define HANDSHAKE_BUF 4096
#define MIN_SIZE 33                    /* 16 hex + ' ' + 16 hex */
#define MAX_SIZE 65535
#define MAX_OUT (64u * 1024 * 1024)    /* publisher's unsent bytes before we give up */

/* ---------- options ---------- */
static struct {
    const char *host, *path, *topic;
    int port, subs;
    double rate, duration, warmup, drain, settle, setup_timeout;
    uint32_t size;
    int binary, server_pid, server_cpu;
    int publish_port;        /* 0: the subscribers' port; another: the publisher's server (another instance) */
} opt = { "127.0.0.1", "/ws", "bench/fanout", 8080, 1000, 1000, 10.0, 5.0, 3.0, 0.5, 30.0, 64, 0, 0, 0, 0 };

/* ---------- connections ---------- */
enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN };

struct conn {
    int fd, state, is_pub, want_out;
    char key[25];
    uint8_t *stash;          /* partial frame (or, in ST_HANDSHAKE, the response headers) */
    uint32_t stash_len;
    uint8_t *out;            /* bytes waiting to be written (handshake, pongs, publisher frames) */
    size_t out_len, out_cap;
    uint64_t next_seq;       /* subscriber: next sequence number expected */
    uint64_t received;
};

static int epfd;
static struct conn *cs;      /* cs[0..subs-1] subscribers, cs[subs] publisher */
static int nconns;
static uint32_t stash_cap;

static uint64_t published;                  /* messages written by the publisher */
static int measuring, pub_done;
static uint64_t seq_measure_lo = UINT64_MAX; /* first seq published in the measured window */
static uint64_t seq_measure_hi;              /* published count when the window ended */
static uint64_t total_received, total_gaps;
static uint64_t measured_deliveries;         /* received during the measured window */
static struct latencies read_latency, arrival_latency;
static uint64_t arrival_untimed;             /* frames measured without a kernel receive timestamp */
static int64_t realtime_minus_monotonic;     /* the kernel stamps CLOCK_REALTIME; send times are CLOCK_MONOTONIC */

/* When a frame reached its socket (kernel receive timestamp, CLOCK_MONOTONIC ns; 0 if the read had none) and when it was read. */
struct stamp { uint64_t arrival, read; };

static void set_events(struct conn *c, int want_out) { epoll_want_out(epfd, c->fd, c, &c->want_out, want_out); }

static uint8_t *out_reserve(struct conn *c, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap > MAX_OUT) {
            fail("publisher's send buffer overflowed (server stopped reading)");
            return NULL;
        }
        uint8_t *p = realloc(c->out, cap);
        if (!p) {
            fprintf(stderr, "wsfanout: out of memory\n");
            exit(1);
        }
        c->out = p;
        c->out_cap = cap;
    }
    uint8_t *p = c->out + c->out_len;
    c->out_len += n;
    return p;
}

static void flush_out(struct conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = write(c->fd, c->out + off, c->out_len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail("write failed (server closed or reset the connection)");
            return;
        }
        off += (size_t)w;
    }
    if (off) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    if (c->state == ST_OPEN || c->state == ST_HANDSHAKE)
        set_events(c, c->out_len > 0);
}

/* Appends one masked client frame (FIN set). */
static void put_frame(struct conn *c, uint8_t opcode, const uint8_t *payload, size_t len)
{
    size_t hl = len < 126 ? 2 : (len <= 0xFFFF ? 4 : 10);
    uint8_t *p = out_reserve(c, hl + 4 + len);
    if (!p)
        return;
    p[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        p[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        p[1] = 0x80 | 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
    } else {
        p[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    uint32_t m = (uint32_t)random();   /* RFC 6455 wants an unpredictable key; enough for a benchmark */
    uint8_t *mask = p + hl;
    memcpy(mask, &m, 4);
    uint8_t *d = mask + 4;
    for (size_t i = 0; i < len; i++)
        d[i] = payload[i] ^ mask[i & 3];
}

/* ---------- payload: "%016x %016x" + padding ---------- */
static uint8_t *payload_tpl;

static void put_hex16(uint8_t *p, uint64_t v)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        p[i] = (uint8_t)hx[v & 15];
        v >>= 4;
    }
}

static int get_hex16(const uint8_t *p, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        uint8_t ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10u;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* The offset between the kernel's receive timestamps and the send times, read at each publish so it follows any clock step. */
static void sync_clocks(void)
{
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    uint64_t mono = now_ns();
    realtime_minus_monotonic = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec - (int64_t)mono;
}

static void publish_due(uint64_t t_pub0, uint64_t t_now)
{
    struct conn *pub = &cs[opt.subs];
    uint64_t due = (uint64_t)((double)(t_now - t_pub0) * opt.rate / 1e9) + 1;
    if (due <= published)
        return;
    uint64_t n = due - published;
    sync_clocks();
    uint64_t ts = now_ns();
    for (uint64_t i = 0; i < n && !abort_reason; i++) {
        put_hex16(payload_tpl, published + i);
        put_hex16(payload_tpl + 17, ts);
        put_frame(pub, opt.binary ? 0x2 : 0x1, payload_tpl, opt.size);
    }
    published += n;
    flush_out(pub);
}

/* ---------- receive side ---------- */
static void on_data(struct conn *c, const uint8_t *d, uint64_t len, struct stamp t)
{
    if (c->is_pub) {
        fail("the publisher received a data message (it must not be subscribed)");
        return;
    }
    uint64_t seq, ts;
    if (len != opt.size || d[16] != ' ' || get_hex16(d, &seq) || get_hex16(d + 17, &ts)) {
        fprintf(stderr, "wsfanout: malformed message of %" PRIu64 " bytes\n", len);
        fail("delivered message differs from the published one");
        return;
    }
    if (seq < c->next_seq || seq >= published) {
        fprintf(stderr, "wsfanout: subscriber got seq %" PRIu64 ", expected >= %" PRIu64 " (published %" PRIu64 ")\n",
                seq, c->next_seq, published);
        fail("duplicate, reordered or never-published message");
        return;
    }
    total_gaps += seq - c->next_seq;
    c->next_seq = seq + 1;
    c->received++;
    total_received++;
    if (measuring && !pub_done)
        measured_deliveries++;
    if (seq >= seq_measure_lo) {
        lat_record(&read_latency, t.read > ts ? t.read - ts : 0);
        uint64_t arrival = t.arrival;
        if (!arrival) {
            arrival = t.read;
            arrival_untimed++;
        }
        lat_record(&arrival_latency, arrival > ts ? arrival - ts : 0);
    }
}

static void on_frame(struct conn *c, const uint8_t *f, uint32_t hl, uint64_t plen, struct stamp t)
{
    uint8_t op = f[0] & 0x0F;
    if (!(f[0] & 0x80) || op == 0x0) {
        fail("fragmented message (not expected for small messages)");
        return;
    }
    switch (op) {
    case 0x1:
    case 0x2:
        on_data(c, f + hl, plen, t);
        break;
    case 0x9:   /* ping: answer with a masked pong carrying the same payload */
        put_frame(c, 0xA, f + hl, (size_t)plen);
        flush_out(c);
        break;
    case 0xA:   /* pong (.NET may send unsolicited pongs as keep-alive) */
        break;
    case 0x8: {
        unsigned code = plen >= 2 ? (unsigned)f[hl] << 8 | f[hl + 1] : 0;
        fprintf(stderr, "wsfanout: server sent close %u on %s connection\n", code, c->is_pub ? "the publisher" : "a subscriber");
        fail("server closed a WebSocket");
        break;
    }
    default:
        fail("unknown opcode from server");
    }
}

/* Total frame length if the header is complete (0 if not yet), -1 if invalid. */
static int64_t frame_len(const uint8_t *p, size_t n, uint32_t *hl_out, uint64_t *plen_out)
{
    if (n < 2)
        return 0;
    if (p[1] & 0x80)
        return -1;   /* server frames must not be masked */
    uint64_t plen = p[1] & 0x7F;
    uint32_t hl = 2;
    if (plen == 126) {
        if (n < 4)
            return 0;
        plen = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
    } else if (plen == 127) {
        if (n < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | p[2 + i];
        hl = 10;
    }
    if (hl + plen > stash_cap)
        return -2;
    *hl_out = hl;
    *plen_out = plen;
    return (int64_t)(hl + plen);
}

static void parse(struct conn *c, const uint8_t *p, size_t n, struct stamp t)
{
    uint32_t hl;
    uint64_t plen;
    while (n > 0 && !abort_reason) {
        if (c->stash_len == 0) {
            int64_t fl = frame_len(p, n, &hl, &plen);
            if (fl > 0 && (uint64_t)fl <= n) {   /* fast path: whole frame in the buffer */
                on_frame(c, p, hl, plen, t);
                p += fl;
                n -= (size_t)fl;
                continue;
            }
            if (fl < 0) {
                fail(fl == -1 ? "masked frame from server" : "frame larger than expected");
                return;
            }
        }
        /* slow path: accumulate in the stash, header first, then the rest of the frame */
        int64_t fl = frame_len(c->stash, c->stash_len, &hl, &plen);
        if (fl < 0) {
            fail(fl == -1 ? "masked frame from server" : "frame larger than expected");
            return;
        }
        size_t need;
        if (fl > 0)
            need = (size_t)fl;
        else if (c->stash_len < 2)
            need = 2;
        else
            need = (c->stash[1] & 0x7F) == 126 ? 4 : 10;
        size_t take = need - c->stash_len < n ? need - c->stash_len : n;
        memcpy(c->stash + c->stash_len, p, take);
        c->stash_len += (uint32_t)take;
        p += take;
        n -= take;
        fl = frame_len(c->stash, c->stash_len, &hl, &plen);
        if (fl < 0) {
            fail(fl == -1 ? "masked frame from server" : "frame larger than expected");
            return;
        }
        if (fl > 0 && (uint64_t)fl == c->stash_len) {
            c->stash_len = 0;
            on_frame(c, c->stash, hl, plen, t);
        }
    }
}

/* ---------- handshake ---------- */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void make_key(char out[25])
{
    uint8_t r[16];
    for (int i = 0; i < 16; i++)
        r[i] = (uint8_t)random();
    int o = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    uint32_t v = (uint32_t)r[15] << 16;
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
    out[o] = 0;
}

static int opened, pending;

static int start_connect(struct conn *c, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("socket");
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        fprintf(stderr, "wsfanout: connect to %s:%d failed: %s\n", opt.host, opt.port, strerror(errno));
        return -1;
    }
    c->state = ST_CONNECTING;
    c->want_out = 1;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("epoll_ctl(ADD)");
        return -1;
    }
    pending++;
    return 0;
}

static int on_connected(struct conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err) {
        fprintf(stderr, "wsfanout: connect to %s:%d failed: %s\n", opt.host, opt.port, strerror(err));
        return -1;
    }
    make_key(c->key);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s?%s=%s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     opt.path, c->is_pub ? "publish" : "subscribe", opt.topic, opt.host, opt.port, c->key);
    if (n <= 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "wsfanout: request too long\n");
        return -1;
    }
    memcpy(out_reserve(c, (size_t)n), req, (size_t)n);
    c->state = ST_HANDSHAKE;
    c->want_out = -1;   /* force the epoll_ctl in flush_out */
    flush_out(c);
    return abort_reason ? -1 : 0;
}

static int header_has(const char *hdrs, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    for (const char *l = strstr(hdrs, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strncasecmp(v, value, vl) == 0)
                return 1;
        }
    }
    return 0;
}

/* Returns -1 on failure, 0 if more bytes are needed, 1 when open. */
static int on_handshake_readable(struct conn *c, struct stamp t)
{
    ssize_t r = read(c->fd, c->stash + c->stash_len, HANDSHAKE_BUF - 1 - c->stash_len);
    if (r < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    if (r == 0) {
        fprintf(stderr, "wsfanout: server closed the connection during the handshake\n");
        return -1;
    }
    c->stash_len += (uint32_t)r;
    c->stash[c->stash_len] = 0;
    char *end = strstr((char *)c->stash, "\r\n\r\n");
    if (!end) {
        if (c->stash_len >= HANDSHAKE_BUF - 1) {
            fprintf(stderr, "wsfanout: handshake response headers too long\n");
            return -1;
        }
        return 0;
    }
    end[2] = 0;   /* headers end with the CRLF of the last header line */
    const char *s = (const char *)c->stash;
    if (strncmp(s, "HTTP/1.1 101", 12) != 0 || !header_has(s, "Upgrade", "websocket")) {
        const char *eol = strstr(s, "\r\n");
        fprintf(stderr, "wsfanout: upgrade refused: %.*s\n", (int)(eol ? eol - s : 80), s);
        return -1;
    }
    size_t hdr_len = (size_t)(end + 4 - s);
    size_t rest = c->stash_len - hdr_len;
    uint8_t tmp[HANDSHAKE_BUF];
    memcpy(tmp, c->stash + hdr_len, rest);
    c->stash_len = 0;
    c->state = ST_OPEN;
    pending--;
    opened++;
    if (rest)
        parse(c, tmp, rest, t);   /* frames sent right after the 101 */
    return 1;
}

/* The kernel's receive timestamp among a read's control messages, as CLOCK_MONOTONIC ns; 0 if there is none. */
static uint64_t arrival_of(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec k;
        memcpy(&k, CMSG_DATA(cm), sizeof k);
        int64_t real = (int64_t)k.tv_sec * 1000000000 + k.tv_nsec;
        return real > realtime_minus_monotonic ? (uint64_t)(real - realtime_minus_monotonic) : 0;
    }
    return 0;
}

static void on_open_readable(struct conn *c, uint8_t *buf)
{
    char control[CMSG_SPACE(sizeof(struct timespec)) * 2];
    struct iovec iov = { buf, READ_BUF_SIZE };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t r = recvmsg(c->fd, &mh, 0);
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
    parse(c, buf, (size_t)r, (struct stamp){ arrival_of(&mh), now_ns() });
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--host 127.0.0.1] [--port 8080] [--path /ws] [--topic bench/fanout]\n"
            "          [--subscribers 1000] [--rate 1000] [--size 64] [--binary]\n"
            "          [--duration 10] [--warmup 5] [--drain 3] [--settle 0.5] [--setup-timeout 30]\n"
            "          [--server-pid PID] [--server-cpu 0]   (report the server's CPU %% and softirq\n"
            "          time on its core over the measured window)\n"
            "          [--publish-port PORT]   (the publisher connects there: another instance than the\n"
            "          subscribers', joined to theirs by a backplane)\n"
            "One publisher sends --rate messages/s (masked text frames, or --binary) to TOPIC;\n"
            "--subscribers connections subscribed to TOPIC receive them; latency is publish->arrival\n"
            "at the subscriber's socket (kernel receive timestamp) and publish->read by this program.\n",
            argv0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },
        { "port", required_argument, 0, 'p' },
        { "path", required_argument, 0, 'P' },
        { "topic", required_argument, 0, 't' },
        { "subscribers", required_argument, 0, 'n' },
        { "rate", required_argument, 0, 'r' },
        { "size", required_argument, 0, 's' },
        { "binary", no_argument, 0, 'b' },
        { "duration", required_argument, 0, 'd' },
        { "warmup", required_argument, 0, 'w' },
        { "drain", required_argument, 0, 'D' },
        { "settle", required_argument, 0, 'S' },
        { "setup-timeout", required_argument, 0, 'T' },
        { "server-pid", required_argument, 0, 'X' },
        { "server-cpu", required_argument, 0, 'C' },
        { "publish-port", required_argument, 0, 'Q' },
        { "help", no_argument, 0, '?' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h:p:P:t:n:r:s:bd:w:D:S:T:X:C:Q:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'P': opt.path = optarg; break;
        case 't': opt.topic = optarg; break;
        case 'n': opt.subs = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 's': opt.size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'b': opt.binary = 1; break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'S': opt.settle = atof(optarg); break;
        case 'T': opt.setup_timeout = atof(optarg); break;
        case 'X': opt.server_pid = atoi(optarg); break;
        case 'C': opt.server_cpu = atoi(optarg); break;
        case 'Q': opt.publish_port = atoi(optarg); break;
        default: usage(argv[0]); return 2;
        }
    }
    if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.publish_port < 0 || opt.publish_port > 65535 || opt.subs <= 0 || !(opt.rate > 0) ||
        opt.size < MIN_SIZE || opt.size > MAX_SIZE || !(opt.duration > 0) || opt.warmup < 0 ||
        opt.drain < 0 || opt.settle < 0 || !(opt.setup_timeout > 0) || strlen(opt.topic) > 200 ||
        strlen(opt.path) > 200) {
        usage(argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    unsigned seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (unsigned)now_ns();
    srandom(seed);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.subs + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "wsfanout: --host must be an IPv4 address, got '%s'\n", opt.host);
        return 2;
    }
    struct sockaddr_in pub_sa = sa;
    if (opt.publish_port > 0)
        pub_sa.sin_port = htons((uint16_t)opt.publish_port);

    nconns = opt.subs + 1;
    stash_cap = 14 + (opt.size > HANDSHAKE_BUF ? opt.size : HANDSHAKE_BUF);
    cs = calloc((size_t)nconns, sizeof *cs);
    uint8_t *stashes = malloc((size_t)nconns * stash_cap);
    uint8_t *buf = malloc(READ_BUF_SIZE);
    payload_tpl = malloc(opt.size);
    if (!cs || !stashes || !buf || !payload_tpl) {
        fprintf(stderr, "wsfanout: out of memory\n");
        return 1;
    }
    memset(payload_tpl, 'x', opt.size);
    payload_tpl[16] = ' ';
    for (int i = 0; i < nconns; i++) {
        cs[i].fd = -1;
        cs[i].stash = stashes + (size_t)i * stash_cap;
        cs[i].is_pub = i == opt.subs;
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("epoll_create1");
        return 1;
    }
    struct epoll_event evs[MAX_EVENTS];

    /* ---- setup: connect + upgrade everything, at most MAX_PENDING_HANDSHAKES at a time ---- */
    uint64_t t_setup0 = now_ns();
    uint64_t t_setup_end = t_setup0 + (uint64_t)(opt.setup_timeout * 1e9);
    int next = 0;
    while (opened < nconns) {
        while (next < nconns && pending < MAX_PENDING_HANDSHAKES) {
            if (start_connect(&cs[next], cs[next].is_pub ? &pub_sa : &sa) < 0)
                return 1;
            next++;
        }
        uint64_t t = now_ns();
        if (t >= t_setup_end) {
            fprintf(stderr, "wsfanout: only %d of %d WebSockets opened within %.0fs\n", opened, nconns, opt.setup_timeout);
            return 1;
        }
        int n = epoll_wait(epfd, evs, MAX_EVENTS, (int)((t_setup_end - t) / 1000000 + 1));
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state == ST_CONNECTING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    if (on_connected(c) < 0)
                        return 1;
            } else if (c->state == ST_HANDSHAKE) {
                if ((evs[i].events & EPOLLOUT))
                    flush_out(c);
                if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && on_handshake_readable(c, (struct stamp){ 0, now_ns() }) < 0)
                    return 1;
            } else {
                if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    on_open_readable(c, buf);
                if (evs[i].events & EPOLLOUT)
                    flush_out(c);
            }
            if (abort_reason) {
                fprintf(stderr, "wsfanout: %s during setup\n", abort_reason);
                return 1;
            }
        }
    }
    double setup_s = (double)(now_ns() - t_setup0) / 1e9;
    fprintf(stderr, "wsfanout: %d subscribers + 1 publisher open in %.2fs\n", opt.subs, setup_s);

    /* ---- run ---- */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) {
        perror("timerfd_create");
        return 1;
    }
    static int timer_tag;
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = &timer_tag };
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

    uint64_t t_settle_end = now_ns() + (uint64_t)(opt.settle * 1e9);
    uint64_t t_pub0 = 0, t_measure = 0, t_end = 0, t_drain_end = 0, t_measure_actual = 0, t_stop_actual = 0;
    struct cpu_snap snap0 = { 0, -1, 0, 0, 0, 0 }, snap1 = { 0, -1, 0, 0, 0, 0 };
    int phase = 0;   /* 0 settle, 1 warmup, 2 measure, 3 drain */
    for (;;) {
        uint64_t t = now_ns();
        if (phase == 0 && t >= t_settle_end) {
            /* subscriptions are registered right after the 101 on the server side: settle first */
            phase = 1;
            t_pub0 = t;
            t_measure = t_pub0 + (uint64_t)(opt.warmup * 1e9);
            t_end = t_measure + (uint64_t)(opt.duration * 1e9);
            t_drain_end = t_end + (uint64_t)(opt.drain * 1e9);
            double period = 1e9 / opt.rate;
            if (period < 100000)
                period = 100000;
            struct itimerspec its = {
                .it_value = { 0, 1 },
                .it_interval = { (time_t)(period / 1e9), (long)((uint64_t)period % 1000000000u) },
            };
            timerfd_settime(tfd, 0, &its, NULL);
        }
        if (phase == 1 && t >= t_measure) {
            phase = 2;
            measuring = 1;
            t_measure_actual = t;
            cpu_snapshot(&snap0, opt.server_pid, opt.server_cpu);
            seq_measure_lo = published;
        }
        if (phase == 2 && t >= t_end) {
            phase = 3;
            publish_due(t_pub0, t_end);   /* exactly rate x (warmup + duration) messages */
            pub_done = 1;
            t_stop_actual = t;
            cpu_snapshot(&snap1, opt.server_pid, opt.server_cpu);
            seq_measure_hi = published;
            struct itimerspec off = { { 0, 0 }, { 0, 0 } };
            timerfd_settime(tfd, 0, &off, NULL);
        }
        if (phase == 3 && (t >= t_drain_end || total_received + total_gaps >= published * (uint64_t)opt.subs))
            break;
        if (abort_reason)
            break;
        uint64_t deadline = phase == 0 ? t_settle_end : phase == 1 ? t_measure : phase == 2 ? t_end : t_drain_end;
        int timeout_ms = deadline > t ? (int)((deadline - t + 999999) / 1000000) : 0;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n && !abort_reason; i++) {
            if (evs[i].data.ptr == &timer_tag) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                    perror("read(timerfd)");
                if (phase == 1 || phase == 2)
                    publish_due(t_pub0, now_ns());
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_open_readable(c, buf);
            if (!abort_reason && (evs[i].events & EPOLLOUT))
                flush_out(c);
        }
    }
    if (!t_stop_actual) {   /* aborted before the end of the window */
        t_stop_actual = now_ns();
        cpu_snapshot(&snap1, opt.server_pid, opt.server_cpu);
        seq_measure_hi = published;
    }
    uint64_t undelivered = 0;
    for (int i = 0; i < opt.subs; i++)
        undelivered += published - cs[i].next_seq;
    for (int i = 0; i < nconns; i++)
        close(cs[i].fd);
    close(tfd);
    close(epfd);

    double elapsed = measuring ? (double)(t_stop_actual - t_measure_actual) / 1e9 : 0.0;
    double pub_rate = elapsed > 0 ? (double)(seq_measure_hi - (seq_measure_lo == UINT64_MAX ? 0 : seq_measure_lo)) / elapsed : 0;
    double dps = elapsed > 0 ? (double)measured_deliveries / elapsed : 0.0;
    uint64_t expected = published * (uint64_t)opt.subs;
    uint64_t lost = total_gaps + undelivered;
    double lost_pct = expected ? 100.0 * (double)lost / (double)expected : 0.0;
    struct lat_us lat = lat_summary(&read_latency), arr = lat_summary(&arrival_latency);
    struct cpu_pct cpu = cpu_window(&snap0, &snap1, elapsed);

    if (abort_reason)
        fprintf(stderr, "wsfanout: ABORTED: %s\n", abort_reason);
    printf("%s:%d%s subs=%d rate=%.0f/s size=%" PRIu32 "B %s over %.2fs: published %.0f msg/s, %.0f deliveries/s "
           "(ideal %.0f), latency to read p50 %.1fus p90 %.1fus p99 %.1fus p99.9 %.1fus max %.1fus mean %.1fus, "
           "to arrival p50 %.1fus p90 %.1fus p99 %.1fus p99.9 %.1fus max %.1fus mean %.1fus (%" PRIu64 " untimed), "
           "lost %" PRIu64 " of %" PRIu64 " (%.3f%%: %" PRIu64 " gaps, %" PRIu64 " undelivered after %.1fs drain), "
           "errors %" PRIu64 ", loadgen cpu %.0f%%, server cpu %.0f%% (+ %.0f%% softirq on its core), softirq all cpus %.0f%%, other %.0f%%\n",
           opt.host, opt.port, opt.path, opt.subs, opt.rate, opt.size, opt.binary ? "binary" : "text", elapsed,
           pub_rate, dps, pub_rate * opt.subs, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean,
           arr.p50, arr.p90, arr.p99, arr.p999, arr.max, arr.mean, arrival_untimed,
           lost, expected, lost_pct, total_gaps, undelivered, opt.drain, errors, cpu.self, cpu.srv, cpu.sirq_srv, cpu.sirq, cpu.other);
    printf("RESULT deliveries_per_s=%.0f pub_per_s=%.0f ideal_deliveries_per_s=%.0f p50_us=%.1f p90_us=%.1f "
           "p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f arrival_p50_us=%.1f arrival_p90_us=%.1f arrival_p99_us=%.1f "
           "arrival_p999_us=%.1f arrival_max_us=%.1f arrival_mean_us=%.1f arrival_untimed=%" PRIu64 " published=%" PRIu64 " expected=%" PRIu64
           " received=%" PRIu64 " lost=%" PRIu64 " lost_pct=%.3f gaps=%" PRIu64 " undelivered=%" PRIu64
           " errors=%" PRIu64 " subscribers=%d rate=%.0f size=%" PRIu32 " duration_s=%.2f setup_s=%.2f"
           " loadgen_cpu_pct=%.0f server_cpu_pct=%.0f server_core_softirq_pct=%.0f softirq_pct=%.0f"
           " other_cpu_pct=%.0f steal_pct=%.0f\n",
           dps, pub_rate, pub_rate * opt.subs, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean,
           arr.p50, arr.p90, arr.p99, arr.p999, arr.max, arr.mean, arrival_untimed, published,
           expected, total_received, lost, lost_pct, total_gaps, undelivered, errors, opt.subs, opt.rate,
           opt.size, elapsed, setup_s, cpu.self, cpu.srv, cpu.sirq_srv, cpu.sirq, cpu.other, cpu.steal);
    fflush(stdout);
    free(payload_tpl);
    free(buf);
    free(stashes);
    for (int i = 0; i < nconns; i++)
        free(cs[i].out);
    free(cs);
    return abort_reason ? 3 : 0;
}
