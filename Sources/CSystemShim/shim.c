#define _GNU_SOURCE
#include "CSystemShim.h"

#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

int ztp_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

int ztp_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}
