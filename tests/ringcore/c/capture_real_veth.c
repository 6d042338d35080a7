/* capture_real_veth.c — the real capture path (capture.c's producer thread
 * on a TPACKET_V3 socket, the drop policy, a drain with writer and talkers)
 * on a real interface while the test floods it: every frame the test sent is
 * accounted for exactly, by stage, and the file holds what was delivered.
 * zero-copy: the ring's slots are the kernel's blocks (ring_kernel.c), read
 * in place by the drain and given back to the kernel; direct: the same, the
 * drain's sinks run in the capture's thread (rc_drain_start_direct);
 * immediate and immediate-zero-copy: a TPACKET_V2 ring of frames (immediate
 * mode), copied or each frame a slot.
 * Run inside the interface's network namespace; the test sends the frames.
 * Usage: capture_real_veth IFNAME MODE FRAMES OUT.pcap, MODE one of early,
 * late, zero-copy, direct, immediate, immediate-zero-copy
 * Prints "ready" once capturing, then reads one line from stdin ("sent")
 * and checks the totals. */
#include "helpers.h"

#define CLASSIC_RING_PAGES 33u /* 64 slots: small enough that a flood fills it */
#define SLOT_SIZE 2048u
#define KERNEL_BLOCK_SIZE (1u << 16)
#define KERNEL_BLOCK_NR 4u /* a small kernel ring: drop-early runs out of it too */
#define BLOCK_TIMEOUT_MS 20u
#define SETTLE_NS (200u * 1000000ull) /* > block timeout: the last block is handed over */

int main(int argc, char **argv)
{
	char errbuf[256] = "";
	REQUIRE(argc == 5, "usage: %s IFNAME MODE FRAMES OUT.pcap", argv[0]);
	int late = strcmp(argv[2], "late") == 0;
	int direct = strcmp(argv[2], "direct") == 0;
	int immediate = strncmp(argv[2], "immediate", strlen("immediate")) == 0;
	int zero_copy = direct || strcmp(argv[2], "zero-copy") == 0 ||
			strcmp(argv[2], "immediate-zero-copy") == 0;
	uint64_t frames_sent = strtoull(argv[3], NULL, 10);

	struct rc_capture_config cfg = {
		.ring = { .slot_size = SLOT_SIZE, .ring_pages = CLASSIC_RING_PAGES,
			  .drop_policy = late ? RC_DROP_LATE : RC_DROP_EARLY,
			  .wait_strategy = RC_WAIT_EVENT, .poll_interval_us = 1000 },
		.snaplen = SLOT_SIZE - SLOT_HDR_BYTES, .promisc = 0,
		.kernel_block_size = KERNEL_BLOCK_SIZE, .kernel_block_nr = KERNEL_BLOCK_NR,
		.block_timeout_ms = BLOCK_TIMEOUT_MS, .zero_copy = (uint32_t)zero_copy,
		.immediate = (uint32_t)immediate,
	};
	struct rc_capture *cap;
	REQUIRE(rc_capture_open(argv[1], &cfg, NULL, 0, &cap, errbuf, sizeof errbuf) == 0, "open: %s", errbuf);
	struct rc_writer *writer;
	REQUIRE(rc_writer_open(argv[4], RC_FORMAT_PCAP_NS, &writer, errbuf, sizeof errbuf) == 0, "writer: %s", errbuf);
	int32_t ifid = rc_writer_add_interface(writer, argv[1], rc_capture_linktype(cap), cfg.snaplen);
	REQUIRE(ifid >= 0, "add interface: %d", ifid);
	struct rc_talkers *talkers;
	REQUIRE(rc_talkers_create(rc_capture_linktype(cap), &talkers) == 0, "talkers");
	struct rc_drain *drain;
	if (direct)
		REQUIRE(rc_drain_start_direct(cap, writer, ifid, talkers, NULL, 0, NULL, 256, &drain, errbuf,
					      sizeof errbuf) == 0, "direct drain: %s", errbuf);
	else
		REQUIRE(rc_drain_start(rc_capture_ring(cap), writer, ifid, talkers, NULL, 0, NULL, 256, &drain,
				       errbuf, sizeof errbuf) == 0, "drain: %s", errbuf);
	REQUIRE(rc_capture_start(cap, errbuf, sizeof errbuf) == 0, "start: %s", errbuf);
	printf("ready\n");
	fflush(stdout);

	char line[16];
	REQUIRE(fgets(line, sizeof line, stdin) != NULL, "no \"sent\" line on stdin");
	uint64_t settle_until = mono_ns() + SETTLE_NS;
	while (mono_ns() < settle_until)
		usleep(10000);
	rc_capture_stop(cap); /* joins the producer, reads the kernel's final counters */
	uint32_t mode_while_running = ring_stats(rc_capture_ring(cap)).mode;
	rc_drain_stop(drain, 1);
	struct rc_stats s = ring_stats(rc_capture_ring(cap));
	struct rc_writer_totals in_file;
	REQUIRE(rc_writer_close(writer, &in_file, errbuf, sizeof errbuf) == 0, "close: %s", errbuf);
	uint64_t written = in_file.packets;

	CHECK(s.kernel_packets == s.delivered + s.ring_drops + s.occupancy,
	      "identity: kernel %llu != delivered %llu + ring drops %llu + occupancy %llu",
	      (unsigned long long)s.kernel_packets, (unsigned long long)s.delivered,
	      (unsigned long long)s.ring_drops, (unsigned long long)s.occupancy);
	CHECK(s.kernel_packets + s.kernel_drops == frames_sent,
	      "kernel took %llu and dropped %llu of the %llu frames sent",
	      (unsigned long long)s.kernel_packets, (unsigned long long)s.kernel_drops,
	      (unsigned long long)frames_sent);
	CHECK(s.occupancy == 0, "%llu slots left after draining the rest", (unsigned long long)s.occupancy);
	CHECK(written == s.delivered, "wrote %llu, delivered %llu", (unsigned long long)written,
	      (unsigned long long)s.delivered);
	if (!late)
		CHECK(s.ring_drops == 0, "drop-early dropped %llu at the ring", (unsigned long long)s.ring_drops);
	if (zero_copy) {
		CHECK(mode_while_running == (direct ? RC_MODE_DIRECT : RC_MODE_ZERO_COPY), "mode %u",
		      mode_while_running);
		CHECK(s.slots_used == 0 && s.head == s.tail && s.head > s.slot_count,
		      "every block (frame) went back to the kernel, lap after lap: head %llu tail %llu",
		      (unsigned long long)s.head, (unsigned long long)s.tail);
	}

	struct rc_talker top, rest;
	uint64_t talked = 0;
	if (rc_talkers_top(talkers, (uint64_t)time(NULL) * 1000000000ull, &top, 1, &rest) == 1)
		talked = top.packets;
	CHECK(talked + rest.packets == s.delivered, "talkers counted %llu + rest %llu of %llu delivered",
	      (unsigned long long)talked, (unsigned long long)rest.packets, (unsigned long long)s.delivered);
	printf("kernel %llu kernel_drops %llu ring_drops %llu delivered %llu\n",
	       (unsigned long long)s.kernel_packets, (unsigned long long)s.kernel_drops,
	       (unsigned long long)s.ring_drops, (unsigned long long)s.delivered);

	rc_talkers_destroy(talkers);
	rc_capture_close(cap);
	return test_result("capture_real_veth");
}
