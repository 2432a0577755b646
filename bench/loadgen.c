/* loadgen: a small epoll load generator for echo servers on 127.0.0.1.
 *
 *   loadgen pingpong -p PORT -c ACTIVE -i IDLE -w WARMUP_S -d DURATION_S [-s SETUP_S]
 *   loadgen bulk     -p PORT -c CONNS -m MIB [-R MIN_S] [-t TIMEOUT_S] [-W WINDOW_BYTES]
 *   loadgen hold     -p PORT -i IDLE [-t HOLD_S] [-s SETUP_S]
 *
 * Every mode first opens its connections, at most CONNECT_WINDOW at a time, and
 * proves each one is served by an echo (one byte for idle and bulk connections,
 * the first 64-byte message for active ones) before the next phase starts, so a
 * server with a short listen backlog or a connection budget is never flooded,
 * and a connection the server never accepted cannot pass for an idle one.
 *
 * -b (pingpong): poll without sleeping, so the loadgen's own wake-ups add no latency.
 * pingpong: ACTIVE connections each send a 64-byte message, wait for all 64
 *   bytes back, check every byte, and repeat; IDLE connections stay silent
 *   (a byte from the server on one of them is an error). Messages completed in
 *   the DURATION_S window after WARMUP_S are counted.
 *   Each message is the connection's number, its sequence number and 56 bytes
 *   derived from both, so a lost, repeated or misrouted byte fails the check.
 * bulk: CONNS connections each stream MIB MiB (at most WINDOW bytes ahead of
 *   what came back) and read it all back, checked against a per-connection
 *   pattern with a prime period. MB/s is echoed payload (10^6 bytes) per second.
 *   With -R, rounds of MIB MiB per connection repeat until MIN_S seconds have passed,
 *   so a fast server is timed over more than a few milliseconds.
 * hold: opens IDLE idle connections, prints a JSON line once all are served,
 *   and holds them until stdin closes or HOLD_S passes (for heap measurements).
 *
 * Output: one JSON line on stdout; "ok" is true only if everything checked out.
 * Every loop is bounded by time: nothing here runs longer than its timeouts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define CONNECT_WINDOW 4 /* below the accept queue of a listen(5) server */
#define PERIOD 65521     /* bulk pattern period: prime, so shifts show */
#define CHUNK 65536
#define SETUP_STALL 3.5 /* seconds without a newly served connection: SYN retries come at 1 s, 3 s */

enum { K_ACTIVE, K_IDLE, K_BULK };
enum { S_WAITING, S_CONNECTING, S_CONFIRMING, S_RUNNING, S_DONE };

typedef struct {
    int fd, idx, kind, state;
    uint32_t events;
    /* ping-pong */
    uint32_t seq;
    int wpos, rpos;
    unsigned char msg[MSG];
    uint64_t window_msgs;
    /* bulk */
    uint64_t sent, recvd;
    unsigned char *pat;
} conn_t;

static conn_t *conns;
static int nconns, ep;
static int in_flight, confirmed, next_to_start;
static char error[512];
static unsigned char rbuf[CHUNK];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    if (error[0])
        return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, sizeof error, fmt, ap);
    va_end(ap);
    for (char *p = error; *p; p++)
        if (*p == '"' || *p == '\\')
            *p = '\'';
}

static uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Message number seq of connection idx: idx, seq, then 56 bytes from both. */
static void make_msg(conn_t *c) {
    unsigned char *m = c->msg;
    memcpy(m, &c->idx, 4);
    memcpy(m + 4, &c->seq, 4);
    uint32_t h = mix((uint32_t)c->idx * 0x9e3779b9U ^ c->seq);
    for (int i = 8; i < MSG; i += 4) {
        h = mix(h + (uint32_t)i);
        memcpy(m + i, &h, 4);
    }
    c->wpos = c->rpos = 0;
}

static unsigned char idle_byte(conn_t *c) { return (unsigned char)(mix((uint32_t)c->idx + 1) | 1); }

static void set_events(conn_t *c, uint32_t ev) {
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)c->idx};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
        fail("epoll_ctl: %s", strerror(errno));
    c->events = ev;
}

static void start_connect(conn_t *c, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        fail("socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        fail("connect #%d: %s", c->idx, strerror(errno));
        return;
    }
    c->state = S_CONNECTING;
    c->events = EPOLLOUT;
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)c->idx};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
    in_flight++;
}

/* Write what is left of the current message; 0 when the socket took it all. */
static int pp_write(conn_t *c) {
    while (c->wpos < MSG) {
        ssize_t n = send(c->fd, c->msg + c->wpos, MSG - c->wpos, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            fail("send on active #%d: %s", c->idx, strerror(errno));
            return -1;
        }
        c->wpos += n;
    }
    set_events(c, c->wpos < MSG ? EPOLLIN | EPOLLOUT : EPOLLIN);
    return 0;
}

static void confirmed_one(conn_t *c) {
    c->state = c->kind == K_IDLE ? S_DONE : S_RUNNING;
    confirmed++;
    in_flight--;
}

static void on_connected(conn_t *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        fail("connect #%d: %s", c->idx, strerror(err));
        return;
    }
    c->state = S_CONFIRMING;
    if (c->kind == K_ACTIVE) {
        make_msg(c);
        pp_write(c);
    } else {
        unsigned char b = idle_byte(c);
        if (send(c->fd, &b, 1, MSG_NOSIGNAL) != 1)
            fail("send on #%d: %s", c->idx, strerror(errno));
        set_events(c, EPOLLIN);
    }
}

/* Bytes arrived on an active connection: check them against the message. */
static void pp_read(conn_t *c, int counting) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0) {
        if (errno != EAGAIN)
            fail("recv on active #%d: %s", c->idx, strerror(errno));
        return;
    }
    if (n == 0) {
        fail("server closed active connection #%d", c->idx);
        return;
    }
    if (c->rpos + n > c->wpos) {
        fail("active #%d: %zd bytes back, only %d sent and not yet echoed", c->idx, n, c->wpos - c->rpos);
        return;
    }
    if (memcmp(rbuf, c->msg + c->rpos, n) != 0) {
        fail("active #%d: message %u came back altered", c->idx, c->seq);
        return;
    }
    c->rpos += n;
    if (c->rpos < MSG)
        return;
    if (c->state == S_CONFIRMING)
        confirmed_one(c);
    else if (counting)
        c->window_msgs++;
    c->seq++;
    make_msg(c);
    pp_write(c);
}

/* The one-byte echo that proves an idle or bulk connection is served; later bytes are errors. */
static void idle_read(conn_t *c) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0) {
        if (errno != EAGAIN)
            fail("recv on idle #%d: %s", c->idx, strerror(errno));
        return;
    }
    if (n == 0) {
        fail("server closed idle connection #%d", c->idx);
        return;
    }
    if (c->state != S_CONFIRMING || n != 1 || rbuf[0] != idle_byte(c)) {
        fail("idle #%d: unexpected %zd bytes from the server", c->idx, n);
        return;
    }
    confirmed_one(c);
    if (c->kind == K_BULK)
        c->state = S_WAITING; /* streams once every connection is served */
}

static void *xcalloc(size_t n, size_t s) {
    void *p = calloc(n, s);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

static void raise_nofile(int need) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < (rlim_t)need + 64) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* Open the connections, CONNECT_WINDOW at a time, until all are served or the deadline passes. */
static void serve_events(int port, int timeout_ms, int counting);

static int setup(int port, double deadline) {
    int last_confirmed = -1;
    double last_progress = now();
    while (!error[0] && confirmed < nconns) {
        while (in_flight < CONNECT_WINDOW && next_to_start < nconns && !error[0])
            start_connect(&conns[next_to_start++], port);
        double t = now();
        if (confirmed != last_confirmed) {
            last_confirmed = confirmed;
            last_progress = t;
        }
        if (t > deadline || t - last_progress > SETUP_STALL) {
            fail("setup %s: %d of %d connections served", t > deadline ? "timed out" : "stalled", confirmed,
                 nconns);
            break;
        }
        serve_events(port, 50, 0);
    }
    return error[0] ? -1 : 0;
}

static int bulk_total_done;
static uint64_t bulk_bytes, bulk_window, bulk_target; /* target: bytes each connection streams in all rounds so far */

static void bulk_pump(conn_t *c) {
    while (c->sent < bulk_target && c->sent - c->recvd < bulk_window) {
        size_t want = bulk_target - c->sent;
        if (want > CHUNK)
            want = CHUNK;
        if (want > bulk_window - (c->sent - c->recvd))
            want = bulk_window - (c->sent - c->recvd);
        ssize_t n = send(c->fd, c->pat + c->sent % PERIOD, want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN)
                fail("send on bulk #%d: %s", c->idx, strerror(errno));
            break;
        }
        c->sent += n;
    }
    int more = c->sent < bulk_target && c->sent - c->recvd < bulk_window;
    set_events(c, more ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void bulk_read(conn_t *c) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0) {
        if (errno != EAGAIN)
            fail("recv on bulk #%d: %s", c->idx, strerror(errno));
        return;
    }
    if (n == 0) {
        fail("server closed bulk connection #%d after %llu bytes", c->idx, (unsigned long long)c->recvd);
        return;
    }
    if (c->recvd + n > c->sent) {
        fail("bulk #%d: more bytes back than sent", c->idx);
        return;
    }
    if (memcmp(rbuf, c->pat + c->recvd % PERIOD, n) != 0) {
        fail("bulk #%d: stream altered near byte %llu", c->idx, (unsigned long long)c->recvd);
        return;
    }
    c->recvd += n;
    if (c->recvd == bulk_target) {
        c->state = S_DONE;
        bulk_total_done++;
        set_events(c, EPOLLIN);
    } else {
        bulk_pump(c);
    }
}

static void serve_events(int port, int timeout_ms, int counting) {
    (void)port;
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    for (int i = 0; i < n && !error[0]; i++) {
        uint32_t id = evs[i].data.u32;
        if (id == UINT32_MAX) { /* stdin (hold mode): readable or closed */
            char b[256];
            if (read(0, b, sizeof b) <= 0)
                bulk_total_done = -1;
            continue;
        }
        conn_t *c = &conns[id];
        uint32_t ev = evs[i].events;
        if (c->state == S_CONNECTING) {
            if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                on_connected(c);
            continue;
        }
        if (c->kind == K_ACTIVE) {
            if (ev & EPOLLOUT && c->wpos < MSG && pp_write(c) < 0)
                continue;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
                pp_read(c, counting);
        } else if (c->kind == K_BULK && c->state == S_RUNNING) {
            if (ev & EPOLLOUT)
                bulk_pump(c);
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
                bulk_read(c);
        } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            if (c->kind == K_BULK && c->state == S_DONE) {
                /* finished stream: only the server's close could come, or an error */
                ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
                if (r > 0)
                    fail("bulk #%d: bytes after the stream ended", c->idx);
                else if (r == 0 || errno != EAGAIN)
                    set_events(c, 0);
            } else {
                idle_read(c);
            }
        }
    }
}

/* CPU seconds this process used (user + system) over wall seconds since start: 1.0 is a full core. */
static double t_begin;
static double cpu_share(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double wall = now() - t_begin;
    return wall > 0 ? cpu / wall : 0;
}

static void close_all(void) {
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd > 0)
            close(conns[i].fd);
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen pingpong|bulk|hold -p PORT [-c N] [-i N] [-w S] [-d S] [-s S] [-m MIB] [-R S] [-t S] [-W BYTES] [-b]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    int port = 0, active = 0, idle = 0;
    double warmup = 0.5, duration = 2, setup_s = 20, timeout = 60, min_secs = 0;
    double mib = 8;
    bulk_window = 256 * 1024;
    int opt, spin = 0;
    optind = 2;
    while ((opt = getopt(argc, argv, "p:c:i:w:d:s:m:t:W:bR:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': active = atoi(optarg); break;
        case 'i': idle = atoi(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 's': setup_s = atof(optarg); break;
        case 'm': mib = atof(optarg); break;
        case 't': timeout = atof(optarg); break;
        case 'W': bulk_window = strtoull(optarg, NULL, 10); break;
        case 'b': spin = 1; break;
        case 'R': min_secs = atof(optarg); break;
        default: usage();
        }
    }
    if (port <= 0)
        usage();
    int is_pp = !strcmp(mode, "pingpong"), is_bulk = !strcmp(mode, "bulk"), is_hold = !strcmp(mode, "hold");
    if (!is_pp && !is_bulk && !is_hold)
        usage();
    if (is_hold)
        active = 0;
    nconns = idle + active;
    if (nconns <= 0)
        usage();
    raise_nofile(nconns);
    conns = xcalloc(nconns, sizeof *conns);
    ep = epoll_create1(0);
    /* idle connections open first, so the active ones start on a loaded server */
    for (int i = 0; i < nconns; i++) {
        conns[i].idx = i;
        conns[i].fd = -1;
        conns[i].kind = is_bulk ? K_BULK : i < idle ? K_IDLE : K_ACTIVE;
    }
    if (is_bulk) {
        nconns = active;
        for (int i = 0; i < nconns; i++) {
            conns[i].kind = K_BULK;
            conns[i].pat = malloc(PERIOD + CHUNK);
            if (!conns[i].pat)
                return 2;
            uint32_t h = 0;
            for (int j = 0; j < PERIOD; j++) {
                if (j % 4 == 0)
                    h = mix(h + (uint32_t)j + 0x51ed270bU * (uint32_t)(i + 1));
                conns[i].pat[j] = (unsigned char)(h >> (8 * (j % 4)));
            }
            for (int j = PERIOD; j < PERIOD + CHUNK; j++) /* any offset < PERIOD has CHUNK bytes after it */
                conns[i].pat[j] = conns[i].pat[j - PERIOD];
        }
    }

    double t0 = t_begin = now();
    setup(port, t0 + setup_s);
    double t_setup = now() - t0;

    if (is_hold) {
        if (!error[0]) {
            printf("{\"mode\":\"hold\",\"ok\":true,\"idle\":%d,\"setup_s\":%.3f}\n", idle, t_setup);
            fflush(stdout);
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
            epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
            double end = now() + timeout;
            while (!error[0] && bulk_total_done >= 0 && now() < end)
                serve_events(port, 100, 0);
        }
        if (error[0])
            printf("{\"mode\":\"hold\",\"ok\":false,\"idle\":%d,\"error\":\"%s\"}\n", idle, error);
        close_all();
        return error[0] ? 1 : 0;
    }

    if (is_pp) {
        double t_start = 0, t_end = 0;
        if (!error[0]) {
            double w_end = now() + warmup;
            while (!error[0] && now() < w_end)
                serve_events(port, spin ? 0 : 20, 0);
            t_start = now();
            double end = t_start + duration;
            while (!error[0] && now() < end)
                serve_events(port, spin ? 0 : 20, 1);
            t_end = now();
        }
        uint64_t total = 0, mn = UINT64_MAX, mx = 0;
        for (int i = idle; i < nconns; i++) {
            uint64_t m = conns[i].window_msgs;
            total += m;
            if (m < mn)
                mn = m;
            if (m > mx)
                mx = m;
        }
        if (!error[0] && mn == 0)
            fail("%s: an active connection completed no message in the window", total ? "stalled" : "no progress");
        double secs = t_end - t_start;
        printf("{\"mode\":\"pingpong\",\"ok\":%s,\"active\":%d,\"idle\":%d,\"msg_bytes\":%d,\"seconds\":%.3f,"
               "\"messages\":%llu,\"msgs_per_s\":%.1f,\"min_conn_msgs\":%llu,\"max_conn_msgs\":%llu,"
               "\"setup_s\":%.3f,\"loadgen_cpu\":%.3f,\"error\":\"%s\"}\n",
               error[0] ? "false" : "true", active, idle, MSG, secs, (unsigned long long)total,
               secs > 0 ? total / secs : 0.0, (unsigned long long)(mn == UINT64_MAX ? 0 : mn),
               (unsigned long long)mx, t_setup, cpu_share(), error);
        close_all();
        return error[0] ? 1 : 0;
    }

    /* bulk: rounds of MIB MiB on every connection, until min_secs have passed (one round at least) */
    bulk_bytes = (uint64_t)(mib * 1048576.0);
    int rounds = 0;
    double t_start = now(), end = t_start + timeout;
    while (!error[0] && (rounds == 0 || now() - t_start < min_secs)) {
        rounds++;
        bulk_target += bulk_bytes;
        bulk_total_done = 0;
        for (int i = 0; i < nconns; i++) {
            conns[i].state = S_RUNNING;
            bulk_pump(&conns[i]);
        }
        while (!error[0] && bulk_total_done < nconns) {
            if (now() > end) {
                uint64_t got = 0;
                for (int i = 0; i < nconns; i++)
                    got += conns[i].recvd;
                fail("timed out after %.0f s: %llu of %llu bytes echoed", timeout, (unsigned long long)got,
                     (unsigned long long)(bulk_target * nconns));
                break;
            }
            serve_events(port, 50, 0);
        }
    }
    double secs = now() - t_start;
    uint64_t got = 0;
    for (int i = 0; i < nconns; i++)
        got += conns[i].recvd;
    printf("{\"mode\":\"bulk\",\"ok\":%s,\"conns\":%d,\"mib_each\":%g,\"bytes_echoed\":%llu,\"seconds\":%.3f,"
           "\"mb_per_s\":%.2f,\"rounds\":%d,\"window\":%llu,\"setup_s\":%.3f,\"loadgen_cpu\":%.3f,\"error\":\"%s\"}\n",
           error[0] ? "false" : "true", nconns, mib, (unsigned long long)got, secs,
           error[0] ? 0.0 : got / secs / 1e6, rounds, (unsigned long long)bulk_window, t_setup, cpu_share(), error);
    close_all();
    return error[0] ? 1 : 0;
}
