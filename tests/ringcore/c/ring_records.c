/* ring_records.c — a packet larger than a slot is one record over
 * consecutive slots, kept whole: a record that would cross the ring's end
 * goes to slot 0 after a padding record, a record of exactly the whole ring
 * fits an empty ring, a packet larger than the ring is cut to it and
 * flagged; polls and releases count packets, padding is skipped and freed,
 * and a viewer opening any slot of a record gets the whole record. */
#include "helpers.h"

#define SLOT_SIZE 256u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define STREAM 11u

/* Bytes of a packet that spans exactly `slots` slots. */
static uint32_t bytes_for(uint32_t slots)
{
	return slots * SLOT_SIZE - SLOT_HDR_BYTES;
}

static void produce(struct rc_ring *ring, uint64_t seq, uint32_t len, uint8_t *buf)
{
	fill_packet(STREAM, seq, buf, len);
	REQUIRE(rc_ring_produce(ring, buf, len, len + 4, seq, 3, 0) == 0,
		"packet %llu of %u bytes refused", (unsigned long long)seq, len);
}

/* Poll exactly the packets given (sequence, length) and check each record
 * whole, then release them. */
static void take(struct rc_ring *ring, const uint64_t *seqs, const uint32_t *lens, uint32_t n,
		 uint8_t *want)
{
	uint64_t pos;
	uint32_t got = rc_ring_poll(ring, 1000, &pos);
	CHECK(got == n, "poll gave %u packets, expected %u", got, n);
	uint32_t count = ring_stats(ring).slot_count;
	for (uint32_t i = 0; i < got && i < n; i++) {
		const struct rc_slot_hdr *slot = rc_ring_next(ring, &pos);
		uint32_t first = (uint32_t)((pos - slot->slots) % count);
		fill_packet(STREAM, seqs[i], want, lens[i]);
		CHECK(slot->ts_ns == seqs[i] && slot->caplen == lens[i] && slot->wirelen == lens[i] + 4 &&
			      !(slot->flags & RC_SLOT_TRUNCATED) && memcmp(slot + 1, want, lens[i]) == 0,
		      "packet %llu: got packet %llu of %u bytes", (unsigned long long)seqs[i],
		      (unsigned long long)slot->ts_ns, slot->caplen);
		CHECK(first + slot->slots <= count, "packet %llu wraps: slot %u + %u of %u",
		      (unsigned long long)seqs[i], first, slot->slots, count);
	}
	CHECK(rc_ring_release(ring, got + 1) == -EINVAL, "released more packets than polled");
	CHECK(rc_ring_release(ring, got) == 0, "release of what was polled");
}

static void records_cross_the_end_after_padding(void)
{
	struct rc_ring *ring = make_ring(SLOT_SIZE, 2, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	uint32_t count = ring_stats(ring).slot_count; /* 16 with 4 KiB pages */
	uint8_t *buf = malloc(count * SLOT_SIZE), *want = malloc(count * SLOT_SIZE);
	uint64_t seq = 0;
	/* move head to two slots before the end, everything consumed */
	for (uint32_t i = 0; i < count - 2; i++, seq++)
		produce(ring, seq, ROOM, buf);
	uint64_t pos;
	REQUIRE(rc_ring_release(ring, rc_ring_poll(ring, count, &pos)) == 0, "drain");

	/* a 3-slot record does not fit the 2 slots before the end */
	uint32_t len = bytes_for(3) - 10;
	produce(ring, seq, len, buf);
	struct rc_stats st = ring_stats(ring);
	CHECK(st.head == count + 3 && st.slots_used == 5 && st.occupancy == 1,
	      "after the padding: head %llu slots used %llu packets %llu", (unsigned long long)st.head,
	      (unsigned long long)st.slots_used, (unsigned long long)st.occupancy);
	uint8_t kinds[64];
	REQUIRE(rc_ring_slot_kinds(ring, kinds, sizeof(kinds)) == count, "kinds");
	CHECK(kinds[count - 2] == RC_SLOT_KIND_PADDING && kinds[count - 1] == RC_SLOT_KIND_PADDING &&
		      kinds[0] == RC_SLOT_KIND_FIRST && kinds[1] == RC_SLOT_KIND_CONTINUED &&
		      kinds[2] == RC_SLOT_KIND_CONTINUED && kinds[3] == RC_SLOT_KIND_FIRST,
	      "kinds %u %u | %u %u %u %u", kinds[count - 2], kinds[count - 1], kinds[0], kinds[1],
	      kinds[2], kinds[3]);
	/* a viewer opening the record's last slot, or the padding's, gets the
	 * record's first slot */
	uint8_t *copy = malloc(SLOT_HDR_BYTES + count * SLOT_SIZE);
	uint32_t first = 99;
	int64_t copied = rc_ring_copy_slot(ring, 2, copy, SLOT_HDR_BYTES + count * SLOT_SIZE, &first);
	fill_packet(STREAM, seq, want, len);
	CHECK(copied == (int64_t)(SLOT_HDR_BYTES + len) && first == 0 &&
		      memcmp(copy + SLOT_HDR_BYTES, want, len) == 0,
	      "copy of slot 2: %lld bytes from slot %u", (long long)copied, first);
	CHECK(rc_ring_copy_slot(ring, 2, copy, SLOT_HDR_BYTES + len - 1, &first) == -ENOSPC,
	      "a copy into too small a buffer");
	copied = rc_ring_copy_slot(ring, count - 1, copy, SLOT_HDR_BYTES + count * SLOT_SIZE, &first);
	CHECK(copied == SLOT_HDR_BYTES && first == count - 2 &&
		      (((const struct rc_slot_hdr *)copy)->flags & RC_SLOT_PADDING),
	      "copy of the padding's last slot: %lld bytes from slot %u", (long long)copied, first);

	uint64_t seqs[] = { seq };
	uint32_t lens[] = { len };
	take(ring, seqs, lens, 1, want);
	st = ring_stats(ring);
	CHECK(st.slots_used == 0 && st.occupancy == 0 && st.delivered == count - 2 + 1,
	      "after the release: %llu slots used, delivered %llu", (unsigned long long)st.slots_used,
	      (unsigned long long)st.delivered);
	free(copy);
	free(buf);
	free(want);
	rc_ring_destroy(ring);
}

/* Padding alone (its record refused for room) is freed by the next poll:
 * nothing else would free it, and the producer waits for those slots. */
static void padding_alone_is_freed_by_a_poll(void)
{
	struct rc_ring *ring = make_ring(SLOT_SIZE, 2, RC_DROP_LATE, RC_WAIT_SPIN, 0);
	uint32_t count = ring_stats(ring).slot_count;
	uint8_t *buf = malloc(count * SLOT_SIZE);
	for (uint32_t i = 0; i < count - 1; i++)
		produce(ring, i, ROOM, buf);
	uint64_t pos;
	REQUIRE(rc_ring_release(ring, rc_ring_poll(ring, count, &pos)) == 0, "drain");
	/* head at the last slot: the whole-ring record needs padding first */
	fill_packet(STREAM, 100, buf, bytes_for(count));
	CHECK(rc_ring_produce(ring, buf, bytes_for(count), bytes_for(count), 100, 3, 0) == -ENOBUFS,
	      "a whole-ring record fits behind padding");
	struct rc_stats st = ring_stats(ring);
	CHECK(st.slots_used == 1 && st.occupancy == 0, "padding: %llu slots, %llu packets",
	      (unsigned long long)st.slots_used, (unsigned long long)st.occupancy);
	CHECK(rc_ring_poll(ring, count, &pos) == 0, "padding polled as a packet");
	st = ring_stats(ring);
	CHECK(st.slots_used == 0 && st.tail == st.head, "padding not freed by the poll: %llu slots",
	      (unsigned long long)st.slots_used);
	free(buf);
	rc_ring_destroy(ring);
}

/* A record of exactly the whole ring, then one larger than the ring. */
static void whole_ring_and_larger(void)
{
	struct rc_ring *ring = make_ring(SLOT_SIZE, 2, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	uint32_t count = ring_stats(ring).slot_count;
	uint8_t *buf = malloc(2 * count * SLOT_SIZE), *want = malloc(2 * count * SLOT_SIZE);
	uint64_t seqs[] = { 1 };
	uint32_t lens[] = { bytes_for(count) };
	produce(ring, 1, lens[0], buf);
	struct rc_stats st = ring_stats(ring);
	CHECK(st.slots_used == count && st.occupancy == 1 && st.truncated == 0 && rc_ring_full(ring),
	      "whole-ring record: %llu slots, %llu packets, truncated %llu",
	      (unsigned long long)st.slots_used, (unsigned long long)st.occupancy,
	      (unsigned long long)st.truncated);
	take(ring, seqs, lens, 1, want);

	/* not at slot 0: padding first, then the record from slot 0 once the
	 * padding is freed */
	produce(ring, 2, ROOM, buf);
	uint64_t pos;
	REQUIRE(rc_ring_release(ring, rc_ring_poll(ring, 1, &pos)) == 0, "drain");
	uint32_t larger = 2 * count * SLOT_SIZE;
	fill_packet(STREAM, 3, buf, larger);
	CHECK(rc_ring_produce(ring, buf, larger, larger, 3, 3, RC_SLOT_OUTGOING) == -ENOBUFS,
	      "the padding is not freed yet");
	REQUIRE(rc_ring_poll(ring, 1, &pos) == 0, "poll the padding");
	CHECK(rc_ring_produce(ring, buf, larger, larger, 3, 3, RC_SLOT_OUTGOING) == 0,
	      "a packet larger than the ring refused on an empty ring");
	REQUIRE(rc_ring_poll(ring, 8, &pos) == 1, "poll the cut packet");
	const struct rc_slot_hdr *slot = rc_ring_next(ring, &pos);
	CHECK(slot->caplen == bytes_for(count) && slot->wirelen == larger && slot->slots == count &&
		      slot->flags == (RC_SLOT_TRUNCATED | RC_SLOT_OUTGOING) &&
		      memcmp(slot + 1, buf, slot->caplen) == 0,
	      "cut to the ring: caplen %u wirelen %u slots %u flags %#x", slot->caplen,
	      slot->wirelen, slot->slots, slot->flags);
	REQUIRE(rc_ring_release(ring, 1) == 0, "release");
	st = ring_stats(ring);
	CHECK(st.truncated == 1 && st.kernel_packets == 3 && st.delivered == 3 && st.occupancy == 0,
	      "truncated %llu, kernel %llu, delivered %llu", (unsigned long long)st.truncated,
	      (unsigned long long)st.kernel_packets, (unsigned long long)st.delivered);
	free(buf);
	free(want);
	rc_ring_destroy(ring);
}

/* Many records of random span, lap after lap, in random batches: every
 * packet whole and in order, and the identity in packets. */
static void laps_of_random_records(void)
{
	struct rc_ring *ring = make_ring(SLOT_SIZE, 3, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	uint32_t count = ring_stats(ring).slot_count;
	uint32_t max_len = bytes_for(count / 3);
	uint8_t *buf = malloc(max_len), *want = malloc(max_len);
	uint64_t produced = 0, consumed = 0;
	for (uint64_t step = 0; consumed < 20000 && !TOO_MANY_FAILURES; step++) {
		uint32_t burst = (uint32_t)(mix64(step) % 8);
		for (uint32_t i = 0; i < burst; i++) {
			uint32_t len = packet_size(produced, max_len);
			fill_packet(STREAM, produced, buf, len);
			if (rc_ring_produce(ring, buf, len, len, produced, 0, 0) != 0)
				break;
			produced++;
		}
		uint64_t pos;
		uint32_t n = rc_ring_poll(ring, 1 + (uint32_t)(mix64(~step) % 5), &pos);
		for (uint32_t i = 0; i < n; i++, consumed++) {
			const struct rc_slot_hdr *slot = rc_ring_next(ring, &pos);
			uint32_t len = packet_size(consumed, max_len);
			fill_packet(STREAM, consumed, want, len);
			CHECK(slot->ts_ns == consumed && slot->caplen == len &&
				      memcmp(slot + 1, want, len) == 0 &&
				      (pos - slot->slots) % count + slot->slots <= count,
			      "packet %llu: got %llu of %u bytes", (unsigned long long)consumed,
			      (unsigned long long)slot->ts_ns, slot->caplen);
		}
		REQUIRE(rc_ring_release(ring, n) == 0, "release");
		struct rc_stats st = ring_stats(ring);
		CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy &&
			      st.occupancy == produced - consumed && st.occupancy <= st.slots_used,
		      "identity: kernel %llu delivered %llu occupancy %llu slots %llu",
		      (unsigned long long)st.kernel_packets, (unsigned long long)st.delivered,
		      (unsigned long long)st.occupancy, (unsigned long long)st.slots_used);
	}
	CHECK(ring_stats(ring).head > 100ull * count, "too few laps");
	free(buf);
	free(want);
	rc_ring_destroy(ring);
}

/* truncate_to_slot: a packet larger than a slot is cut to one, as asked. */
static void truncate_to_slot_cuts_to_one_slot(void)
{
	struct rc_ring_config cfg = { .slot_size = SLOT_SIZE, .ring_pages = 2,
				      .drop_policy = RC_DROP_EARLY, .wait_strategy = RC_WAIT_SPIN,
				      .truncate_to_slot = 1 };
	struct rc_ring *ring = make_ring_from(&cfg);
	uint8_t buf[4 * SLOT_SIZE];
	fill_packet(STREAM, 5, buf, sizeof(buf));
	REQUIRE(rc_ring_produce(ring, buf, sizeof(buf), sizeof(buf), 5, 0, 0) == 0, "produce");
	struct rc_stats st = ring_stats(ring);
	CHECK(st.slots_used == 1 && st.truncated == 1 && st.truncate_to_slot == 1,
	      "slots %llu truncated %llu", (unsigned long long)st.slots_used,
	      (unsigned long long)st.truncated);
	rc_ring_destroy(ring);
}

int main(void)
{
	records_cross_the_end_after_padding();
	padding_alone_is_freed_by_a_poll();
	whole_ring_and_larger();
	laps_of_random_records();
	truncate_to_slot_cuts_to_one_slot();
	return test_result("ring_records");
}
