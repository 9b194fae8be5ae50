// Junk for the XDP drop-rate benchmark (drop-rate.sh).
//   blast send DEST PORT SECONDS   sends 100-byte datagrams of an unknown WireGuard type (9)
//                                  with sendmmsg as fast as it can; prints how many it sent
//   blast recv PORT SECONDS        prints "ready" once bound, then counts datagrams read with
//                                  recvmmsg until SECONDS have passed or 1 s goes by without
//                                  one after traffic; prints the count
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char buffers[BATCH][2048];
	struct mmsghdr messages[BATCH];
	struct iovec iov[BATCH];
	unsigned long long count = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: blast send DEST PORT SECONDS | blast recv PORT SECONDS\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET };

	memset(messages, 0, sizeof(messages));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buffers[i];
		iov[i].iov_len = strcmp(argv[1], "send") == 0 ? 100 : sizeof(buffers[i]);
		memset(buffers[i], 0x5a, sizeof(buffers[i]));
		buffers[i][0] = 9; /* no WireGuard message type: the program drops it */
		messages[i].msg_hdr.msg_iov = &iov[i];
		messages[i].msg_hdr.msg_iovlen = 1;
	}
	if (strcmp(argv[1], "send") == 0 && argc == 5) {
		inet_pton(AF_INET, argv[2], &address.sin_addr);
		address.sin_port = htons(atoi(argv[3]));
		double end = now() + atof(argv[4]);

		if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0)
			return perror("connect"), 1;
		while (now() < end) {
			int sent = sendmmsg(fd, messages, BATCH, 0);

			if (sent > 0)
				count += sent;
		}
	} else if (strcmp(argv[1], "recv") == 0) {
		struct timeval idle = { .tv_sec = 1 };

		address.sin_port = htons(atoi(argv[2]));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0)
			return perror("bind"), 1;
		printf("ready\n");
		fflush(stdout);
		double end = now() + atof(argv[3]);

		while (now() < end) {
			int got = recvmmsg(fd, messages, BATCH, 0, NULL);

			if (got > 0)
				count += got;
			else if (count > 0)
				break; /* a second of silence after traffic: the sender is done */
		}
	} else {
		return 2;
	}
	printf("%llu\n", count);
	return 0;
}
