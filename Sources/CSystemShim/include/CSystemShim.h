#ifndef CSYSTEMSHIM_H
#define CSYSTEMSHIM_H

/* accept4 and eventfd for SystemSupport: Swift's Glibc module does not expose them (accept4
 * needs _GNU_SOURCE, eventfd lives in <sys/eventfd.h>). Both return -1 with errno set on failure. */

/* accept4(fd, NULL, NULL, SOCK_CLOEXEC): the client's descriptor is never inherited by a
 * program we start, not even one started between accept and a later fcntl. */
int ztp_accept_cloexec(int fd);

/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int ztp_eventfd(void);

#endif
