/* sender.c — the benchmark's own flood generator: one small UDP frame
 * (198.18.0.1 -> 198.18.0.2, port 9) sent as fast as possible, or at a fixed
 * rate, on an AF_PACKET socket.  Built by bench/capture_bench.py when trafgen
 * is missing or slower.
 *
 *   sender IFNAME SECONDS [RATE_PPS]
 *
 * RATE_PPS 0 (default) floods.  Frames go out in sendmmsg() batches and bypass
 * the qdisc (PACKET_QDISC_BYPASS), as trafgen's do.  Prints
 * "sent PACKETS SECONDS" on stdout when done.  (A PACKET_TX_RING variant was
 * measured too: no faster on veth, where the kernel's per-frame work dominates.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 60
/* Packets handed to the kernel per system call: large enough that the call
 * costs nothing per packet, small enough for a fine-grained rate limit. */
#define BATCH 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t ip_checksum(const uint8_t *hdr, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)hdr[i] << 8 | hdr[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The destination MAC is not the receiver's, so its IP stack discards the
 * frame at once (PACKET_OTHERHOST) and never answers: the capture point
 * sees only the flood. */
static void build_frame(uint8_t *f)
{
	static const uint8_t head[] = {
		0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
		0x45, 0x00, 0, 46, 0, 0, 0x40, 0x00, 64, 17, 0, 0,
		198, 18, 0, 1, 198, 18, 0, 2,
		0, 9, 0, 9, 0, 26, 0, 0,
	};
	memset(f, 0, FRAME_LEN);
	memcpy(f, head, sizeof(head));
	uint16_t csum = ip_checksum(f + 14, 20);
	f[24] = (uint8_t)(csum >> 8);
	f[25] = (uint8_t)csum;
}

/* Sleep until `sent` packets are due at rate_pps since start. */
static void pace(double start, uint64_t sent, double rate_pps)
{
	if (rate_pps <= 0)
		return;
	double due = start + (double)sent / rate_pps;
	double wait = due - now_s();
	if (wait > 0) {
		struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static int send_batches(int fd, const uint8_t *frame, double seconds, double rate_pps,
		     uint64_t *sent)
{
	struct iovec iov = { (void *)frame, FRAME_LEN };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* paced: a batch every ~0.5 ms, so the rate is even at the scale of
	 * a capturer's poll */
	uint32_t batch = BATCH;
	if (rate_pps > 0)
		batch = rate_pps < 2000 ? 1 : rate_pps > 2000.0 * BATCH ? BATCH : (uint32_t)(rate_pps / 2000);
	double start = now_s(), end = start + seconds;
	while (!stopping && now_s() < end) {
		int n = sendmmsg(fd, msgs, batch, 0);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
				continue;
			perror("sendmmsg");
			return -1;
		}
		*sent += (uint64_t)n;
		pace(start, *sent, rate_pps);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s IFNAME SECONDS [RATE_PPS]\n", argv[0]);
		return 2;
	}
	double seconds = atof(argv[2]);
	double rate_pps = argc > 3 ? atof(argv[3]) : 0;
	unsigned ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "%s: no such interface\n", argv[1]);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		perror("PACKET_QDISC_BYPASS (continuing through the qdisc)");
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, /* send only: no receive hook */
				   .sll_ifindex = (int)ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("bind");
		return 1;
	}
	uint8_t frame[FRAME_LEN];
	build_frame(frame);
	uint64_t sent = 0;
	double start = now_s();
	int rc = send_batches(fd, frame, seconds, rate_pps, &sent);
	printf("sent %llu %.3f\n", (unsigned long long)sent, now_s() - start);
	close(fd);
	return rc ? 1 : 0;
}
