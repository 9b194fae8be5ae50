#ifndef ZTP_UDP_OFFLOAD_H
#define ZTP_UDP_OFFLOAD_H

#include <stddef.h>
#include <netinet/in.h>

/* UDP segmentation (UDP_SEGMENT, "GSO") on send and coalescing (UDP_GRO) on receive,
 * over sendmmsg/recvmmsg. The message headers, iovecs and control buffers live in a
 * scratch area made once per batch, so no call allocates. */

/* Most entries one sendmmsg/recvmmsg takes (the kernel's UIO_MAXIOV). */
#define ZTP_MAX_MESSAGES 1024

/* Room for the headers of `messages` sendmmsg/recvmmsg entries carrying `vectors` iovecs
 * in all. Made once per batch (NULL when out of memory); not shared between threads. */
struct ztp_mmsg_scratch;
struct ztp_mmsg_scratch *ztp_mmsg_scratch_create(int messages, int vectors);
void ztp_mmsg_scratch_destroy(struct ztp_mmsg_scratch *scratch);

/* 0 when the kernel knows UDP_SEGMENT (Linux 4.18), else the errno of the probe. */
int ztp_udp_segment_probe(int fd);

/* Turns UDP_GRO on (1) or off (0): the kernel then hands over runs of datagrams of one
 * flow as one buffer. 0, or the errno (ENOPROTOOPT before Linux 5.0). */
int ztp_udp_set_gro(int fd, int on);

/* One message of a send: datagrams first..<first+count, all to destinations[first], sent
 * as one UDP_SEGMENT message of `segment`-byte datagrams (the last may be shorter), or,
 * with segment 0, one plain datagram (count 1). */
struct ztp_send_run {
    int first;
    int count;
    unsigned short segment;
};

/* What ztp_send_runs did: `sent` runs went out (all of them, or those before the first
 * failure, whose errno is `error`; 0 when none failed) in `calls` sendmmsg calls. */
struct ztp_send_result {
    int sent;
    int error;
    int calls;
};

/* Sends runs[0..<run_count] with sendmmsg, blocking while the socket buffer is full and
 * retrying on EINTR; stops at the first run the kernel refuses. The scratch must have room
 * for run_count messages and for the datagrams the runs cover. */
struct ztp_send_result ztp_send_runs(int fd, struct ztp_mmsg_scratch *scratch, unsigned char *const *buffers,
                                     const size_t *lengths, const struct sockaddr_in6 *destinations,
                                     const struct ztp_send_run *runs, int run_count);

/* One received message: its length, the UDP_GRO segment size when the kernel coalesced
 * several datagrams into it (0: it is one datagram), and whether it did not fit. */
struct ztp_received {
    size_t length;
    unsigned int segment;
    int truncated;
};

/* Receives up to `count` messages without blocking: message i goes to
 * buffers + i * stride (at most `capacity` bytes), its length, segment size and truncation
 * to received[i], its source to sources[i] (family 0 when there was none). Returns how many
 * arrived, 0 if none was waiting, -errno on error. The scratch must have room for `count`
 * messages and vectors. */
int ztp_recv_messages(int fd, struct ztp_mmsg_scratch *scratch, unsigned char *buffers, size_t stride,
                      size_t capacity, struct ztp_received *received, struct sockaddr_in6 *sources, int count);

#endif
