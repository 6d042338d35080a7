/* ring_kernel_blocks.c — a zero-copy ring (ring_kernel.c) over blocks laid
 * out as the kernel lays out TPACKET_V3 blocks, filled by a thread that plays
 * the kernel and the capture's producer (a block is filled only once the
 * consumer gave it back, then flagged ours, then handed over with the
 * packets' headers written in place before them), while a consumer thread
 * polls batches of random size and releases them in random steps (or, now
 * and then, a whole batch as a drain does: ring_poll_batch and
 * ring_release_batch), and the
 * main thread takes statistics snapshots: every packet arrives once, in
 * order, intact (its header in place: hdr + 1 is the packet), empty blocks
 * are passed and given back, no block is filled while the consumer holds it,
 * and kernel_packets == delivered + ring_drops + occupancy in every snapshot.
 * Then, alone: an empty block handed over after the last packets goes back
 * with their release, with no poll after it; and a waiting producer is woken
 * by the release that gives a block back, not by one inside a block.
 * Usage: ring_kernel_blocks [seconds]   (default 1.0) */
#include "helpers.h"
#include "ring_internal.h"

#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define BLOCK_SIZE 4096u
#define BLOCK_NR 6u
#define FIRST_PKT 48u  /* the block descriptor's room, as BLK_PLUS_PRIV */
#define MAC_OFFSET 82u /* tp_mac of a 14-byte MAC header with TPACKET_V3 and no reserve */
#define RESERVE 36u    /* the capture's PACKET_RESERVE */
#define DATA_MAX 300u
#define EMPTY_EVERY 7u /* every 7th block is handed over with no packet */
#define STUCK_NS 5000000000ull

struct run {
	struct rc_ring *ring;
	uint8_t *map;
	uint64_t deadline_ns;
	_Atomic int producer_done;
	uint64_t produced; /* producer's, read after join */
};

static uint32_t frame_len(uint64_t seq)
{
	return 20 + (uint32_t)((seq * 2654435761u) % (DATA_MAX - 20));
}

static uint8_t frame_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31 + i * 7);
}

/* The kernel's part: frames back to back, the descriptor, then "ours". */
static uint32_t fill_block(struct tpacket_block_desc *bd, uint64_t *seq, int empty)
{
	uint32_t off = FIRST_PKT, packets = 0;
	struct tpacket3_hdr *prev = NULL;
	while (!empty) {
		uint32_t len = frame_len(*seq);
		uint32_t total = TPACKET_ALIGN(MAC_OFFSET + RESERVE + len);
		if (off + total > BLOCK_SIZE)
			break;
		struct tpacket3_hdr *ppd = (struct tpacket3_hdr *)((uint8_t *)bd + off);
		memset(ppd, 0, sizeof(*ppd));
		ppd->tp_mac = (uint16_t)(MAC_OFFSET + RESERVE);
		ppd->tp_snaplen = ppd->tp_len = len;
		ppd->tp_sec = (uint32_t)(*seq / 1000);
		ppd->tp_nsec = (uint32_t)(*seq % 1000);
		for (uint32_t i = 0; i < len; i++)
			((uint8_t *)ppd + ppd->tp_mac)[i] = frame_byte(*seq, i);
		if (prev)
			prev->tp_next_offset = (uint32_t)((uint8_t *)ppd - (uint8_t *)prev);
		prev = ppd;
		off += total;
		packets++;
		(*seq)++;
	}
	if (prev)
		prev->tp_next_offset = 0;
	bd->hdr.bh1.num_pkts = packets;
	bd->hdr.bh1.offset_to_first_pkt = FIRST_PKT;
	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_USER, __ATOMIC_RELEASE);
	return packets;
}

/* The producer's part (capture.c's hand_over_block, without VLAN tags). */
static void hand_over(struct rc_ring *ring, struct tpacket_block_desc *bd)
{
	uint32_t packets = bd->hdr.bh1.num_pkts;
	uint64_t bytes = 0;
	struct tpacket3_hdr *ppd = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
	for (uint32_t i = 0; i < packets; i++) {
		struct rc_slot_hdr h = { .caplen = ppd->tp_snaplen, .wirelen = ppd->tp_len,
					 .ts_ns = (uint64_t)ppd->tp_sec * 1000 + ppd->tp_nsec, .slots = 1 };
		memcpy((uint8_t *)ppd + ppd->tp_mac - sizeof(h), &h, sizeof(h));
		bytes += h.wirelen;
		ppd = (struct tpacket3_hdr *)((uint8_t *)ppd + ppd->tp_next_offset);
	}
	rc_ring_publish_block(ring, packets, bytes, 0, 0, 0);
	rc_ring_notify(ring);
}

static void *producer(void *arg)
{
	struct run *r = arg;
	uint64_t seq = 0, block = 0, stuck_since = 0;
	while (mono_ns() < r->deadline_ns && !TOO_MANY_FAILURES) {
		struct tpacket_block_desc *bd =
			(struct tpacket_block_desc *)(r->map + (block % BLOCK_NR) * BLOCK_SIZE);
		/* the kernel fills a block only once it is its own again */
		if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) != TP_STATUS_KERNEL) {
			uint64_t tail = atomic_load(&r->ring->hdr->tail);
			if (!stuck_since)
				stuck_since = mono_ns();
			CHECK_OR(break, mono_ns() - stuck_since < STUCK_NS, "no block came back for 5 s");
			rc_ring_wait_block_returned(r->ring, tail, 1000000);
			continue;
		}
		stuck_since = 0;
		fill_block(bd, &seq, block % EMPTY_EVERY == EMPTY_EVERY - 1);
		/* the consumer gives a block back before it moves tail: the
		 * producer waits for tail, as capture.c's does */
		void *ready;
		uint64_t filled_at = mono_ns();
		while (!(ready = rc_ring_kernel_block_ready(r->ring)) && mono_ns() - filled_at < STUCK_NS)
			rc_ring_wait_block_returned(r->ring, atomic_load(&r->ring->hdr->tail), 1000000);
		CHECK_OR(break, ready == bd, "block %llu filled but not ready to hand over",
			 (unsigned long long)block);
		hand_over(r->ring, bd);
		block++;
	}
	r->produced = seq;
	atomic_store(&r->producer_done, 1);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	REQUIRE(rc_ring_attach_consumer(r->ring) == 0, "attach");
	uint64_t next_seq = 0, held = 0, rnd = 12345;
	for (;;) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		/* before the poll: an empty poll after the producer ended means
		 * every block it handed over was seen */
		int producer_done = atomic_load(&r->producer_done);
		uint64_t pos;
		uint32_t max = 1 + (uint32_t)(rnd >> 59) * 8;
		/* holding nothing, now and then a batch the drain's way: one
		 * walk, the records and where each ends kept for the release */
		int drain_way = held == 0 && (rnd >> 20) % 2;
		const struct rc_slot_hdr *batch[1 + 31 * 8];
		uint64_t ends[1 + 31 * 8];
		uint32_t n = drain_way ? ring_poll_batch(r->ring, max, batch, ends) :
					 rc_ring_poll(r->ring, max, &pos);
		for (uint32_t i = 0; i < n && !TOO_MANY_FAILURES; i++) {
			const struct rc_slot_hdr *h = drain_way ? batch[i] : rc_ring_next(r->ring, &pos);
			uint64_t seq = h->ts_ns;
			CHECK(seq == next_seq, "packet %llu, expected %llu", (unsigned long long)seq,
			      (unsigned long long)next_seq);
			CHECK(h->caplen == frame_len(seq) && h->wirelen == h->caplen, "packet %llu: %u bytes",
			      (unsigned long long)seq, h->caplen);
			const uint8_t *data = (const uint8_t *)(h + 1);
			for (uint32_t b = 0; b < h->caplen && b < DATA_MAX; b++)
				if (data[b] != frame_byte(seq, b)) {
					CHECK(0, "packet %llu torn at byte %u", (unsigned long long)seq, b);
					break;
				}
			next_seq = seq + 1;
		}
		if (drain_way) {
			REQUIRE(ring_release_batch(r->ring, batch, ends, n, 0, 0) == 0, "release a batch");
			if ((producer_done && n == 0) || TOO_MANY_FAILURES)
				break;
			if (n == 0)
				sched_yield();
			continue;
		}
		held += n;
		/* release in random steps, sometimes holding a block's packets
		 * across polls */
		uint32_t step = producer_done ? (uint32_t)held : (uint32_t)((rnd >> 40) % (held + 1));
		REQUIRE(rc_ring_release(r->ring, step) == 0, "release %u of %llu", step,
			(unsigned long long)held);
		held -= step;
		if ((producer_done && n == 0) || TOO_MANY_FAILURES)
			break;
		if (n == 0)
			sched_yield();
	}
	rc_ring_detach_consumer(r->ring);
	return NULL;
}

/* A zero-copy ring over anonymous memory laid out as the kernel's blocks. */
static struct rc_ring *kernel_blocks_ring(uint8_t **map_out)
{
	size_t size = (size_t)BLOCK_SIZE * BLOCK_NR;
	uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(map != MAP_FAILED, "map");
	int fd = eventfd(0, EFD_CLOEXEC); /* stands in for the socket the map closes */
	REQUIRE(fd >= 0, "eventfd");
	struct rc_kernel_map *km = kernel_map_new(fd, map, size);
	REQUIRE(km, "kernel map");
	struct rc_ring_config cfg = { .wait_strategy = RC_WAIT_SLEEP, .poll_interval_us = 50 };
	char errbuf[RC_ERRBUF_SIZE];
	struct rc_ring *ring;
	struct rc_kernel_layout layout = { .map = map, .version = TPACKET_V3, .unit_size = BLOCK_SIZE,
					   .unit_nr = BLOCK_NR, .units_per_block = 1, .block_size = BLOCK_SIZE };
	REQUIRE(rc_ring_create_kernel(&cfg, km, &layout, &ring, errbuf, sizeof errbuf) == 0,
		"create: %s", errbuf);
	kernel_map_release(km); /* the ring's reference keeps it */
	kernel_ring_start_at(ring, 3 * BLOCK_NR); /* positions start anywhere */
	*map_out = map;
	return ring;
}

/* The poll that takes the last packets passes the empty block after them:
 * releasing them is the last chance to give that block back. */
static void trailing_empty_block_goes_back(void)
{
	uint8_t *map;
	struct rc_ring *ring = kernel_blocks_ring(&map);
	REQUIRE(rc_ring_attach_consumer(ring) == 0, "attach");
	uint64_t seq = 0;
	for (int empty = 0; empty <= 1; empty++) {
		struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(map + (unsigned)empty * BLOCK_SIZE);
		fill_block(bd, &seq, empty);
		REQUIRE(rc_ring_kernel_block_ready(ring) == bd, "block %d ready", empty);
		hand_over(ring, bd);
	}
	uint64_t pos;
	uint32_t n = rc_ring_poll(ring, UINT32_MAX, &pos);
	CHECK(n == seq && n > 0, "polled %u of %llu", n, (unsigned long long)seq);
	REQUIRE(rc_ring_release(ring, n) == 0, "release");
	struct rc_stats s = ring_stats(ring);
	CHECK(s.head == 3 * BLOCK_NR + 2 && s.tail == s.head, "both blocks given back: head %llu tail %llu",
	      (unsigned long long)s.head, (unsigned long long)s.tail);
	rc_ring_detach_consumer(ring);
	rc_ring_destroy(ring);
}

/* The producer waits for a block back (rc_ring_wait_block_returned): a
 * release that frees no block must not wake it (a futex wake and a context
 * switch per batch, several per block, was most of zero-copy's CPU). */
static void only_a_block_given_back_wakes_the_producer(void)
{
	uint8_t *map;
	struct rc_ring *ring = kernel_blocks_ring(&map);
	REQUIRE(rc_ring_attach_consumer(ring) == 0, "attach");
	uint64_t seq = 0;
	struct tpacket_block_desc *bd = (struct tpacket_block_desc *)map;
	uint32_t packets = fill_block(bd, &seq, 0);
	REQUIRE(packets >= 3 && rc_ring_kernel_block_ready(ring) == bd, "a block of %u ready", packets);
	hand_over(ring, bd);
	atomic_store(&ring->producer_waiting, 1); /* as rc_ring_wait_block_returned sets it */
	uint32_t woken = atomic_load(&ring->room_seq);
	uint64_t pos;
	REQUIRE(rc_ring_poll(ring, UINT32_MAX, &pos) == packets, "poll the block");
	REQUIRE(rc_ring_release(ring, 1) == 0 && rc_ring_release(ring, packets - 2) == 0, "release inside");
	CHECK(atomic_load(&ring->room_seq) == woken, "a release inside the block woke the producer");
	REQUIRE(rc_ring_release(ring, 1) == 0, "release the last");
	CHECK(atomic_load(&ring->room_seq) != woken, "the block given back did not wake the producer");
	struct rc_stats s = ring_stats(ring);
	CHECK(s.tail == s.head && s.delivered == packets, "block back: head %llu tail %llu",
	      (unsigned long long)s.head, (unsigned long long)s.tail);
	atomic_store(&ring->producer_waiting, 0);
	rc_ring_detach_consumer(ring);
	rc_ring_destroy(ring);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	uint8_t *map;
	struct run r = { .ring = kernel_blocks_ring(&map), .deadline_ns = mono_ns() + (uint64_t)(seconds * 1e9) };
	r.map = map;

	pthread_t p, c;
	pthread_create(&c, NULL, consumer, &r);
	pthread_create(&p, NULL, producer, &r);
	unsigned snapshots = 0;
	while (!atomic_load(&r.producer_done)) {
		struct rc_stats s = ring_stats(r.ring);
		CHECK(s.kernel_packets == s.delivered + s.ring_drops + s.occupancy,
		      "identity: %llu != %llu + %llu + %llu", (unsigned long long)s.kernel_packets,
		      (unsigned long long)s.delivered, (unsigned long long)s.ring_drops,
		      (unsigned long long)s.occupancy);
		CHECK(s.slots_used <= BLOCK_NR && s.mode == RC_MODE_ZERO_COPY && s.drop_policy == RC_DROP_EARLY,
		      "blocks held %llu, mode %u", (unsigned long long)s.slots_used, s.mode);
		snapshots++;
		sched_yield();
	}
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	struct rc_stats s = ring_stats(r.ring);
	CHECK(s.kernel_packets == r.produced && s.delivered == r.produced && s.occupancy == 0,
	      "produced %llu, taken %llu, delivered %llu", (unsigned long long)r.produced,
	      (unsigned long long)s.kernel_packets, (unsigned long long)s.delivered);
	CHECK(s.head == s.tail && s.head > 3 * BLOCK_NR + 2 * BLOCK_NR,
	      "every block given back, lap after lap: head %llu tail %llu", (unsigned long long)s.head,
	      (unsigned long long)s.tail);
	CHECK(rc_ring_produce(r.ring, "x", 1, 1, 0, 0, 0) == -EOPNOTSUPP && !rc_ring_slot(r.ring, 0),
	      "a zero-copy ring takes no copied packet and has no slot area");
	CHECK(rc_ring_set_drop_policy(r.ring, RC_DROP_LATE) == -EOPNOTSUPP, "drop-late refused");
	printf("packets %llu, blocks %llu, snapshots %u\n", (unsigned long long)r.produced,
	       (unsigned long long)(s.head - 3 * BLOCK_NR), snapshots);
	rc_ring_destroy(r.ring); /* unmaps the blocks and closes the descriptor */
	trailing_empty_block_goes_back();
	only_a_block_given_back_wakes_the_producer();
	return test_result("ring_kernel_blocks");
}
