#ifndef CTUNNELSHIM_H
#define CTUNNELSHIM_H

#include <stddef.h>
#include <netinet/in.h>

/* Batched UDP I/O for the tunnel's data path. Swift's Glibc module does not expose
 * recvmmsg/sendmmsg (they need _GNU_SOURCE), so these two wrappers do. */

/* Most datagrams moved by one call. */
#define ZTP_MAX_BATCH 64

/* Receives up to `count` datagrams without blocking: datagram i goes to
 * buffers + i * stride (at most `capacity` bytes), its length to lengths[i] and its
 * source to sources[i]. Returns how many arrived, 0 if none was waiting, -errno on error. */
int ztp_recv_batch(int fd, unsigned char *buffers, size_t stride, size_t capacity,
                   size_t *lengths, struct sockaddr_in6 *sources, int count);

/* Sends `count` datagrams: buffers[i], lengths[i] bytes, to destinations[i]. Blocks
 * while the socket buffer is full. Returns how many were sent (the rest failed with the
 * first error), or -errno if none was. */
int ztp_send_batch(int fd, unsigned char *const *buffers, const size_t *lengths,
                   const struct sockaddr_in6 *destinations, int count);

#endif
