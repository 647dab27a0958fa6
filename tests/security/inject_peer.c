/*
 * inject_peer.c - the hostile local user of tests/security/peer_inject.sh (not
 * part of ipclab). Watches /proc/net/{tcp,udp} for loopback sockets that user
 * `owner` opens after start, and feeds each a run's worth of frames stamped
 * exactly as ipclab's producers stamp them (the frame format is public):
 * producer 0, sequence numbers 0..count-1, a send time `age_ms` in the past,
 * then (tcp) an end marker. Exits after `secs` seconds.
 * usage: inject_peer tcp|udp OWNER_UID SIZE COUNT AGE_MS SECS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/frame.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Loopback ports of owner in /proc/net/<proto> (tcp: LISTEN only) into seen/fresh. */
static int scan(const char *proto, unsigned owner, unsigned char *known, int *fresh,
		int max)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/net/%s", proto);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned addr, port, st, uid;

		if (sscanf(line,
			   " %*d: %8X:%4X %*8X:%*4X %2X %*8X:%*8X %*2X:%*8X %*8X %u",
			   &addr, &port, &st, &uid) != 4)
			continue;
		if (addr != 0x0100007F || uid != owner ||
		    (strcmp(proto, "tcp") == 0 && st != 0x0A) || known[port])
			continue;
		known[port] = 1;
		if (fresh && n < max)
			fresh[n++] = (int)port;
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	static unsigned char known[65536];
	int fresh[64], tcp, size, hits = 0;
	unsigned owner;
	long count, age_ms, secs;
	unsigned char *buf;
	int64_t end;

	if (argc != 7)
		return 2;
	tcp = strcmp(argv[1], "tcp") == 0;
	owner = (unsigned)atoi(argv[2]);
	size = atoi(argv[3]);
	count = atol(argv[4]);
	age_ms = atol(argv[5]);
	secs = atol(argv[6]);
	buf = malloc((size_t)size + 4);
	if (!buf || size < IPCL_FRAME_HDR)
		return 2;
	scan(argv[1], owner, known, NULL, 0);
	end = now_ns() + secs * 1000000000LL;
	while (now_ns() < end) {
		int n = scan(argv[1], owner, known, fresh, 64);

		for (int i = 0; i < n; i++) {
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)fresh[i]),
						 .sin_addr.s_addr =
						     htonl(INADDR_LOOPBACK)};
			int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
			uint32_t pc = ipcl_frame_fill(buf + 4, (size_t)size);

			if (fd < 0 ||
			    connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			hits++;
			for (long s = 0; s <= count; s++) {
				int last = tcp && s == count;

				if (s == count && !tcp)
					break;
				ipcl_frame_stamp(buf + 4, (size_t)size, 0,
						 last ? IPCL_FRAME_END : 0,
						 last ? UINT64_MAX : (uint64_t)s,
						 now_ns() - age_ms * 1000000LL, pc);
				memcpy(buf, &(uint32_t){(uint32_t)size}, 4);
				if (tcp ? write(fd, buf, (size_t)size + 4) < 0
					: send(fd, buf + 4, (size_t)size, 0) < 0)
					break;
			}
			if (!tcp)
				close(fd); /* tcp: held open, as a peer would */
		}
		usleep(500);
	}
	printf("injected into %d socket(s)\n", hits);
	return 0;
}
