/*
 * common.h - measurement code shared by the load generators (loadgen.c,
 * udpgen.c, wsfanout.c).
 *
 * It exists so that the three generators measure latency and CPU identically:
 * one clock (now_ns), one latency histogram with one percentile rule
 * (lat_record, lat_summary), one way of reading and reporting the generator's
 * own, the server's and the machine's CPU time (cpu_snapshot, cpu_window).
 * Numbers from different benchmarks are only comparable if this code is the
 * same, so it is kept here once instead of copied into each program.
 *
 * Header-only: every program is a single .c file that includes this header.
 * The functions are static; the ones a program may not use are marked unused
 * so -Wall stays quiet.
 */
#ifndef BENCH_LOADGEN_COMMON_H
#define BENCH_LOADGEN_COMMON_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define COMMON_MAYBE_UNUSED __attribute__((unused))

/* ---------- aborting a run ----------
 * Any protocol or socket error aborts the run: numbers from a broken exchange are meaningless. The first
 * reason is reported; errors counts them all. */
static COMMON_MAYBE_UNUSED uint64_t errors;
static COMMON_MAYBE_UNUSED const char *abort_reason;

static COMMON_MAYBE_UNUSED void fail(const char *why)
{
    errors++;
    if (!abort_reason)
        abort_reason = why;
}

/* ---------- epoll ----------
 * Registers or drops interest in writability of a connection already in the epoll set (always readable),
 * with a system call only when that changes; *want_out remembers what is registered. */
static COMMON_MAYBE_UNUSED void epoll_want_out(int epfd, int fd, void *conn, int *want_out, int on)
{
    if (*want_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = conn };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        perror("epoll_ctl(MOD)");
        exit(1);
    }
    *want_out = on;
}

/* ---------- clocks ---------- */
/* A non-blocking TCP connection with TCP_NODELAY to sa, waited for up to 5 s; -1 when it fails. */
static COMMON_MAYBE_UNUSED int connect_tcp(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&pfd, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) used by this process so far, in seconds. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------- latency histogram (HdrHistogram-like, ~1.6% resolution) ----------
 * Values are nanoseconds. Values < 128 get their own bucket; above that each
 * power-of-two range [2^k, 2^(k+1)) is split into 64 linear sub-buckets, so the
 * relative error of any reported value is < 1/64. Range is capped at 2^40 ns
 * (~18 minutes), far beyond any latency a benchmark run can observe. */
#define HIST_SUB_BITS 6                      /* 64 sub-buckets per octave */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_NS ((uint64_t)1 << 40)
#define HIST_BUCKETS (2 * HIST_SUB + (40 - HIST_SUB_BITS) * HIST_SUB)

/* One histogram of latencies: the buckets, and the count, sum and maximum (ns). */
struct latencies { uint64_t bucket[HIST_BUCKETS]; uint64_t count, sum, max; };

static unsigned hist_index(uint64_t v)
{
    if (v >= HIST_MAX_NS)
        v = HIST_MAX_NS - 1;
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);   /* >= HIST_SUB_BITS + 1 */
    unsigned shift = msb - HIST_SUB_BITS;                 /* >= 1 */
    unsigned mant = (unsigned)(v >> shift);               /* in [64, 128) */
    return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (mant - HIST_SUB);
}

/* Midpoint of a bucket, used as the reported value for percentiles. */
static double hist_value(unsigned idx)
{
    if (idx < 2 * HIST_SUB)
        return (double)idx;
    unsigned shift = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t mant = (idx - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    uint64_t lo = mant << shift, hi = ((mant + 1) << shift) - 1;
    return ((double)lo + (double)hi) / 2.0;
}

/* pct-th percentile (0..100] of the samples recorded in h, in ns. */
static double hist_percentile(const struct latencies *h, double pct)
{
    if (h->count == 0)
        return 0.0;
    /* rank of the sample we want, 1-based: ceil(pct/100 * count) */
    uint64_t rank = (uint64_t)((pct / 100.0) * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_BUCKETS - 1);
}

/* Records one latency (ns) of the measured window. */
static void lat_record(struct latencies *h, uint64_t lat)
{
    h->bucket[hist_index(lat)]++;
    h->count++;
    h->sum += lat;
    if (lat > h->max)
        h->max = lat;
}

/* Percentiles, maximum and mean of the recorded latencies, in microseconds
 * (all 0 when nothing was recorded). */
struct lat_us { double p50, p90, p99, p999, max, mean; };

static struct lat_us lat_summary(const struct latencies *h)
{
    struct lat_us s;
    s.p50 = hist_percentile(h, 50.0) / 1e3;
    s.p90 = hist_percentile(h, 90.0) / 1e3;
    s.p99 = hist_percentile(h, 99.0) / 1e3;
    s.p999 = hist_percentile(h, 99.9) / 1e3;
    s.max = (double)h->max / 1e3;
    s.mean = h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0;
    return s;
}

/* ---------- CPU accounting of the measured window (server, whole machine, steal) ----------
 * Take a cpu_snapshot() at the start and at the end of the window and
 * subtract: self_s is seconds, the *_ticks are jiffies (sysconf(_SC_CLK_TCK)). */
struct cpu_snap { double self_s; long long srv_ticks, busy_ticks, sirq_ticks, sirq_srv_ticks, steal_ticks; };

/* utime + stime of process pid in jiffies, -1 if it cannot be read. */
static COMMON_MAYBE_UNUSED long long proc_ticks(int pid)
{
    char path[64], line[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')');   /* comm may contain spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* Busy jiffies of the whole machine without (soft)irq time, the softirq jiffies of
 * the whole machine and of CPU server_cpu (the server's), and steal. With IRQ time
 * accounting (this kernel), loopback TCP processing done in softirq context is
 * charged to neither the server nor the load generator, so it is reported on its own. */
static COMMON_MAYBE_UNUSED void machine_ticks(int server_cpu, long long *busy, long long *sirq_all,
                                              long long *sirq_srv, long long *steal)
{
    char line[512], want[16];
    snprintf(want, sizeof want, "cpu%d ", server_cpu);
    *busy = *sirq_all = *sirq_srv = *steal = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long long u, ni, sy, id, io, irq, si, stl;
        if (strncmp(line, "cpu", 3) != 0)
            break;
        char *sp = strchr(line, ' ');
        if (!sp || sscanf(sp, "%llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq, &si, &stl) != 8)
            continue;
        if (strncmp(line, "cpu ", 4) == 0) {
            *busy = (long long)(u + ni + sy);
            *sirq_all = (long long)(irq + si);
            *steal = (long long)stl;
        } else if (strncmp(line, want, strlen(want)) == 0) {
            *sirq_srv = (long long)(irq + si);
        }
    }
    fclose(f);
}

/* server_pid <= 0: no server process to account (srv_ticks = -1). */
static COMMON_MAYBE_UNUSED void cpu_snapshot(struct cpu_snap *s, int server_pid, int server_cpu)
{
    s->self_s = cpu_seconds();
    s->srv_ticks = server_pid > 0 ? proc_ticks(server_pid) : -1;
    machine_ticks(server_cpu, &s->busy_ticks, &s->sirq_ticks, &s->sirq_srv_ticks, &s->steal_ticks);
}

/* CPU use over a window of `elapsed` seconds between snapshots s0 and s1, each in %
 * of one CPU: the generator itself, the server (-1 without a server pid), softirq
 * on the server's core, softirq on all cores, steal, and "other": busy time of the
 * whole machine that is neither the generator's nor the server's (never < 0). */
struct cpu_pct { double self, srv, sirq_srv, sirq, steal, other; };

static COMMON_MAYBE_UNUSED struct cpu_pct cpu_window(const struct cpu_snap *s0, const struct cpu_snap *s1,
                                                     double elapsed)
{
    struct cpu_pct p;
    double hz = (double)sysconf(_SC_CLK_TCK);
    p.self = elapsed > 0 ? 100.0 * (s1->self_s - s0->self_s) / elapsed : 0.0;
    p.srv = elapsed > 0 && s0->srv_ticks >= 0 && s1->srv_ticks >= 0
                ? 100.0 * (double)(s1->srv_ticks - s0->srv_ticks) / hz / elapsed : -1;
    double busy = elapsed > 0 ? 100.0 * (double)(s1->busy_ticks - s0->busy_ticks) / hz / elapsed : 0;
    p.sirq = elapsed > 0 ? 100.0 * (double)(s1->sirq_ticks - s0->sirq_ticks) / hz / elapsed : 0;
    p.sirq_srv = elapsed > 0 ? 100.0 * (double)(s1->sirq_srv_ticks - s0->sirq_srv_ticks) / hz / elapsed : 0;
    p.steal = elapsed > 0 ? 100.0 * (double)(s1->steal_ticks - s0->steal_ticks) / hz / elapsed : 0;
    p.other = busy - p.self - (p.srv > 0 ? p.srv : 0);
    if (p.other < 0)
        p.other = 0;
    return p;
}

#endif /* BENCH_LOADGEN_COMMON_H */
