#define _GNU_SOURCE
#include "CTunnelShim.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

int ztp_recv_batch(int fd, unsigned char *buffers, size_t stride, size_t capacity,
                   size_t *lengths, struct sockaddr_in6 *sources, int count) {
    struct mmsghdr messages[ZTP_MAX_BATCH];
    struct iovec vectors[ZTP_MAX_BATCH];
    if (count > ZTP_MAX_BATCH) count = ZTP_MAX_BATCH;
    if (count <= 0) return 0;
    memset(messages, 0, sizeof(messages[0]) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = buffers + (size_t)i * stride;
        vectors[i].iov_len = capacity;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &sources[i];
        messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    }
    int received;
    do {
        received = recvmmsg(fd, messages, (unsigned int)count, MSG_DONTWAIT, NULL);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        if (messages[i].msg_hdr.msg_namelen == 0) sources[i].sin6_family = 0;
    }
    return received;
}
