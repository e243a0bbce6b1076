/*
 * epoll-ws-fanout - the floor of the WebSocket fan-out benchmark: a single-threaded epoll
 * WebSocket server in C that does only what fan-out needs, so its latency is what the kernel
 * costs on this machine for one send() per subscriber per message.
 *
 * GET /ws?subscribe=... makes a subscriber, GET /ws?publish=... a publisher (the topic is not
 * looked at: there is one). Each complete frame a publisher sends is unmasked and written to every
 * subscriber as one unmasked frame of the same opcode, with one send() per subscriber, as Node's
 * `ws` and the gateway do at light load. Bytes a subscriber's socket cannot take yet wait in its
 * own buffer until EPOLLOUT. Pings are answered; a close frame closes the connection.
 *
 * With "uring" as the second argument the sends of one message to all subscribers go to the kernel
 * in one io_uring_enter instead of one send() each: the floor with system calls batched.
 *
 * Usage: epoll-ws-fanout PORT [uring]   (listens on 127.0.0.1)
 * Build: make -C bench/loadgen (-> bench/out/epoll-ws-fanout)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CONNS 65536
#define IN_CAP (1 << 20)

typedef struct {
    int fd;
    int open;           /* handshake done */
    int publisher;
    uint8_t *in;        /* bytes read and not yet consumed */
    size_t in_len;
    uint8_t *out;       /* bytes the socket has not taken yet */
    size_t out_len, out_cap;
} conn;

static conn *conns[MAX_CONNS];
static int subscribers[MAX_CONNS];
static int subscriber_count;
static int ep;

/* ---- SHA-1 and base64, for Sec-WebSocket-Accept ---- */
static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const uint8_t *msg, size_t len, uint8_t digest[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    uint8_t *buf = calloc(total, 1);
    memcpy(buf, msg, len);
    buf[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) buf[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)buf[off + 4 * i] << 24 | (uint32_t)buf[off + 4 * i + 1] << 16 | (uint32_t)buf[off + 4 * i + 2] << 8 | buf[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d; d = c; c = rol(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(buf);
    for (int i = 0; i < 5; i++) for (int j = 0; j < 4; j++) digest[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- connections ---- */
static void close_conn(conn *c) {
    if (c->open && !c->publisher) {
        for (int i = 0; i < subscriber_count; i++)
            if (subscribers[i] == c->fd) { subscribers[i] = subscribers[--subscriber_count]; break; }
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->in);
    free(c->out);
    free(c);
}

/* Sends now what the socket takes; keeps the rest for EPOLLOUT. Returns -1 when the peer is gone. */
static int send_bytes(conn *c, const uint8_t *data, size_t len) {
    size_t sent = 0;
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) return -1;
        sent = n < 0 ? 0 : (size_t)n;
    }
    if (sent < len) {
        if (c->out_len + len - sent > c->out_cap) {
            c->out_cap = (c->out_len + len - sent) * 2;
            c->out = realloc(c->out, c->out_cap);
        }
        memcpy(c->out + c->out_len, data + sent, len - sent);
        if (c->out_len == 0) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        c->out_len += len - sent;
    }
    return 0;
}

static void flush_out(conn *c) {
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) { if (errno != EAGAIN) close_conn(c); return; }
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
    if (c->out_len == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static size_t frame_header(uint8_t *h, int opcode, size_t len) {
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) { h[1] = (uint8_t)len; return 2; }
    if (len < 65536) { h[1] = 126; h[2] = (uint8_t)(len >> 8); h[3] = (uint8_t)len; return 4; }
    h[1] = 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* ---- io_uring mode: the sends of one message to all subscribers in one system call ----
 * Each send is queued with MSG_DONTWAIT, so the kernel tries it at once inside io_uring_enter and
 * reports what it could not send instead of waiting; what a socket did not take is buffered for
 * EPOLLOUT as in send() mode. A subscriber with bytes already buffered is not queued (order). */
static int use_uring, ring_fd;
static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
#define RING_ENTRIES 4096

static void ring_setup(void) {
    struct io_uring_params p = {0};
    ring_fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
    if (ring_fd < 0) { perror("io_uring_setup"); exit(1); }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) { fprintf(stderr, "io_uring: kernel too old\n"); exit(1); }
    uint8_t *rings = mmap(0, sq_size > cq_size ? sq_size : cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
    sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
    if (rings == MAP_FAILED || sqes == MAP_FAILED) { perror("mmap io_uring"); exit(1); }
    sq_tail = (unsigned *)(rings + p.sq_off.tail);
    sq_mask = (unsigned *)(rings + p.sq_off.ring_mask);
    sq_array = (unsigned *)(rings + p.sq_off.array);
    cq_head = (unsigned *)(rings + p.cq_off.head);
    cq_tail = (unsigned *)(rings + p.cq_off.tail);
    cq_mask = (unsigned *)(rings + p.cq_off.ring_mask);
    cqes = (struct io_uring_cqe *)(rings + p.cq_off.cqes);
}

/* Submits the queued sends, waits for all their completions (they finish inside the call) and
 * buffers what each socket did not take; a failed subscriber is marked to close after the fan-out. */
static void ring_submit(unsigned queued, const uint8_t *frame, size_t len, int *failed, int *nfailed) {
    __atomic_store_n(sq_tail, *sq_tail + queued, __ATOMIC_RELEASE);
    while (syscall(__NR_io_uring_enter, ring_fd, queued, queued, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno == EINTR) {}
    unsigned head = *cq_head;
    while (head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
        struct io_uring_cqe *e = &cqes[head++ & *cq_mask];
        conn *s = conns[(int)e->user_data];
        size_t sent = e->res < 0 ? 0 : (size_t)e->res;
        if ((e->res < 0 && e->res != -EAGAIN) || (sent < len && send_bytes(s, frame + sent, len - sent) < 0))
            failed[(*nfailed)++] = s->fd;
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
}

static void fan_out_uring(const uint8_t *frame, size_t len) {
    static int failed[MAX_CONNS];
    int nfailed = 0;
    unsigned queued = 0;
    for (int i = 0; i < subscriber_count; i++) {
        conn *s = conns[subscribers[i]];
        if (s->out_len) {
            if (send_bytes(s, frame, len) < 0) failed[nfailed++] = s->fd;
            continue;
        }
        unsigned index = (*sq_tail + queued) & *sq_mask;
        struct io_uring_sqe *e = &sqes[index];
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_SEND;
        e->fd = s->fd;
        e->addr = (uint64_t)(uintptr_t)frame;
        e->len = (unsigned)len;
        e->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
        e->user_data = (uint64_t)s->fd;
        sq_array[index] = index;
        if (++queued == RING_ENTRIES) { ring_submit(queued, frame, len, failed, &nfailed); queued = 0; }
    }
    if (queued) ring_submit(queued, frame, len, failed, &nfailed);
    for (int i = 0; i < nfailed; i++)
        if (conns[failed[i]]) close_conn(conns[failed[i]]);
}

/* Writes one message to every subscriber: header and payload in one buffer, one send() each. */
static void fan_out(int opcode, const uint8_t *payload, size_t len) {
    static uint8_t *frame;
    static size_t frame_cap;
    if (len + 10 > frame_cap) { frame_cap = len + 10; frame = realloc(frame, frame_cap); }
    size_t hl = frame_header(frame, opcode, len);
    memcpy(frame + hl, payload, len);
    if (use_uring) { fan_out_uring(frame, hl + len); return; }
    for (int i = 0; i < subscriber_count; i++) {
        conn *s = conns[subscribers[i]];
        if (send_bytes(s, frame, hl + len) < 0) { close_conn(s); i--; }
    }
}

static int handshake(conn *c) {
    c->in[c->in_len] = 0;
    char *end = strstr((char *)c->in, "\r\n\r\n");
    if (!end) return 0;
    char *key = strcasestr((char *)c->in, "Sec-WebSocket-Key:");
    if (!key) return -1;
    key += 18;
    while (*key == ' ') key++;
    char accept_src[128];
    int kl = (int)strcspn(key, "\r\n");
    snprintf(accept_src, sizeof accept_src, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", kl, key);
    uint8_t digest[20];
    char accept[32];
    sha1((uint8_t *)accept_src, strlen(accept_src), digest);
    base64(digest, 20, accept);
    c->publisher = strstr((char *)c->in, "publish=") != NULL && strstr((char *)c->in, "publish=") < end;
    char response[256];
    int rl = snprintf(response, sizeof response,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (send_bytes(c, (uint8_t *)response, (size_t)rl) < 0) return -1;
    size_t used = (size_t)(end + 4 - (char *)c->in);
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->open = 1;
    if (!c->publisher) subscribers[subscriber_count++] = c->fd;
    return 1;
}

/* Consumes complete client frames; returns -1 to close. */
static int frames(conn *c) {
    size_t off = 0;
    while (c->in_len - off >= 2) {
        uint8_t *p = c->in + off;
        int opcode = p[0] & 0x0f;
        size_t len = p[1] & 0x7f, hl = 2;
        if (len == 126) { if (c->in_len - off < 4) break; len = (size_t)p[2] << 8 | p[3]; hl = 4; }
        else if (len == 127) { if (c->in_len - off < 10) break; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i]; hl = 10; }
        int masked = p[1] & 0x80;
        if (!masked || len > IN_CAP / 2) return -1;
        if (c->in_len - off < hl + 4 + len) break;
        uint8_t *mask = p + hl, *payload = p + hl + 4;
        for (size_t i = 0; i < len; i++) payload[i] ^= mask[i & 3];
        if (opcode == 0x8) return -1;
        if (opcode == 0x9) {
            uint8_t h[10];
            size_t pl = frame_header(h, 0xA, len);
            if (send_bytes(c, h, pl) < 0 || send_bytes(c, payload, len) < 0) return -1;
        } else if (c->publisher && (opcode == 0x1 || opcode == 0x2)) {
            fan_out(opcode, payload, len);
        }
        off += hl + 4 + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT [uring]\n", argv[0]); return 2; }
    if (argc > 2 && strcmp(argv[2], "uring") == 0) { use_uring = 1; ring_setup(); }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) { perror("listen"); return 1; }
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    fprintf(stderr, "epoll-ws-fanout listening on 127.0.0.1:%s\n", argv[1]);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int cfd;
                while ((cfd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_CONNS) { close(cfd); continue; }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    c->in = malloc(IN_CAP + 1);
                    conns[cfd] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            conn *c = conns[fd];
            if (!c) continue;
            if (events[i].events & EPOLLOUT) { flush_out(c); if (!conns[fd]) continue; }
            if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t r = recv(fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
            if (r <= 0) { if (r == 0 || errno != EAGAIN) close_conn(c); continue; }
            c->in_len += (size_t)r;
            int rc = c->open ? 0 : handshake(c);
            if (rc < 0 || (c->open && frames(c) < 0)) close_conn(c);
        }
    }
}
