/* sendmmsg of 64 × 1,452-byte datagrams to one loopback endpoint, with and without UDP_SEGMENT,
 * through the tunnel's own shim (Sources/CTunnelShim/udp_offload.c). A receiver thread drains
 * with recvmmsg (UDP_GRO on or off) and counts what arrived. Prints, per mode, the sender's CPU
 * time per datagram (CLOCK_THREAD_CPUTIME_ID, less disturbed by other work on the machine than
 * wall time), the wall-clock datagram rate, the share delivered, and the ratios to the plain path.
 * Usage: gso-send [batches per round] [rounds]. Loopback only. */
#define _GNU_SOURCE
#include "ztp_udp_offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DATAGRAMS 64
#define SIZE 1452
/* As UDPSegmentation.swift: at most 64 segments and 65,507 bytes per UDP_SEGMENT message. */
#define MAX_SEGMENTS 64
#define MAX_BYTES (65535 - 20 - 8)
#define RECEIVE_MESSAGES 64
#define RECEIVE_SIZE 65536

static atomic_long delivered;
static atomic_int stopping;

static double now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int dual_stack_socket(void) {
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int off = 0, size = 7 << 20;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
    if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof(any)) != 0) {
        perror("socket/bind");
        exit(1);
    }
    return fd;
}

static void *drain(void *argument) {
    int fd = *(int *)argument;
    struct ztp_mmsg_scratch *scratch = ztp_mmsg_scratch_create(RECEIVE_MESSAGES, RECEIVE_MESSAGES);
    unsigned char *buffers = malloc((size_t)RECEIVE_MESSAGES * RECEIVE_SIZE);
    struct ztp_received received[RECEIVE_MESSAGES];
    struct sockaddr_in6 sources[RECEIVE_MESSAGES];
    while (!atomic_load(&stopping)) {
        int n = ztp_recv_messages(fd, scratch, buffers, RECEIVE_SIZE, RECEIVE_SIZE, received, sources,
                                  RECEIVE_MESSAGES);
        if (n <= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, 50);
            continue;
        }
        long count = 0;
        for (int i = 0; i < n; i++) {
            size_t segment = received[i].segment ? received[i].segment : received[i].length;
            count += segment ? (long)((received[i].length + segment - 1) / segment) : 1;
        }
        atomic_fetch_add(&delivered, count);
    }
    ztp_mmsg_scratch_destroy(scratch);
    free(buffers);
    return NULL;
}

struct result {
    double cpu_per_datagram_ns, datagrams_per_second, delivered_share, calls_per_batch;
};

/* Sends `batches` batches of 64 datagrams, grouped into UDP_SEGMENT runs when `segmenting`. */
static struct result run(int fd, const struct sockaddr_in6 *target, int segmenting, long batches) {
    static unsigned char payload[DATAGRAMS][SIZE];
    unsigned char *buffers[DATAGRAMS];
    size_t lengths[DATAGRAMS];
    struct sockaddr_in6 destinations[DATAGRAMS];
    struct ztp_send_run runs[DATAGRAMS];
    for (int i = 0; i < DATAGRAMS; i++) {
        memset(payload[i], i, SIZE);
        buffers[i] = payload[i];
        lengths[i] = SIZE;
        destinations[i] = *target;
    }
    int run_count = 0;
    for (int first = 0; first < DATAGRAMS;) {
        int count = 1;
        if (segmenting)
            while (first + count < DATAGRAMS && count < MAX_SEGMENTS && (count + 1) * SIZE <= MAX_BYTES) count++;
        runs[run_count++] = (struct ztp_send_run){first, count, count > 1 ? SIZE : 0};
        first += count;
    }
    struct ztp_mmsg_scratch *scratch = ztp_mmsg_scratch_create(DATAGRAMS, DATAGRAMS);
    long calls = 0, before = atomic_load(&delivered);
    double wall = now(CLOCK_MONOTONIC), cpu = now(CLOCK_THREAD_CPUTIME_ID);
    for (long b = 0; b < batches; b++) {
        struct ztp_send_result sent = ztp_send_runs(fd, scratch, buffers, lengths, destinations, runs, run_count);
        calls += sent.calls;
        if (sent.sent != run_count) {
            fprintf(stderr, "send failed: %s\n", strerror(sent.error));
            exit(1);
        }
    }
    cpu = now(CLOCK_THREAD_CPUTIME_ID) - cpu;
    wall = now(CLOCK_MONOTONIC) - wall;
    long expected = batches * DATAGRAMS;
    /* Let the receiver catch up (it counts; nothing here is timed any more). */
    for (int i = 0; i < 40 && atomic_load(&delivered) - before < expected; i++) usleep(25000);
    ztp_mmsg_scratch_destroy(scratch);
    return (struct result){cpu * 1e9 / (double)expected, (double)expected / wall,
                           (double)(atomic_load(&delivered) - before) / (double)expected,
                           (double)calls / (double)batches};
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long batches = argc > 1 ? atol(argv[1]) : 5000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds > 64) rounds = 64;
    int sender = dual_stack_socket();
    if (ztp_udp_segment_probe(sender) != 0) {
        fprintf(stderr, "this kernel has no UDP_SEGMENT\n");
        return 1;
    }
    const char *names[] = {"plain sendmmsg, receiver without GRO", "UDP_SEGMENT, receiver without GRO",
                           "UDP_SEGMENT, receiver with UDP_GRO"};
    double cpu[3][64], rate[3][64], share[3], calls[3];
    for (int mode = 0; mode < 3; mode++) {
        int receiver = dual_stack_socket();
        if (mode == 2 && ztp_udp_set_gro(receiver, 1) != 0) {
            fprintf(stderr, "this kernel refuses UDP_GRO\n");
            return 1;
        }
        struct sockaddr_in6 bound;
        socklen_t length = sizeof(bound);
        getsockname(receiver, (struct sockaddr *)&bound, &length);
        struct sockaddr_in6 target = {.sin6_family = AF_INET6, .sin6_port = bound.sin6_port};
        inet_pton(AF_INET6, "::ffff:127.0.0.1", &target.sin6_addr);
        atomic_store(&stopping, 0);
        pthread_t thread;
        pthread_create(&thread, NULL, drain, &receiver);
        share[mode] = 1;
        for (int r = 0; r < rounds; r++) {
            struct result result = run(sender, &target, mode > 0, batches);
            cpu[mode][r] = result.cpu_per_datagram_ns;
            rate[mode][r] = result.datagrams_per_second;
            if (result.delivered_share < share[mode]) share[mode] = result.delivered_share;
            calls[mode] = result.calls_per_batch;
        }
        atomic_store(&stopping, 1);
        pthread_join(thread, NULL);
        close(receiver);
        qsort(cpu[mode], (size_t)rounds, sizeof(double), compare);
        qsort(rate[mode], (size_t)rounds, sizeof(double), compare);
    }
    printf("%d x %d-byte datagrams per sendmmsg, %ld batches per round, %d rounds (medians)\n", DATAGRAMS, SIZE,
           batches, rounds);
    for (int mode = 0; mode < 3; mode++) {
        double c = cpu[mode][rounds / 2], w = rate[mode][rounds / 2];
        printf("%-40s sender CPU %7.1f ns/datagram  %6.3f Mdatagrams/s  %.1f calls/batch  delivered >= %5.1f%%",
               names[mode], c, w / 1e6, calls[mode], share[mode] * 100);
        if (mode > 0)
            printf("  CPU ratio plain/this %.2f  rate ratio this/plain %.2f", cpu[0][rounds / 2] / c,
                   w / rate[0][rounds / 2]);
        printf("\n");
    }
    return 0;
}
