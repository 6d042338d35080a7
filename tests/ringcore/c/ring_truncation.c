/* ring_truncation.c — on a ring created with truncate_to_slot, a packet
 * longer than the slot's data area is cut to slot_size - header: flagged
 * RC_SLOT_TRUNCATED, counted as truncated, its wire length and other flags
 * kept, and the next slot left untouched. */
#include "helpers.h"

#define SLOT_SIZE 128u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)

struct truncation_case {
	uint32_t caplen, wirelen, flags;
	uint32_t want_caplen, want_flags;
};

static void run(size_t c, const struct truncation_case *tc)
{
	struct rc_ring_config cfg = { .slot_size = SLOT_SIZE, .ring_pages = 2,
				      .drop_policy = RC_DROP_EARLY, .wait_strategy = RC_WAIT_SPIN,
				      .truncate_to_slot = 1 };
	struct rc_ring *ring = make_ring_from(&cfg);
	uint32_t count = ring_stats(ring).slot_count;
	uint8_t guard[ROOM], big[3 * SLOT_SIZE];
	fill_packet(1, 1, guard, ROOM);
	fill_packet(2, 2, big, sizeof(big));
	uint64_t first;

	/* guards in every slot, all consumed: the packet under test then goes
	 * to slot 0 with slot 1 still holding its guard */
	for (uint32_t i = 0; i < count; i++)
		REQUIRE(rc_ring_produce(ring, guard, ROOM, ROOM, i, 0, 0) == 0, "guard %u", i);
	rc_ring_release(ring, rc_ring_poll(ring, count, &first));

	int rc = rc_ring_produce(ring, big, tc->caplen, tc->wirelen, 12345, 7, tc->flags);
	CHECK(rc == 0, "case %zu: produce returned %d", c, rc);
	uint32_t n = rc_ring_poll(ring, count, &first);
	REQUIRE(n == 1, "case %zu: poll gave %u", c, n);
	const struct rc_slot_hdr *slot = rc_ring_slot(ring, first);
	CHECK(slot->caplen == tc->want_caplen, "case %zu: caplen %u, expected %u", c,
	      slot->caplen, tc->want_caplen);
	CHECK(slot->wirelen == tc->wirelen, "case %zu: wirelen %u, expected %u", c,
	      slot->wirelen, tc->wirelen);
	CHECK(slot->flags == tc->want_flags, "case %zu: flags %#x, expected %#x", c,
	      slot->flags, tc->want_flags);
	CHECK(slot->ifindex == 7 && slot->ts_ns == 12345 && slot->slots == 1 && slot->reserved == 0,
	      "case %zu: header fields changed", c);
	CHECK(memcmp(slot + 1, big, slot->caplen) == 0, "case %zu: data is not the packet's start", c);
	const struct rc_slot_hdr *next = rc_ring_slot(ring, first + 1);
	CHECK(next->caplen == ROOM && next->ts_ns == 1 && memcmp(next + 1, guard, ROOM) == 0,
	      "case %zu: the next slot was overwritten", c);

	struct rc_stats st = ring_stats(ring);
	uint64_t truncated = tc->want_flags & RC_SLOT_TRUNCATED ? 1 : 0;
	CHECK(st.truncated == truncated, "case %zu: truncated counter %llu, expected %llu", c,
	      (unsigned long long)st.truncated, (unsigned long long)truncated);
	CHECK(st.kernel_bytes == (uint64_t)count * ROOM + tc->wirelen,
	      "case %zu: kernel_bytes %llu do not count the wire length", c,
	      (unsigned long long)st.kernel_bytes);
	rc_ring_release(ring, n);
	rc_ring_destroy(ring);
}

int main(void)
{
	const struct truncation_case cases[] = {
		{ ROOM, ROOM, 0, ROOM, 0 }, /* fits exactly: not truncated */
		{ ROOM + 1, 1500, 0, ROOM, RC_SLOT_TRUNCATED },
		{ 3 * SLOT_SIZE, 9000, RC_SLOT_OUTGOING, ROOM, RC_SLOT_TRUNCATED | RC_SLOT_OUTGOING },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		run(c, &cases[c]);
	return test_result("ring_truncation");
}
