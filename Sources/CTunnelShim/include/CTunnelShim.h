#ifndef CTUNNELSHIM_H
#define CTUNNELSHIM_H

#include <stddef.h>
#include <netinet/in.h>

#include "ztp_udp_offload.h"

/* Batched UDP I/O for the tunnel's data path. Swift's Glibc module does not expose
 * recvmmsg/sendmmsg (they need _GNU_SOURCE), so this wrapper and those of
 * ztp_udp_offload.h (sends, and receives with UDP_GRO) do. */

/* Most datagrams ztp_recv_batch moves in one call (it uses stack arrays this long). */
#define ZTP_MAX_BATCH 64

/* Receives up to `count` datagrams without blocking: datagram i goes to
 * buffers + i * stride (at most `capacity` bytes), its length to lengths[i] and its
 * source to sources[i]. Returns how many arrived, 0 if none was waiting, -errno on error. */
int ztp_recv_batch(int fd, unsigned char *buffers, size_t stride, size_t capacity,
                   size_t *lengths, struct sockaddr_in6 *sources, int count);

#endif
