/* ring_wraparound.c — positions run far past slot_count: position pos always
 * lands in slot pos % slot_count, batches that cross the end of the slot area
 * come back in order, and head/tail in the mapped header follow the counts.
 * Single-threaded, so every step is checked against an exact expectation. */
#include "helpers.h"

#define STREAM 3u
/* Positions per configuration: LAPS laps of the ring, at most MAX_POSITIONS. */
#define LAPS 2000u
#define MAX_POSITIONS 50000u

static void run(uint32_t slot_size, uint32_t ring_pages)
{
	struct rc_ring *ring = make_ring(slot_size, ring_pages, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	const struct rc_ring_header *hdr = rc_ring_base(ring);
	const uint8_t *slots = (const uint8_t *)hdr + sysconf(_SC_PAGESIZE);
	uint32_t count = hdr->slot_count, room = slot_size - SLOT_HDR_BYTES;
	uint8_t *buf = malloc(room), *copy = malloc(slot_size);
	uint64_t head = 0, tail = 0, step = 0, crossing = 0;
	uint32_t first_index;
	uint64_t positions = (uint64_t)count * LAPS;
	if (positions > MAX_POSITIONS)
		positions = MAX_POSITIONS;
	printf("%u-byte slots, %u pages: %u slots, %llu positions\n", slot_size, ring_pages,
	       count, (unsigned long long)positions);
	CHECK(count == (uint32_t)rc_ring_slots_for(slot_size, ring_pages), "slot_count %u", count);
	while (tail < positions && !TOO_MANY_FAILURES) {
		/* fill a random amount of the free room, then take a random batch */
		uint32_t produce = (uint32_t)(mix64(step++) % (count - (head - tail) + 1));
		for (uint32_t i = 0; i < produce; i++, head++) {
			uint32_t len = packet_size(head, room);
			fill_packet(STREAM, head, buf, len);
			int rc = rc_ring_produce(ring, buf, len, len, head, 0, 0);
			CHECK(rc == 0, "produce at %llu with %llu free: %d", (unsigned long long)head,
			      (unsigned long long)(count - (head - tail)), rc);
		}
		CHECK(rc_ring_full(ring) == (head - tail == count), "full at occupancy %llu",
		      (unsigned long long)(head - tail));
		uint64_t first;
		uint32_t want = 1 + (uint32_t)(mix64(step++) % count);
		uint32_t n = rc_ring_poll(ring, want, &first);
		uint32_t expect_n = head - tail < want ? (uint32_t)(head - tail) : want;
		CHECK(n == expect_n && first == tail, "poll(%u) gave %u at %llu, expected %u at %llu",
		      want, n, (unsigned long long)first, expect_n, (unsigned long long)tail);
		if (n && first % count + n > count)
			crossing++;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t pos = first + i;
			const struct rc_slot_hdr *slot = rc_ring_slot(ring, pos);
			CHECK((const uint8_t *)slot == slots + (size_t)(pos % count) * slot_size,
			      "position %llu not in slot %llu", (unsigned long long)pos,
			      (unsigned long long)(pos % count));
			uint32_t len = packet_size(pos, room);
			fill_packet(STREAM, pos, buf, len);
			CHECK(slot->ts_ns == pos && slot->caplen == len &&
				      memcmp(slot + 1, buf, len) == 0,
			      "position %llu holds packet %llu (%u bytes)", (unsigned long long)pos,
			      (unsigned long long)slot->ts_ns, slot->caplen);
			/* a viewer's copy by slot index shows the same packet */
			int64_t copied = rc_ring_copy_slot(ring, (uint32_t)(pos % count), copy, slot_size, &first_index);
			CHECK(copied == (int64_t)(SLOT_HDR_BYTES + len) && first_index == pos % count &&
				      memcmp(copy + SLOT_HDR_BYTES, buf, len) == 0,
			      "copy of slot %llu: %lld bytes", (unsigned long long)(pos % count),
			      (long long)copied);
		}
		rc_ring_release(ring, n);
		tail += n;
		CHECK(atomic_load(&hdr->head) == head && atomic_load(&hdr->tail) == tail,
		      "mapped header: head %llu tail %llu, expected %llu %llu",
		      (unsigned long long)atomic_load(&hdr->head),
		      (unsigned long long)atomic_load(&hdr->tail), (unsigned long long)head,
		      (unsigned long long)tail);
	}
	struct rc_stats st = ring_stats(ring);
	CHECK(st.head == head && st.tail == tail && st.delivered == tail &&
		      st.kernel_packets == head && st.occupancy == head - tail,
	      "stats head %llu tail %llu delivered %llu kernel_packets %llu",
	      (unsigned long long)st.head, (unsigned long long)st.tail,
	      (unsigned long long)st.delivered, (unsigned long long)st.kernel_packets);
	CHECK(crossing > 100, "only %llu batches crossed the end of the slots",
	      (unsigned long long)crossing);
	CHECK(rc_ring_copy_slot(ring, count, copy, slot_size, &first_index) == -ERANGE,
	      "copy of slot %u (one past the last) did not fail", count);
	free(buf);
	free(copy);
	rc_ring_destroy(ring);
}

int main(void)
{
	run(1360, 2); /* 3 slots in one page: every step wraps */
	run(2048, 33); /* the classic ring: 64 slots */
	run(16384, 21); /* 5 slots of 4 pages each */
	return test_result("ring_wraparound");
}
