// AF_XDP receiver for drop-rate.sh (libxdp's xsk API, copy mode): attaches xsk_redirect.bpf.o
// natively to IFACE, binds an AF_XDP socket to queue 0, and counts the frames it reads until
// SECONDS have passed or 1 s goes by without one after traffic; prints the count.
//   xsk-rx IFACE OBJECT SECONDS
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xdp/xsk.h>

#define FRAMES 4096
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: xsk-rx IFACE OBJECT SECONDS\n");
		return 2;
	}
	int ifindex = if_nametoindex(argv[1]);
	struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);

	if (!ifindex || !obj || bpf_object__load(obj))
		return fprintf(stderr, "xsk-rx: cannot load %s for %s\n", argv[2], argv[1]), 1;
	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "xsk_redirect"));
	int map_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "xsks"));

	void *area = mmap(NULL, (size_t)FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons completion, rx;
	struct xsk_socket *xsk;
	struct xsk_socket_config config = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	int err;

	if (area == MAP_FAILED)
		return perror("mmap"), 1;
	if ((err = xsk_umem__create(&umem, area, (__u64)FRAMES * FRAME_SIZE, &fill, &completion, NULL)))
		return fprintf(stderr, "xsk_umem__create: %s\n", strerror(-err)), 1;
	if ((err = xsk_socket__create(&xsk, argv[1], 0, umem, &rx, NULL, &config)))
		return fprintf(stderr, "xsk_socket__create: %s\n", strerror(-err)), 1;
	if ((err = xsk_socket__update_xskmap(xsk, map_fd)))
		return fprintf(stderr, "xsk_socket__update_xskmap: %s\n", strerror(-err)), 1;
	if ((err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, NULL)))
		return fprintf(stderr, "bpf_xdp_attach: %s\n", strerror(-err)), 1;

	__u32 index;
	__u32 reserved = xsk_ring_prod__reserve(&fill, XSK_RING_PROD__DEFAULT_NUM_DESCS, &index);

	for (__u32 i = 0; i < reserved; i++)
		*xsk_ring_prod__fill_addr(&fill, index + i) = (__u64)i * FRAME_SIZE;
	xsk_ring_prod__submit(&fill, reserved);
	printf("ready\n");
	fflush(stdout);

	unsigned long long count = 0;
	double end = now() + atof(argv[3]);
	struct pollfd pfd = { .fd = xsk_socket__fd(xsk), .events = POLLIN };

	while (now() < end) {
		if (poll(&pfd, 1, 1000) == 0) {
			if (count > 0)
				break; /* a second of silence after traffic: the sender is done */
			continue;
		}
		__u32 rx_index, fill_index;
		__u32 got = xsk_ring_cons__peek(&rx, BATCH, &rx_index);

		if (got == 0)
			continue;
		while (xsk_ring_prod__reserve(&fill, got, &fill_index) != got)
			;
		for (__u32 i = 0; i < got; i++) {
			const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&rx, rx_index + i);

			*xsk_ring_prod__fill_addr(&fill, fill_index + i) = xsk_umem__extract_addr(desc->addr);
		}
		xsk_ring_prod__submit(&fill, got);
		xsk_ring_cons__release(&rx, got);
		count += got;
	}
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	printf("%llu\n", count);
	return 0;
}
