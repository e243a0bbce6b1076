/*
 * udpgen - single-threaded UDP echo load generator.
 *
 * N client sockets (distinct ephemeral source ports, each connect()ed to the
 * server so only its echoes are received) send datagrams of B bytes whose first
 * 16 bytes are a sequence number and the CLOCK_MONOTONIC send time (ns), both
 * little-endian u64; the rest is a fixed pattern. Sends go out in sendmmsg()
 * batches, round-robin over the sockets; echoes are read with recvmmsg() from
 * whichever sockets epoll reports readable.
 *
 *   --rate R > 0   paced: a token bucket releases floor(elapsed * R) - sent
 *                  datagrams (at most --batch per socket per sendmmsg);
 *   --rate 0       unlimited: sends as fast as the generator can, so the
 *                  received/s is the server's sustained echo rate (the rest is
 *                  dropped in socket buffers).
 *
 * After warmup + duration the generator stops sending and drains echoes for
 * --drain seconds. Reported over the measured window: sent/s, received/s
 * (echoes that arrived during the window), loss % of the datagrams SENT in the
 * window (not echoed by the end of the drain), p50/p99 round trip of the echoes
 * of datagrams sent in the window. Datagrams the kernel refused to send
 * (EAGAIN/ENOBUFS) are not counted as sent; they are reported as send_refused.
 *
 * Exit status: 0 ok, 1 setup failure, 2 bad arguments, 3 aborted (bad echo).
 * It always stops by itself after warmup + duration + drain.
 *
 * Build: gcc -O2 -Wall -Wextra -o udpgen udpgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_BATCH 256
#define MAX_EVENTS 256
#define MIN_SIZE 16
#define MAX_SIZE 65000

static struct {
    const char *host;
    int port, socks, batch, server_pid, server_cpu, sockbuf;
    uint32_t size;
    double rate, duration, warmup, drain;
} opt = { "127.0.0.1", 9003, 32, 32, 0, 0, 4 << 20, 64, 0, 10.0, 5.0, 1.0 };

/* ---------- state ---------- */
static int *fds;
static uint8_t *sbufs, *rbufs;
static struct mmsghdr smsg[MAX_BATCH], rmsg[MAX_BATCH];
static struct iovec siov[MAX_BATCH], riov[MAX_BATCH];
static uint64_t next_seq, sent_total, send_refused;
static uint64_t seq_lo = UINT64_MAX, seq_hi = UINT64_MAX;   /* seqs sent in the measured window */
static uint64_t recv_total, recv_in_window_seq, recv_during_window, bad;
static int measuring, sending_done;
static struct latencies latency;   /* of the datagrams sent in the measured window */

static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Sends up to n datagrams on socket i; returns how many the kernel took. */
static int send_batch(int i, int n)
{
    uint64_t ts = now_ns();
    for (int k = 0; k < n; k++) {
        uint8_t *b = sbufs + (size_t)k * opt.size;
        put_u64(b, next_seq + (uint64_t)k);
        put_u64(b + 8, ts);
    }
    int r = sendmmsg(fds[i], smsg, (unsigned)n, MSG_DONTWAIT);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ECONNREFUSED || errno == EINTR) {
            send_refused += (uint64_t)n;
            return 0;
        }
        perror("sendmmsg");
        exit(1);
    }
    if (r < n)
        send_refused += (uint64_t)(n - r);   /* the unsent tail is skipped, not retried */
    next_seq += (uint64_t)r;
    sent_total += (uint64_t)r;
    return r;
}

static void recv_all(int i)
{
    for (;;) {
        int r = recvmmsg(fds[i], rmsg, (unsigned)opt.batch, MSG_DONTWAIT, NULL);
        if (r <= 0) {
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNREFUSED) {
                perror("recvmmsg");
                exit(1);
            }
            return;
        }
        uint64_t t = now_ns();
        for (int k = 0; k < r; k++) {
            const uint8_t *b = rbufs + (size_t)k * opt.size;
            if (rmsg[k].msg_len != opt.size) {
                bad++;
                continue;
            }
            uint64_t seq = get_u64(b), ts = get_u64(b + 8);
            if (seq >= next_seq || ts > t) {
                bad++;
                continue;
            }
            recv_total++;
            if (measuring && !sending_done)
                recv_during_window++;
            if (seq >= seq_lo && seq < seq_hi) {
                recv_in_window_seq++;
                lat_record(&latency, t - ts);
            }
        }
        rmsg[0].msg_len = 0;
        if (r < opt.batch)
            return;
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--host 127.0.0.1] [--port 9003] [--sockets 32] [--size 64] [--rate 0]\n"
            "          [--batch 32] [--duration 10] [--warmup 5] [--drain 1] [--sockbuf 4194304]\n"
            "          [--server-pid PID] [--server-cpu 0]\n"
            "--rate is the total datagrams/s over all sockets; 0 = unlimited (find the maximum).\n",
            argv0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },
        { "port", required_argument, 0, 'p' },
        { "sockets", required_argument, 0, 'n' },
        { "size", required_argument, 0, 's' },
        { "rate", required_argument, 0, 'r' },
        { "batch", required_argument, 0, 'b' },
        { "duration", required_argument, 0, 'd' },
        { "warmup", required_argument, 0, 'w' },
        { "drain", required_argument, 0, 'D' },
        { "sockbuf", required_argument, 0, 'B' },
        { "server-pid", required_argument, 0, 'X' },
        { "server-cpu", required_argument, 0, 'C' },
        { "help", no_argument, 0, '?' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h:p:n:s:r:b:d:w:D:B:X:C:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'n': opt.socks = atoi(optarg); break;
        case 's': opt.size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'b': opt.batch = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'B': opt.sockbuf = atoi(optarg); break;
        case 'X': opt.server_pid = atoi(optarg); break;
        case 'C': opt.server_cpu = atoi(optarg); break;
        default: usage(argv[0]); return 2;
        }
    }
    if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.socks <= 0 || opt.socks > 4096 ||
        opt.size < MIN_SIZE || opt.size > MAX_SIZE || opt.rate < 0 || opt.batch <= 0 || opt.batch > MAX_BATCH ||
        !(opt.duration > 0) || opt.warmup < 0 || opt.drain < 0) {
        usage(argv[0]);
        return 2;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "udpgen: --host must be an IPv4 address, got '%s'\n", opt.host);
        return 2;
    }

    fds = calloc((size_t)opt.socks, sizeof *fds);
    sbufs = malloc((size_t)MAX_BATCH * opt.size);
    rbufs = malloc((size_t)MAX_BATCH * opt.size);
    if (!fds || !sbufs || !rbufs) {
        fprintf(stderr, "udpgen: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)MAX_BATCH * opt.size; i++)
        sbufs[i] = (uint8_t)(i * 31u + 7u);
    for (int k = 0; k < MAX_BATCH; k++) {
        siov[k] = (struct iovec){ sbufs + (size_t)k * opt.size, opt.size };
        smsg[k].msg_hdr = (struct msghdr){ .msg_iov = &siov[k], .msg_iovlen = 1 };
        riov[k] = (struct iovec){ rbufs + (size_t)k * opt.size, opt.size };
        rmsg[k].msg_hdr = (struct msghdr){ .msg_iov = &riov[k], .msg_iovlen = 1 };
    }

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("epoll_create1");
        return 1;
    }
    for (int i = 0; i < opt.socks; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0) {
            perror("socket");
            return 1;
        }
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &opt.sockbuf, sizeof opt.sockbuf);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &opt.sockbuf, sizeof opt.sockbuf);
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {   /* binds a distinct ephemeral port */
            perror("connect");
            return 1;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
            perror("epoll_ctl");
            return 1;
        }
    }

    /* A first probe: refuse to run against a port nobody echoes on. */
    {
        uint64_t deadline = now_ns() + 3000000000ull;
        while (recv_total == 0 && now_ns() < deadline) {
            send_batch(0, 1);
            struct epoll_event ev;
            if (epoll_wait(epfd, &ev, 1, 100) == 1)
                recv_all((int)ev.data.u32);
        }
        if (recv_total == 0) {
            fprintf(stderr, "udpgen: no echo from %s:%d within 3 s\n", opt.host, opt.port);
            return 1;
        }
    }

    struct epoll_event evs[MAX_EVENTS];
    uint64_t t0 = now_ns();
    uint64_t t_measure = t0 + (uint64_t)(opt.warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(opt.duration * 1e9);
    uint64_t t_drain_end = t_end + (uint64_t)(opt.drain * 1e9);
    uint64_t t_measure_actual = 0, t_stop_actual = 0;
    uint64_t sent_at_measure = 0, sent_at_stop = 0, base_sent = sent_total;
    struct cpu_snap s0 = { 0, -1, 0, 0, 0, 0 }, s1 = { 0, -1, 0, 0, 0, 0 };
    int rr = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            t_measure_actual = t;
            sent_at_measure = sent_total;
            seq_lo = next_seq;
            cpu_snapshot(&s0, opt.server_pid, opt.server_cpu);
        }
        if (!sending_done && t >= t_end) {
            sending_done = 1;
            t_stop_actual = t;
            sent_at_stop = sent_total;
            seq_hi = next_seq;
            cpu_snapshot(&s1, opt.server_pid, opt.server_cpu);
        }
        if (sending_done && (t >= t_drain_end || recv_in_window_seq >= seq_hi - seq_lo))
            break;
        int timeout = 0;
        if (!sending_done) {
            uint64_t budget;
            if (opt.rate > 0) {
                uint64_t due = (uint64_t)((double)(t - t0) * opt.rate / 1e9) + 1;
                uint64_t done = sent_total - base_sent + send_refused;
                budget = due > done ? due - done : 0;
            } else {
                budget = (uint64_t)opt.batch;   /* one batch per loop, interleaved with receiving */
            }
            /* spread the budget over the sockets, one sendmmsg per socket */
            while (budget > 0) {
                int n = budget > (uint64_t)opt.batch ? opt.batch : (int)budget;
                send_batch(rr, n);
                rr = (rr + 1) % opt.socks;
                budget -= (uint64_t)n;
                if (opt.rate > 0 && budget > 0 && now_ns() - t > 1000000)
                    break;   /* do not starve the receive side; the bucket keeps the debt */
            }
            if (opt.rate > 0) {
                /* sleep until the next datagram is due (ms resolution), but not past t_end */
                double next_due_ns = (double)(sent_total - base_sent + send_refused) * 1e9 / opt.rate;
                double wait = (double)t0 + next_due_ns - (double)now_ns();
                /* nothing due: sleep >= 1 ms (echoes wake us earlier), so the bucket
                 * releases datagrams in bursts of about rate/1000 instead of spinning */
                if (wait > 0)
                    timeout = wait > 1e6 ? (int)(wait / 1e6 + 0.999) : 1;
            }
        } else {
            timeout = 1;
        }
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++)
            recv_all((int)evs[i].data.u32);
    }
    for (int i = 0; i < opt.socks; i++)
        close(fds[i]);
    close(epfd);

    double elapsed = (double)(t_stop_actual - t_measure_actual) / 1e9;
    uint64_t sent_w = sent_at_stop - sent_at_measure;
    double sent_ps = elapsed > 0 ? (double)sent_w / elapsed : 0;
    double recv_ps = elapsed > 0 ? (double)recv_during_window / elapsed : 0;
    uint64_t lost = sent_w > recv_in_window_seq ? sent_w - recv_in_window_seq : 0;
    double loss_pct = sent_w ? 100.0 * (double)lost / (double)sent_w : 0;
    struct lat_us lat = lat_summary(&latency);
    struct cpu_pct cpu = cpu_window(&s0, &s1, elapsed);

    printf("%s:%d sockets=%d size=%" PRIu32 "B rate=%s over %.2fs: sent %.0f/s, echoed %.0f/s, loss %.3f%% "
           "(%" PRIu64 " of %" PRIu64 " after %.1fs drain), send refused %" PRIu64 ", rtt p50 %.1fus p90 %.1fus "
           "p99 %.1fus p99.9 %.1fus max %.1fus mean %.1fus, bad %" PRIu64 ", loadgen cpu %.0f%%, server cpu %.0f%% "
           "(+ %.0f%% softirq on its core), softirq all cpus %.0f%%, other %.0f%%\n",
           opt.host, opt.port, opt.socks, opt.size, opt.rate > 0 ? "paced" : "unlimited", elapsed, sent_ps, recv_ps,
           loss_pct, lost, sent_w, opt.drain, send_refused, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean, bad,
           cpu.self, cpu.srv, cpu.sirq_srv, cpu.sirq, cpu.other);
    printf("RESULT sent_per_s=%.0f recv_per_s=%.0f loss_pct=%.3f lost=%" PRIu64 " sent=%" PRIu64
           " send_refused=%" PRIu64 " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f"
           " bad=%" PRIu64 " sockets=%d size=%" PRIu32 " target_rate=%.0f duration_s=%.2f loadgen_cpu_pct=%.0f"
           " server_cpu_pct=%.0f server_core_softirq_pct=%.0f softirq_pct=%.0f other_cpu_pct=%.0f steal_pct=%.0f\n",
           sent_ps, recv_ps, loss_pct, lost, sent_w, send_refused, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.mean,
           bad, opt.socks, opt.size, opt.rate, elapsed, cpu.self, cpu.srv, cpu.sirq_srv, cpu.sirq, cpu.other, cpu.steal);
    fflush(stdout);
    free(fds);
    free(sbufs);
    free(rbufs);
    return bad ? 3 : 0;
}
