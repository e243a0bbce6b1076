/*
 * backplanegen - the load of bench/run-backplane-tcp.sh: messages that cross from one server instance to another through
 * a backplane, and a connect storm.
 *
 * xfer: PUBLISHERS connections to instance A's publishing port and one connection to instance B's subscribing port;
 * every frame a publisher sends (4-byte big-endian length, then SIZE body bytes) is published by A on one topic, and
 * B delivers it to the subscriber. Each publisher keeps INFLIGHT frames on their way: a frame that reaches the
 * subscriber gives its publisher one more to send (a closed loop, so a slow server slows the senders instead of losing
 * messages). The body carries the publisher's number and the send time, so latency is A's TCP socket to B's, one
 * clock (one process). Before the load starts, publisher 0 sends marker frames until one reaches the subscriber: the
 * subscription of B must have reached the backplane first.
 *   Reports messages/s and latency percentiles over the measured window, the longest gap between two arrivals, and
 *   (--interval-ms) a line per interval with that interval's count, p50, p99 and maximum. --signal-pid PID sends
 *   SIGUSR1 to PID when the measured window starts (the storm below waits for it); --linger keeps the connections
 *   (and so B's subscription) open after the result until the process is killed.
 *
 * storm: opens RATE connections per second to PORT for SECONDS, from the loopback addresses given in turn (each has
 * its own ephemeral ports), each closed HOLD seconds after it was opened (0: all held; one still connecting then is
 * abandoned). When the opening stops, the connections still open stay open. With --subsz MONITOR_PORT it polls the
 * NATS server's /subsz every 20 ms: the subscriptions there over the count when the storm started, against the
 * connections open now, give how many open connections have no subscription on NATS yet. Once the opening has stopped
 * it counts the open connections the server's kernel knows (/proc/net/tcp: a socket of PORT, established or in
 * SYN_RECV, whose remote end is the connection; one the kernel completed with a SYN cookie and dropped on a full
 * accept queue is open for the client only) and, with --server-pid PID, reports how long after the last connect PID
 * had caught up (its open descriptors over the count at the start at least that many: every one of them accepted,
 * every closed one closed) and how long until NATS then held as many storm subscriptions as those connections (or as
 * PID's descriptors over the count at the start; without --server-pid: as many as the kernel knows).
 * Prints a line every 250 ms, then its result, and holds the connections until it is killed.
 *   --wait-signal: start the storm on SIGUSR1 (from xfer's --signal-pid) instead of at once.
 *
 * usage: backplanegen xfer  --pub PORT --sub PORT [--host 127.0.0.1] [--publishers 50] [--inflight 16] [--size 64]
 *                           [--warmup 2] [--duration 10] [--interval-ms 0] [--signal-pid PID] [--linger]
 *        backplanegen storm --port PORT [--host 127.0.0.1] [--rate 10000] [--seconds 5] [--hold 1]
 *                           [--addresses 127.0.0.2,127.0.0.3] [--subsz MONITOR_PORT] [--server-pid PID] [--settle 60]
 *                           [--wait-signal]
 *
 * Build: cc -O2 -Wall -Wextra -std=gnu11 -pthread -o backplanegen backplanegen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#define PROBE_INDEX 0xFFFFFFFFu
#define BODY_MIN 16   /* publisher number (4), spare (4), send time (8) */

static struct {
    const char *host;
    int pub_port, sub_port, port, publishers, inflight, interval_ms, subsz_port, wait_signal, linger;
    pid_t signal_pid, server_pid;
    uint32_t size;
    double duration, warmup, rate, seconds, hold, settle;
    char *addresses;
} opt = { .host = "127.0.0.1", .publishers = 50, .inflight = 16, .size = 64, .duration = 10, .warmup = 2,
          .rate = 10000, .seconds = 5, .hold = 1, .settle = 60 };

static int epfd;

static void add_fd(int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("epoll_ctl(ADD)");
        exit(1);
    }
}

/* ======================================== xfer ======================================== */

struct pub {
    int fd, want_out;
    uint8_t *out;        /* frames not yet written: [off, len) */
    size_t off, len;
    uint32_t credit;     /* frames to send after this read */
    int dirty;
};

static struct pub *pubs;
static size_t frame_len;
static uint8_t *pattern;     /* a frame's body after its first 16 bytes */

static void pub_queue(struct pub *p, uint32_t index, uint32_t n, uint64_t t)
{
    if (p->off > 0) {
        memmove(p->out, p->out + p->off, p->len - p->off);
        p->len -= p->off;
        p->off = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *f = p->out + p->len;
        f[0] = (uint8_t)(opt.size >> 24); f[1] = (uint8_t)(opt.size >> 16);
        f[2] = (uint8_t)(opt.size >> 8);  f[3] = (uint8_t)opt.size;
        uint32_t spare = 0;
        memcpy(f + 4, &index, 4);
        memcpy(f + 8, &spare, 4);
        memcpy(f + 12, &t, 8);
        memcpy(f + 4 + BODY_MIN, pattern, opt.size - BODY_MIN);
        p->len += frame_len;
    }
}

static void pub_flush(struct pub *p)
{
    while (p->off < p->len) {
        ssize_t w = write(p->fd, p->out + p->off, p->len - p->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail("publisher write failed (server closed or reset the connection)");
            return;
        }
        p->off += (size_t)w;
    }
    if (p->off == p->len)
        p->off = p->len = 0;
    epoll_want_out(epfd, p->fd, (void *)(uintptr_t)(p - pubs), &p->want_out, p->len > 0);
}

static int xfer(void)
{
    if (opt.pub_port <= 0 || opt.sub_port <= 0 || opt.publishers <= 0 || opt.inflight <= 0 || opt.size < BODY_MIN ||
        opt.size > 65536 || !(opt.duration > 0) || opt.warmup < 0) {
        fprintf(stderr, "backplanegen xfer: --pub and --sub are required; --size at least %d\n", BODY_MIN);
        return 2;
    }
    struct sockaddr_in pub_sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.pub_port) };
    struct sockaddr_in sub_sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.sub_port) };
    if (inet_pton(AF_INET, opt.host, &pub_sa.sin_addr) != 1 || inet_pton(AF_INET, opt.host, &sub_sa.sin_addr) != 1) {
        fprintf(stderr, "backplanegen: --host must be an IPv4 address\n");
        return 2;
    }
    frame_len = 4 + (size_t)opt.size;
    pattern = malloc(opt.size);
    pubs = calloc((size_t)opt.publishers, sizeof *pubs);
    uint8_t *rbuf = malloc(READ_BUF_SIZE + frame_len);
    uint32_t *dirty = calloc((size_t)opt.publishers, sizeof *dirty);
    static struct latencies window, interval;
    if (!pattern || !pubs || !rbuf || !dirty) {
        fprintf(stderr, "backplanegen: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < opt.size; i++)
        pattern[i] = (uint8_t)(i * 31u + 7u);
    epfd = epoll_create1(EPOLL_CLOEXEC);

    int sub = connect_tcp(&sub_sa);
    if (sub < 0) {
        fprintf(stderr, "backplanegen: cannot connect the subscriber to %s:%d\n", opt.host, opt.sub_port);
        return 1;
    }
    add_fd(sub, EPOLLIN, UINT64_MAX);
    for (int i = 0; i < opt.publishers; i++) {
        pubs[i].fd = connect_tcp(&pub_sa);
        if (pubs[i].fd < 0) {
            fprintf(stderr, "backplanegen: cannot connect publisher %d to %s:%d\n", i, opt.host, opt.pub_port);
            return 1;
        }
        pubs[i].out = malloc(frame_len * (size_t)opt.inflight);
        add_fd(pubs[i].fd, EPOLLIN, (uint64_t)i);
    }

    struct epoll_event evs[MAX_EVENTS];
    size_t have = 0;
    int ready = 0, measuring = 0, done = 0;
    uint64_t t_start = now_ns(), t_ready = 0, t_next_probe = 0, t_measure = 0, t_end = 0, t_measure_actual = 0;
    uint64_t t_next_interval = 0, t_last_arrival = 0, max_gap = 0, sent_probes = 0;
    double cpu_at_measure = 0;

    while (!abort_reason && !done) {
        uint64_t t = now_ns();
        if (!ready) {
            /* Readiness: a marker frame every 100 ms until one arrives, for at most 30 s. */
            if (t - t_start > 30000000000ull) {
                fail("no marker frame reached the subscriber within 30 s (is the backplane up?)");
                break;
            }
            if (t >= t_next_probe) {
                pub_queue(&pubs[0], PROBE_INDEX, 1, t);
                pub_flush(&pubs[0]);
                sent_probes++;
                t_next_probe = t + 100000000ull;
            }
        } else if (t >= t_ready && !t_measure) {
            /* Ready and the stray markers drained: the load starts. */
            t_measure = t + (uint64_t)(opt.warmup * 1e9);
            t_end = t_measure + (uint64_t)(opt.duration * 1e9);
            for (int i = 0; i < opt.publishers; i++) {
                pub_queue(&pubs[i], (uint32_t)i, (uint32_t)opt.inflight, t);
                pub_flush(&pubs[i]);
            }
        }
        if (t_measure && !measuring && t >= t_measure) {
            measuring = 1;
            t_measure_actual = t_last_arrival = t;
            cpu_at_measure = cpu_seconds();
            t_next_interval = t + (uint64_t)opt.interval_ms * 1000000ull;
            if (opt.signal_pid > 0)
                kill(opt.signal_pid, SIGUSR1);
        }
        if (measuring && opt.interval_ms > 0 && t >= t_next_interval) {
            struct lat_us s = lat_summary(&interval);
            printf("interval t_ms=%.0f msgs=%" PRIu64 " p50_us=%.1f p99_us=%.1f max_us=%.1f\n",
                   (double)(t_next_interval - t_measure_actual) / 1e6, interval.count, s.p50, s.p99, s.max);
            memset(&interval, 0, sizeof interval);
            t_next_interval += (uint64_t)opt.interval_ms * 1000000ull;
        }
        if (measuring && t >= t_end)
            break;

        uint64_t wake = !ready ? t_next_probe : !t_measure ? t_ready : !measuring ? t_measure : t_end;
        if (measuring && opt.interval_ms > 0 && t_next_interval < wake)
            wake = t_next_interval;
        int timeout_ms = wake > t ? (int)((wake - t + 999999) / 1000000) : 0;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int e = 0; e < n && !abort_reason; e++) {
            uint64_t id = evs[e].data.u64;
            if (id != UINT64_MAX) {
                struct pub *p = &pubs[id];
                if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                    fail("a publisher's connection received data or closed");
                    break;
                }
                if (evs[e].events & EPOLLOUT)
                    pub_flush(p);
                continue;
            }
            ssize_t r = read(sub, rbuf + have, READ_BUF_SIZE);
            if (r < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    fail("subscriber read failed");
                continue;
            }
            if (r == 0) {
                fail("the server closed the subscriber's connection");
                break;
            }
            have += (size_t)r;
            uint64_t now = now_ns();
            size_t off = 0, ndirty = 0;
            while (have - off >= frame_len) {
                const uint8_t *f = rbuf + off;
                uint32_t len = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
                if (len != opt.size) {
                    fail("a delivered frame's length is not the size sent");
                    break;
                }
                uint32_t index;
                uint64_t sent;
                memcpy(&index, f + 4, 4);
                memcpy(&sent, f + 12, 8);
                off += frame_len;
                if (index == PROBE_INDEX) {
                    if (!ready) {
                        ready = 1;
                        t_ready = now + 300000000ull;   /* markers still on their way arrive meanwhile */
                        fprintf(stdout, "ready: the first marker arrived %.0f ms after the first was sent (%" PRIu64 " sent)\n",
                                (double)(now - t_start) / 1e6, sent_probes);
                        fflush(stdout);
                    }
                    continue;
                }
                if (index >= (uint32_t)opt.publishers || memcmp(f + 4 + BODY_MIN, pattern, opt.size - BODY_MIN) != 0) {
                    fail("a delivered frame's body differs from what was sent");
                    break;
                }
                if (measuring) {
                    lat_record(&window, now - sent);
                    if (opt.interval_ms > 0)
                        lat_record(&interval, now - sent);
                }
                if (!pubs[index].dirty) {
                    pubs[index].dirty = 1;
                    dirty[ndirty++] = index;
                }
                pubs[index].credit++;
            }
            if (measuring) {
                if (now - t_last_arrival > max_gap)
                    max_gap = now - t_last_arrival;
                t_last_arrival = now;
            }
            memmove(rbuf, rbuf + off, have - off);
            have -= off;
            for (size_t d = 0; d < ndirty && !abort_reason; d++) {
                struct pub *p = &pubs[dirty[d]];
                pub_queue(p, dirty[d], p->credit, now);
                pub_flush(p);
                p->credit = 0;
                p->dirty = 0;
            }
        }
    }
    uint64_t t_stop = now_ns();
    if (measuring && t_stop - t_last_arrival > max_gap)
        max_gap = t_stop - t_last_arrival;
    double cpu_used = cpu_seconds() - cpu_at_measure;
    double elapsed = measuring ? (double)(t_stop - t_measure_actual) / 1e9 : 0.0;
    double mps = elapsed > 0 ? (double)window.count / elapsed : 0.0;
    struct lat_us lat = lat_summary(&window);
    double cpu_pct = elapsed > 0 ? 100.0 * cpu_used / elapsed : 0.0;
    if (abort_reason)
        fprintf(stderr, "backplanegen: ABORTED: %s\n", abort_reason);
    printf("%d publishers x %d in flight, %" PRIu32 " B, A:%d -> B:%d over %.2fs: %.0f msgs/s, latency p50 %.1fus "
           "p99 %.1fus p99.9 %.1fus max %.1fus, longest gap %.1f ms, errors %" PRIu64 ", loadgen cpu %.0f%%\n",
           opt.publishers, opt.inflight, opt.size, opt.pub_port, opt.sub_port, elapsed, mps, lat.p50, lat.p99,
           lat.p999, lat.max, (double)max_gap / 1e6, errors, cpu_pct);
    printf("RESULT msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f "
           "max_gap_ms=%.1f msgs=%" PRIu64 " errors=%" PRIu64 " publishers=%d inflight=%d size=%" PRIu32
           " duration_s=%.2f loadgen_cpu_pct=%.0f\n",
           mps, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean, (double)max_gap / 1e6, window.count, errors,
           opt.publishers, opt.inflight, opt.size, elapsed, cpu_pct);
    fflush(stdout);
    /* --linger: the connections stay (the subscriber's subscription with them) until the process is killed. */
    while (opt.linger && !abort_reason)
        pause();
    return abort_reason ? 3 : 0;
}

/* ======================================== storm ======================================== */

enum { CONNECTING, OPEN, CLOSED };
struct storm_conn { int fd; uint8_t state; uint16_t port; uint32_t addr; uint64_t t_open; };   /* addr, port: its own */

/* Shared with the poller thread. */
static atomic_long open_now;              /* established at the client and not closed */
static atomic_long opened_count, established_count;
static atomic_int polling = 1;            /* the poller runs while 1 */
static atomic_long final_open = -1;       /* once the opening has stopped: the open connections the server knows */
static atomic_ullong t_storm_start, t_in_place, t_accepted;
static atomic_long subs_max_lag, subs_last = -1, accepted_last = -1;
static long subs_base = -1, fds_base = -1;

/* num_subscriptions of the NATS server's /subsz, or -1. */
static long get_subs(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static const char req[] = "GET /subsz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[8192];
    size_t have = 0;
    long result = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        ssize_t r;
        while (have < sizeof buf - 1 && (r = read(fd, buf + have, sizeof buf - 1 - have)) > 0)
            have += (size_t)r;
        buf[have] = 0;
        char *p = strstr(buf, "\"num_subscriptions\":");
        if (p)
            result = strtol(p + 20, NULL, 10);
    }
    close(fd);
    return result;
}

/* The descriptors process PID has open (the connections it has accepted, among others), or -1. */
static long fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* How many of the client's open connections the server's kernel knows: those whose address and port appear as the remote
 * end of a socket of local port PORT, established (accepted, or in the accept queue) or in SYN_RECV (the client's last
 * ACK was dropped on a full accept queue; it is accepted when the SYN-ACK is sent again). The others were completed
 * with a SYN cookie and dropped on a full accept queue: open for the client only, they never reach the server. Server
 * sockets whose client has closed meanwhile are not counted. -1 if /proc/net/tcp cannot be read. */
#define KNOWN_SLOTS (1u << 17)
static long server_side(int port, const struct storm_conn *cs, size_t n)
{
    static uint64_t slots[KNOWN_SLOTS];
    memset(slots, 0, sizeof slots);
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned lport, raddr, rport, st;
        if (sscanf(line, " %*d: %*x:%x %x:%x %x", &lport, &raddr, &rport, &st) != 4 || (int)lport != port || (st != 1 && st != 3))
            continue;
        uint64_t key = (uint64_t)raddr << 16 | rport | 1ull << 63;
        for (uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 47);; h = (h + 1) % KNOWN_SLOTS)
            if (slots[h] == 0 || slots[h] == key) {
                slots[h] = key;
                break;
            }
    }
    fclose(f);
    long known = 0;
    for (size_t i = 0; i < n; i++) {
        if (cs[i].state != OPEN)
            continue;
        uint64_t key = (uint64_t)cs[i].addr << 16 | cs[i].port | 1ull << 63;
        for (uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 47); slots[h]; h = (h + 1) % KNOWN_SLOTS)
            if (slots[h] == key) {
                known++;
                break;
            }
    }
    return known;
}

/* Polls /subsz every 20 ms (and the server's descriptors every 250 ms, every 20 ms once the opening has stopped); prints a
 * line every 250 ms; once the opening has stopped, notes when the server has accepted every open connection its kernel
 * knows (its descriptors over the count at the start at least that many; every closed one closed), and then when NATS
 * holds as many storm subscriptions as there are such connections (or as the server's descriptors count: a stray
 * connection the client gave up on may be among them, and the server may have opened a descriptor of its own). */
static void *poll_subs(void *arg)
{
    (void)arg;
    uint64_t next_line = 0;
    while (atomic_load(&polling)) {
        long n = get_subs(opt.subsz_port);
        uint64_t t = now_ns(), t0 = atomic_load(&t_storm_start);
        long target = atomic_load(&final_open);
        if (opt.server_pid > 0 && (target >= 0 || t >= next_line)) {
            long fds = fd_count(opt.server_pid);
            if (fds >= 0)
                atomic_store(&accepted_last, fds - fds_base);
        }
        if (n >= 0) {
            long storm_subs = n - subs_base;
            atomic_store(&subs_last, storm_subs);
            long lag = atomic_load(&open_now) - storm_subs;
            if (lag > atomic_load(&subs_max_lag))
                atomic_store(&subs_max_lag, lag);
            if (target >= 0) {
                /* Caught up: the server holds at least every open connection it knows (a stray one the client has
                 * given up on may be there too); from then on its count stays, and NATS must come to match it. */
                long accepted = opt.server_pid > 0 ? atomic_load(&accepted_last) : target;
                if (accepted >= target && !atomic_load(&t_accepted))
                    atomic_store(&t_accepted, t);
                if (atomic_load(&t_accepted) && (storm_subs == target || storm_subs == accepted)) {
                    atomic_store(&t_in_place, t);
                    return NULL;
                }
            }
        }
        if (t >= next_line) {
            printf("storm t_ms=%.0f opened=%ld established=%ld open=%ld accepted=%ld nats_storm_subs=%ld\n",
                   (double)(t - t0) / 1e6, atomic_load(&opened_count), atomic_load(&established_count),
                   atomic_load(&open_now), atomic_load(&accepted_last), atomic_load(&subs_last));
            next_line = (next_line ? next_line : t) + 250000000ull;
        }
        usleep(20000);
    }
    return NULL;
}

static int storm(void)
{
    if (opt.port <= 0 || !(opt.rate > 0) || !(opt.seconds > 0) || opt.hold < 0) {
        fprintf(stderr, "backplanegen storm: --port is required; --rate and --seconds must be > 0\n");
        return 2;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "backplanegen: --host must be an IPv4 address\n");
        return 2;
    }
    struct in_addr locals[64];
    int nlocals = 0;
    for (char *tok = opt.addresses ? strtok(opt.addresses, ",") : NULL; tok && nlocals < 64; tok = strtok(NULL, ","))
        if (inet_pton(AF_INET, tok, &locals[nlocals]) == 1)
            nlocals++;
    size_t total = (size_t)(opt.rate * opt.seconds + 0.5);
    struct storm_conn *cs = calloc(total, sizeof *cs);
    static struct latencies connect_lat;
    if (!cs) {
        fprintf(stderr, "backplanegen: out of memory\n");
        return 1;
    }
    /* Descriptors left for the connections: the open-file limit less some room. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t fd_room = rl.rlim_cur > 200 ? (size_t)rl.rlim_cur - 100 : 100;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (opt.wait_signal)
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);   /* before the poller starts, so it inherits the mask */
    if (opt.subsz_port > 0 && get_subs(opt.subsz_port) < 0) {
        fprintf(stderr, "backplanegen: cannot read /subsz on port %d\n", opt.subsz_port);
        return 1;
    }
    if (opt.wait_signal) {
        printf("waiting for SIGUSR1\n");
        fflush(stdout);
        int sig;
        sigwait(&usr1, &sig);
    }
    /* The counts before the storm, read when it starts: what else subscribed or connected meanwhile (the publisher and
     * its subscriber) is in them. */
    pthread_t poller;
    uint64_t t0 = now_ns();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    atomic_store(&t_storm_start, t0);
    if (opt.subsz_port > 0) {
        subs_base = get_subs(opt.subsz_port);
        if (opt.server_pid > 0)
            fds_base = fd_count(opt.server_pid);
        pthread_create(&poller, NULL, poll_subs, NULL);
    }

    uint64_t t_open_end = t0 + (uint64_t)(opt.seconds * 1e9), hold_ns = (uint64_t)(opt.hold * 1e9);
    uint64_t t_settle_end = 0, t_last_established = 0;
    double cpu0 = cpu_seconds();
    size_t opened = 0, close_next = 0, connecting = 0, in_use = 0;
    uint64_t established = 0, established_in_time = 0, failed = 0, abandoned = 0, skipped = 0, server_closed = 0;
    uint64_t closed = 0, unexpected = 0;
    const char *first_error = NULL;
    int opening = 1;
    struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        uint64_t t = now_ns();
        if (opening && t >= t_open_end) {
            opening = 0;
            t_settle_end = t + (uint64_t)(opt.settle * 1e9);
        }
        if (opening) {
            size_t due = (size_t)((double)(t - t0) / 1e9 * opt.rate);
            if (due > total)
                due = total;
            while (opened < due) {
                struct storm_conn *c = &cs[opened];
                c->t_open = now_ns();
                c->state = CLOSED;
                if (in_use >= fd_room) {   /* the open-file limit: this one is not opened */
                    skipped++;
                    opened++;
                    continue;
                }
                c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (c->fd < 0) {
                    if (!first_error)
                        first_error = strerror(errno);
                    failed++;
                    opened++;
                    continue;
                }
                if (nlocals) {
                    int one = 1;
                    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr = locals[opened % (size_t)nlocals] };
                    bind(c->fd, (struct sockaddr *)&la, sizeof la);
                }
                if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
                    if (!first_error)
                        first_error = strerror(errno);
                    failed++;
                    close(c->fd);
                } else {
                    c->state = CONNECTING;
                    connecting++;
                    in_use++;
                    add_fd(c->fd, EPOLLOUT, opened);
                }
                opened++;
                atomic_store(&opened_count, (long)opened);
            }
            /* Each connection closes HOLD seconds after it was opened (while the opening goes on); one still connecting
             * then is abandoned. */
            while (hold_ns && close_next < opened && cs[close_next].t_open + hold_ns <= t) {
                struct storm_conn *c = &cs[close_next++];
                if (c->state == CLOSED)
                    continue;
                close(c->fd);
                in_use--;
                if (c->state == OPEN) {
                    atomic_fetch_sub(&open_now, 1);
                    closed++;
                } else {
                    connecting--;
                    abandoned++;
                }
                c->state = CLOSED;
            }
        } else if (connecting == 0 || t >= t_settle_end) {
            break;
        }
        int n = epoll_wait(epfd, evs, MAX_EVENTS, 1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        uint64_t now = now_ns();
        for (int e = 0; e < n; e++) {
            struct storm_conn *c = &cs[evs[e].data.u64];
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                connecting--;
                if (err == 0 && !(evs[e].events & (EPOLLERR | EPOLLHUP))) {
                    established++;
                    atomic_store(&established_count, (long)established);
                    if (now <= t_open_end)
                        established_in_time++;
                    t_last_established = now;
                    lat_record(&connect_lat, now - c->t_open);
                    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = evs[e].data.u64 };
                    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                    c->state = OPEN;
                    struct sockaddr_in me;
                    socklen_t ml = sizeof me;
                    if (getsockname(c->fd, (struct sockaddr *)&me, &ml) == 0) {
                        c->addr = me.sin_addr.s_addr;
                        c->port = ntohs(me.sin_port);
                    }
                    atomic_fetch_add(&open_now, 1);
                } else {
                    if (!first_error)
                        first_error = strerror(err ? err : ECONNRESET);
                    failed++;
                    close(c->fd);
                    in_use--;
                    c->state = CLOSED;
                }
            } else if (c->state == OPEN) {
                char b[256];
                ssize_t r = read(c->fd, b, sizeof b);
                if (r > 0) {
                    unexpected++;
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    server_closed++;
                    close(c->fd);
                    in_use--;
                    c->state = CLOSED;
                    atomic_fetch_sub(&open_now, 1);
                }
            }
        }
    }
    /* Connections still connecting after the settle time count as failed. */
    for (size_t i = 0; i < opened; i++)
        if (cs[i].state == CONNECTING) {
            close(cs[i].fd);
            cs[i].state = CLOSED;
            failed++;
            if (!first_error)
                first_error = "still connecting after the settle time";
        }
    double cpu_pct = 100.0 * (cpu_seconds() - cpu0) / ((double)(now_ns() - t0) / 1e9);
    long open_end = atomic_load(&open_now);

    /* The server must come to have accepted, and NATS to hold one subscription for, every open connection the server's
     * kernel knows (counted again every second: one left in SYN_RECV may yet be accepted or given up). */
    double in_place_s = -1, lag_after_s = -1, accepted_after_s = -1;
    long server_open = server_side(opt.port, cs, opened);
    if (opt.subsz_port > 0) {
        uint64_t deadline = now_ns() + (uint64_t)(opt.settle * 1e9);
        for (int tick = 0; !(atomic_load(&t_in_place) && atomic_load(&t_accepted)) && now_ns() < deadline; tick++) {
            if (tick % 100 == 0) {
                server_open = server_side(opt.port, cs, opened);
                atomic_store(&final_open, server_open);
            }
            usleep(10000);
        }
        atomic_store(&polling, 0);
        pthread_join(poller, NULL);
        uint64_t tin = atomic_load(&t_in_place), tacc = atomic_load(&t_accepted);
        if (tin) {
            in_place_s = (double)(tin - t0) / 1e9;
            lag_after_s = tin > t_last_established ? (double)(tin - t_last_established) / 1e9 : 0;
        }
        if (tacc)
            accepted_after_s = tacc > t_last_established ? (double)(tacc - t_last_established) / 1e9 : 0;
    }
    struct lat_us cl = lat_summary(&connect_lat);
    double last_s = t_last_established ? (double)(t_last_established - t0) / 1e9 : 0;
    printf("storm: %zu due at %.0f/s for %.1f s (hold %.1f s): %" PRIu64 " established (%" PRIu64 " within the %.1f s, "
           "the last %.2f s after the start), %" PRIu64 " failed%s%s, %" PRIu64 " abandoned still connecting, %" PRIu64
           " not opened (open-file limit), %" PRIu64 " closed by the server, %ld open at the end (%ld on the server's "
           "side); connect p50 %.2f ms p99 %.2f ms max %.2f ms; the server had accepted them all %.2f s after the last "
           "connect, NATS had a subscription for each %.2f s after it (%.2f s after the start; %ld at the last poll; most "
           "open connections without one: %ld); storm cpu %.0f%%\n",
           opened, opt.rate, opt.seconds, opt.hold, established, established_in_time, opt.seconds, last_s, failed,
           first_error ? ": " : "", first_error ? first_error : "", abandoned, skipped, server_closed, open_end,
           server_open, cl.p50 / 1e3, cl.p99 / 1e3, cl.max / 1e3, accepted_after_s, lag_after_s, in_place_s,
           atomic_load(&subs_last), atomic_load(&subs_max_lag), cpu_pct);
    printf("RESULT opened=%zu established=%" PRIu64 " failed=%" PRIu64 " abandoned=%" PRIu64 " skipped=%" PRIu64
           " server_closed=%" PRIu64 " unexpected=%" PRIu64 " closed=%" PRIu64 " open_at_end=%ld server_open_at_end=%ld"
           " last_established_s=%.3f connect_rate=%.0f connect_p50_ms=%.3f connect_p99_ms=%.3f connect_max_ms=%.3f"
           " subs_base=%ld subs_last=%ld subs_max_lag=%ld accepted_after_last_s=%.3f subs_in_place_s=%.3f"
           " subs_after_last_s=%.3f storm_cpu_pct=%.0f start_unix_ms=%lld\n",
           opened, established, failed, abandoned, skipped, server_closed, unexpected, closed, open_end, server_open,
           last_s, (double)established_in_time / opt.seconds, cl.p50 / 1e3, cl.p99 / 1e3, cl.max / 1e3, subs_base,
           atomic_load(&subs_last), atomic_load(&subs_max_lag), accepted_after_s, in_place_s, lag_after_s, cpu_pct,
           (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
    fflush(stdout);
    /* Hold what is open until killed. */
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },        { "pub", required_argument, 0, 'P' },
        { "sub", required_argument, 0, 'S' },         { "publishers", required_argument, 0, 'c' },
        { "inflight", required_argument, 0, 'k' },    { "size", required_argument, 0, 's' },
        { "duration", required_argument, 0, 'd' },    { "warmup", required_argument, 0, 'w' },
        { "interval-ms", required_argument, 0, 'i' }, { "signal-pid", required_argument, 0, 'g' },
        { "port", required_argument, 0, 'p' },        { "rate", required_argument, 0, 'r' },
        { "seconds", required_argument, 0, 't' },     { "hold", required_argument, 0, 'H' },
        { "addresses", required_argument, 0, 'a' },   { "subsz", required_argument, 0, 'm' },
        { "settle", required_argument, 0, 'e' },      { "wait-signal", no_argument, 0, 'W' },
        { "linger", no_argument, 0, 'L' },           { "server-pid", required_argument, 0, 'Q' },
        { 0, 0, 0, 0 },
    };
    if (argc < 2 || (strcmp(argv[1], "xfer") != 0 && strcmp(argv[1], "storm") != 0)) {
        fprintf(stderr, "usage: backplanegen xfer|storm [options] (see the comment at the top of backplanegen.c)\n");
        return 2;
    }
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'P': opt.pub_port = atoi(optarg); break;
        case 'S': opt.sub_port = atoi(optarg); break;
        case 'c': opt.publishers = atoi(optarg); break;
        case 'k': opt.inflight = atoi(optarg); break;
        case 's': opt.size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'i': opt.interval_ms = atoi(optarg); break;
        case 'g': opt.signal_pid = (pid_t)atoi(optarg); break;
        case 'p': opt.port = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 't': opt.seconds = atof(optarg); break;
        case 'H': opt.hold = atof(optarg); break;
        case 'a': opt.addresses = optarg; break;
        case 'm': opt.subsz_port = atoi(optarg); break;
        case 'e': opt.settle = atof(optarg); break;
        case 'W': opt.wait_signal = 1; break;
        case 'L': opt.linger = 1; break;
        case 'Q': opt.server_pid = (pid_t)atoi(optarg); break;
        default: return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    return strcmp(argv[1], "xfer") == 0 ? xfer() : storm();
}
