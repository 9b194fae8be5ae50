#define _GNU_SOURCE
#include "ztp_udp_offload.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* One control buffer per message: UDP_SEGMENT carries a uint16_t, UDP_GRO an int. */
union ztp_control {
    char bytes[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};

struct ztp_mmsg_scratch {
    int messages;
    int vectors;
    struct mmsghdr *headers;
    struct iovec *iovecs;
    union ztp_control *controls;
};

struct ztp_mmsg_scratch *ztp_mmsg_scratch_create(int messages, int vectors) {
    if (messages <= 0 || vectors < messages) return NULL;
    struct ztp_mmsg_scratch *scratch = calloc(1, sizeof(*scratch));
    if (!scratch) return NULL;
    scratch->messages = messages;
    scratch->vectors = vectors;
    scratch->headers = calloc((size_t)messages, sizeof(struct mmsghdr));
    scratch->iovecs = calloc((size_t)vectors, sizeof(struct iovec));
    scratch->controls = calloc((size_t)messages, sizeof(union ztp_control));
    if (!scratch->headers || !scratch->iovecs || !scratch->controls) {
        ztp_mmsg_scratch_destroy(scratch);
        return NULL;
    }
    return scratch;
}

void ztp_mmsg_scratch_destroy(struct ztp_mmsg_scratch *scratch) {
    if (!scratch) return;
    free(scratch->headers);
    free(scratch->iovecs);
    free(scratch->controls);
    free(scratch);
}

int ztp_udp_segment_probe(int fd) {
    int value = 0;
    socklen_t length = sizeof(value);
    return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &value, &length) == 0 ? 0 : errno;
}

int ztp_udp_set_gro(int fd, int on) {
    int value = on ? 1 : 0;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &value, sizeof(value)) == 0 ? 0 : errno;
}

struct ztp_send_result ztp_send_runs(int fd, struct ztp_mmsg_scratch *scratch, unsigned char *const *buffers,
                                     const size_t *lengths, const struct sockaddr_in6 *destinations,
                                     const struct ztp_send_run *runs, int run_count) {
    struct ztp_send_result result = {0, 0, 0};
    if (run_count > scratch->messages) run_count = scratch->messages;
    if (run_count <= 0) return result;
    struct mmsghdr *headers = scratch->headers;
    int vector = 0;
    for (int r = 0; r < run_count; r++) {
        const struct ztp_send_run *run = &runs[r];
        if (vector + run->count > scratch->vectors) {
            run_count = r;
            break;
        }
        struct msghdr *header = &headers[r].msg_hdr;
        memset(&headers[r], 0, sizeof(headers[r]));
        for (int i = 0; i < run->count; i++) {
            scratch->iovecs[vector + i].iov_base = buffers[run->first + i];
            scratch->iovecs[vector + i].iov_len = lengths[run->first + i];
        }
        header->msg_iov = &scratch->iovecs[vector];
        header->msg_iovlen = (size_t)run->count;
        vector += run->count;
        header->msg_name = (void *)&destinations[run->first];
        header->msg_namelen = sizeof(struct sockaddr_in6);
        if (run->segment != 0) {
            header->msg_control = scratch->controls[r].bytes;
            header->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            struct cmsghdr *control = CMSG_FIRSTHDR(header);
            control->cmsg_level = SOL_UDP;
            control->cmsg_type = UDP_SEGMENT;
            control->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t segment = run->segment;
            memcpy(CMSG_DATA(control), &segment, sizeof(segment));
        }
    }
    while (result.sent < run_count) {
        int n = sendmmsg(fd, headers + result.sent, (unsigned int)(run_count - result.sent), MSG_NOSIGNAL);
        result.calls += 1;
        if (n < 0) {
            if (errno == EINTR) continue;
            result.error = errno;
            break;
        }
        result.sent += n;
    }
    return result;
}

int ztp_recv_messages(int fd, struct ztp_mmsg_scratch *scratch, unsigned char *buffers, size_t stride,
                      size_t capacity, struct ztp_received *received, struct sockaddr_in6 *sources, int count) {
    if (count > scratch->messages) count = scratch->messages;
    if (count <= 0) return 0;
    struct mmsghdr *headers = scratch->headers;
    memset(headers, 0, sizeof(headers[0]) * (size_t)count);
    for (int i = 0; i < count; i++) {
        scratch->iovecs[i].iov_base = buffers + (size_t)i * stride;
        scratch->iovecs[i].iov_len = capacity;
        headers[i].msg_hdr.msg_iov = &scratch->iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
        headers[i].msg_hdr.msg_name = &sources[i];
        headers[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
        headers[i].msg_hdr.msg_control = scratch->controls[i].bytes;
        headers[i].msg_hdr.msg_controllen = sizeof(scratch->controls[i].bytes);
    }
    int arrived;
    do {
        arrived = recvmmsg(fd, headers, (unsigned int)count, MSG_DONTWAIT, NULL);
    } while (arrived < 0 && errno == EINTR);
    if (arrived < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < arrived; i++) {
        struct msghdr *header = &headers[i].msg_hdr;
        received[i].length = headers[i].msg_len;
        received[i].segment = 0;
        received[i].truncated = (header->msg_flags & MSG_TRUNC) != 0;
        if (header->msg_namelen == 0) sources[i].sin6_family = 0;
        for (struct cmsghdr *control = CMSG_FIRSTHDR(header); control; control = CMSG_NXTHDR(header, control)) {
            if (control->cmsg_level == SOL_UDP && control->cmsg_type == UDP_GRO
                && control->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int segment;
                memcpy(&segment, CMSG_DATA(control), sizeof(segment));
                if (segment > 0) received[i].segment = (unsigned int)segment;
            }
        }
    }
    return arrived;
}
