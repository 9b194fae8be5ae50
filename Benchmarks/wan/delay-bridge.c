// delay-bridge: a two-port Ethernet bridge that emulates a long-haul path, for kernels without
// the netem qdisc. It runs in a middle network namespace, reads every frame arriving on one veth
// with an AF_PACKET raw socket and sends it out of the other after a one-way delay, with jitter
// and random loss, per direction.
//
//   delay-bridge IF_A IF_B [options]
//     --delay-ab MS    one-way delay A -> B (default 0)     --delay-ba MS    B -> A (default 0)
//     --jitter-ab MS   jitter A -> B (default 0)            --jitter-ba MS   B -> A (default 0)
//     --loss-ab PCT    random loss A -> B, percent          --loss-ba PCT    B -> A
//     --dist uniform|normal  jitter distribution (default uniform)
//     --queue N        frames waiting per direction before tail drop (default 4096)
//     --seed N         seed of the pseudo-random draws (default 1); same seed, same draws
//     --duration S     exit after S seconds (default 900), so a forgotten bridge cannot run on
//
// Semantics, chosen to keep the measurements easy to read:
// - Jitter: `uniform` draws the extra delay from [-J, +J]; `normal` from N(0, J) clipped to
//   [-3J, +3J]. A frame's delay never goes below zero.
// - Order is preserved: each direction is one FIFO, and a frame is released no earlier than the
//   frame before it (a frame whose draw would overtake its predecessor waits for it). Jitter
//   therefore never reorders, and with jitter the mean delay is a little above the nominal one.
//   (netem reorders under jitter unless told otherwise; real cellular links mostly do not.)
// - Loss is independent per frame (Bernoulli), drawn when the frame arrives.
// - Randomness: one xoshiro256** generator per direction, seeded from --seed by SplitMix64, so a
//   run with the same seed and the same frame sequence makes the same decisions.
// - Frames longer than a queue slot (2,048 bytes) or than the egress MTU allows are counted and
//   dropped.
//
// On SIGINT/SIGTERM/--duration it prints per-direction counters to stderr and exits 0.
//
// The endpoints must send complete checksums: a frame copied through a packet socket leaves with
// CHECKSUM_NONE, so a TCP/UDP checksum left for offload (CHECKSUM_PARTIAL on veth) would arrive
// incomplete and be dropped by the receiver. The benchmark script runs `ethtool -K IF tx off`
// (which also turns off TSO/GSO) on the endpoints' veths.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

// Receive buffer, and the room for one queued frame: the endpoints' MTU is 1500 with GSO off,
// so 2,048 bytes hold any frame they can send (longer ones are counted as too-big).
enum { FRAME_MAX = 65536, SLOT_MAX = 2048 };

typedef struct {
    uint64_t due_ns;
    uint32_t len;
    unsigned char *data;
} Slot;

typedef struct {
    const char *name;
    int in_fd, out_fd;
    double delay_ms, jitter_ms, loss;
    uint64_t rng[4];
    Slot *ring;
    uint32_t cap, head, count;
    uint64_t last_due_ns;
    uint64_t received, forwarded, lost, queue_drops, too_big, send_errors;
} Direction;

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

/// Uniform in [0, 1), 53 bits.
static double unit(uint64_t s[4]) { return (double)(xoshiro(s) >> 11) * 0x1.0p-53; }

static int normal_jitter = 0;

static double jitter_draw(Direction *d) {
    if (d->jitter_ms <= 0) return 0;
    if (!normal_jitter) return (2 * unit(d->rng) - 1) * d->jitter_ms;
    // Box-Muller; one of the pair is discarded, which keeps the draw sequence simple.
    double u1 = unit(d->rng), u2 = unit(d->rng);
    if (u1 < 1e-300) u1 = 1e-300;
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    if (z > 3) z = 3;
    if (z < -3) z = -3;
    return z * d->jitter_ms;
}

static int open_port(const char *ifname) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (fd < 0) { perror("socket(AF_PACKET)"); exit(1); }
    unsigned ifindex = if_nametoindex(ifname);
    if (ifindex == 0) { fprintf(stderr, "no interface %s\n", ifname); exit(1); }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); exit(1); }
    // Frames we send out of this port must not come back to us as input.
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) perror("PACKET_IGNORE_OUTGOING");
    // Frames are addressed to the far endpoint's MAC, not ours.
    struct packet_mreq mr = {.mr_ifindex = (int)ifindex, .mr_type = PACKET_MR_PROMISC};
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) perror("PACKET_MR_PROMISC");
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    // Drain what arrived before the bind took effect on every port: start from a clean slate.
    static unsigned char scratch[FRAME_MAX];
    while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {}
    return fd;
}

static void receive_all(Direction *d, unsigned char *scratch) {
    for (;;) {
        struct sockaddr_ll from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(d->in_fd, scratch, FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // EAGAIN: drained
        }
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        d->received++;
        if (n > SLOT_MAX) { d->too_big++; continue; }
        if (d->loss > 0 && unit(d->rng) < d->loss) { d->lost++; continue; }
        if (d->count == d->cap) { d->queue_drops++; continue; }
        uint64_t t = now_ns();
        double delay = d->delay_ms + jitter_draw(d);
        if (delay < 0) delay = 0;
        uint64_t due = t + (uint64_t)(delay * 1e6);
        if (due < d->last_due_ns) due = d->last_due_ns;  // FIFO: never overtake the frame before
        d->last_due_ns = due;
        Slot *s = &d->ring[(d->head + d->count) % d->cap];
        s->due_ns = due;
        s->len = (uint32_t)n;
        memcpy(s->data, scratch, (size_t)n);
        d->count++;
    }
}

static void release_due(Direction *d, uint64_t t) {
    while (d->count > 0 && d->ring[d->head].due_ns <= t) {
        Slot *s = &d->ring[d->head];
        ssize_t sent;
        do { sent = send(d->out_fd, s->data, s->len, 0); } while (sent < 0 && errno == EINTR);
        if (sent < 0) {
            if (errno == EMSGSIZE) d->too_big++; else d->send_errors++;
        } else {
            d->forwarded++;
        }
        d->head = (d->head + 1) % d->cap;
        d->count--;
    }
}

static void report(const Direction *d) {
    fprintf(stderr, "%s: received %llu forwarded %llu lost %llu queue-drops %llu too-big %llu send-errors %llu\n",
            d->name, (unsigned long long)d->received, (unsigned long long)d->forwarded, (unsigned long long)d->lost,
            (unsigned long long)d->queue_drops, (unsigned long long)d->too_big, (unsigned long long)d->send_errors);
}

static double number(const char *flag, const char *value) {
    char *end;
    double v = strtod(value, &end);
    if (*value == 0 || *end != 0 || v < 0) { fprintf(stderr, "%s: bad value '%s'\n", flag, value); exit(2); }
    return v;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s IF_A IF_B [--delay-ab MS] [--delay-ba MS] [--jitter-ab MS] [--jitter-ba MS]\n"
                        "       [--loss-ab PCT] [--loss-ba PCT] [--dist uniform|normal] [--queue N] [--seed N] [--duration S]\n",
                argv[0]);
        return 2;
    }
    Direction ab = {.name = "a->b"}, ba = {.name = "b->a"};
    uint64_t seed = 1;
    unsigned queue = 4096;
    double duration = 900;
    for (int i = 3; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", f); return 2; }
        const char *v = argv[++i];
        if (!strcmp(f, "--delay-ab")) ab.delay_ms = number(f, v);
        else if (!strcmp(f, "--delay-ba")) ba.delay_ms = number(f, v);
        else if (!strcmp(f, "--jitter-ab")) ab.jitter_ms = number(f, v);
        else if (!strcmp(f, "--jitter-ba")) ba.jitter_ms = number(f, v);
        else if (!strcmp(f, "--loss-ab")) ab.loss = number(f, v) / 100;
        else if (!strcmp(f, "--loss-ba")) ba.loss = number(f, v) / 100;
        else if (!strcmp(f, "--queue")) queue = (unsigned)number(f, v);
        else if (!strcmp(f, "--seed")) seed = strtoull(v, NULL, 0);
        else if (!strcmp(f, "--duration")) duration = number(f, v);
        else if (!strcmp(f, "--dist")) {
            if (!strcmp(v, "normal")) normal_jitter = 1;
            else if (strcmp(v, "uniform")) { fprintf(stderr, "--dist: uniform or normal\n"); return 2; }
        } else { fprintf(stderr, "unknown option %s\n", f); return 2; }
    }
    if (queue == 0) queue = 1;

    uint64_t sm = seed;
    for (int k = 0; k < 4; k++) ab.rng[k] = splitmix64(&sm);
    for (int k = 0; k < 4; k++) ba.rng[k] = splitmix64(&sm);

    int fa = open_port(argv[1]), fb = open_port(argv[2]);
    ab.in_fd = fa; ab.out_fd = fb;
    ba.in_fd = fb; ba.out_fd = fa;
    Direction *dirs[2] = {&ab, &ba};
    for (int k = 0; k < 2; k++) {
        Direction *d = dirs[k];
        d->cap = queue;
        d->ring = calloc(queue, sizeof(Slot));
        unsigned char *pool = malloc((size_t)queue * SLOT_MAX);
        if (!d->ring || !pool) { fprintf(stderr, "out of memory\n"); return 1; }
        for (unsigned j = 0; j < queue; j++) d->ring[j].data = pool + (size_t)j * SLOT_MAX;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    // The default 50 us timer slack would add up to that much to every release.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    fprintf(stderr, "delay-bridge %s<->%s: a->b %.1f ms +-%.1f loss %.2f%%, b->a %.1f ms +-%.1f loss %.2f%%, %s jitter, seed %llu\n",
            argv[1], argv[2], ab.delay_ms, ab.jitter_ms, ab.loss * 100, ba.delay_ms, ba.jitter_ms, ba.loss * 100,
            normal_jitter ? "normal" : "uniform", (unsigned long long)seed);

    static unsigned char scratch[FRAME_MAX];
    uint64_t deadline = now_ns() + (uint64_t)(duration * 1e9);
    struct pollfd pfd[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
    while (!stopping) {
        uint64_t t = now_ns();
        if (t >= deadline) break;
        release_due(&ab, t);
        release_due(&ba, t);
        uint64_t next = deadline;
        for (int k = 0; k < 2; k++)
            if (dirs[k]->count > 0 && dirs[k]->ring[dirs[k]->head].due_ns < next) next = dirs[k]->ring[dirs[k]->head].due_ns;
        t = now_ns();
        uint64_t wait = next > t ? next - t : 0;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
        int r = ppoll(pfd, 2, &ts, NULL);
        if (r < 0 && errno != EINTR) { perror("ppoll"); break; }
        if (r > 0) {
            if (pfd[0].revents & POLLIN) receive_all(&ab, scratch);
            if (pfd[1].revents & POLLIN) receive_all(&ba, scratch);
        }
    }
    report(&ab);
    report(&ba);
    return 0;
}
