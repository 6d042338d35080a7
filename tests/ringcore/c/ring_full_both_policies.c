/* ring_full_both_policies.c — a full ring refuses the next packet with
 * -ENOBUFS and never overwrites a slot the consumer has not freed; what the
 * producer does then is its policy: drop-early retries later (nothing counted,
 * the kernel keeps the packet), drop-late counts a ring drop.  Accounting and
 * slots_used_high stay exact either way. */
#include "helpers.h"

#define STREAM 11u
#define DROPS 5u

/* One packet offered by a producer that follows the ring's policy, as the
 * capture thread does; returns 1 when stored. */
static int offer(struct rc_ring *ring, uint64_t seq, uint32_t room, uint32_t flags)
{
	uint8_t buf[256];
	uint32_t len = packet_size(seq, room < sizeof(buf) ? room : sizeof(buf));
	fill_packet(STREAM, seq, buf, len);
	int rc = rc_ring_produce(ring, buf, len, len + 100, seq, 0, flags);
	if (rc == -ENOBUFS && ring_stats(ring).drop_policy == RC_DROP_LATE)
		rc_ring_count_drop(ring, len + 100, flags);
	CHECK(rc == 0 || rc == -ENOBUFS, "produce returned %d", rc);
	return rc == 0;
}

static void check_content(struct rc_ring *ring, uint64_t pos, uint64_t seq, uint32_t room)
{
	uint8_t buf[256];
	const struct rc_slot_hdr *slot = rc_ring_slot(ring, pos);
	uint32_t len = packet_size(seq, room < sizeof(buf) ? room : sizeof(buf));
	fill_packet(STREAM, seq, buf, len);
	CHECK(slot->ts_ns == seq && slot->caplen == len && memcmp(slot + 1, buf, len) == 0,
	      "position %llu holds packet %llu, expected %llu (overwritten while full?)",
	      (unsigned long long)pos, (unsigned long long)slot->ts_ns, (unsigned long long)seq);
}

static void run(int32_t policy)
{
	const char *name = policy == RC_DROP_EARLY ? "drop-early" : "drop-late";
	struct rc_ring *ring = make_ring(256, 3, policy, RC_WAIT_SPIN, 0);
	struct rc_stats st = ring_stats(ring);
	uint32_t count = st.slot_count, room = 256 - SLOT_HDR_BYTES;
	CHECK(st.drop_policy == policy, "%s: stats show policy %d", name, st.drop_policy);

	for (uint32_t i = 0; i < count; i++)
		CHECK(offer(ring, i, room, 0), "%s: packet %u refused before the ring was full", name, i);
	CHECK(rc_ring_full(ring), "%s: ring of %u not full after %u packets", name, count, count);
	for (uint32_t i = 0; i < DROPS; i++)
		CHECK(!offer(ring, count + i, room, RC_SLOT_OUTGOING),
		      "%s: a full ring took packet %u", name, count + i);

	st = ring_stats(ring);
	uint64_t drops = policy == RC_DROP_LATE ? DROPS : 0;
	CHECK(st.occupancy == count && st.slots_used_high == count,
	      "%s: occupancy %llu high %llu, expected %u", name, (unsigned long long)st.occupancy,
	      (unsigned long long)st.slots_used_high, count);
	CHECK(st.ring_drops == drops && st.kernel_packets == count + drops,
	      "%s: ring_drops %llu kernel_packets %llu, expected %llu and %llu", name,
	      (unsigned long long)st.ring_drops, (unsigned long long)st.kernel_packets,
	      (unsigned long long)drops, (unsigned long long)(count + drops));
	CHECK(st.outgoing_packets == drops, "%s: outgoing_packets %llu", name,
	      (unsigned long long)st.outgoing_packets);
	CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy,
	      "%s: accounting does not close when full", name);

	/* the full ring kept every packet it had */
	uint64_t first;
	uint32_t n = rc_ring_poll(ring, count, &first);
	CHECK(n == count && first == 0, "%s: poll gave %u at %llu", name, n, (unsigned long long)first);
	for (uint32_t i = 0; i < n; i++)
		check_content(ring, i, i, room);

	/* one freed slot takes exactly one more packet */
	rc_ring_release(ring, 1);
	CHECK(!rc_ring_full(ring), "%s: full after a release", name);
	CHECK(offer(ring, 1000, room, 0), "%s: refused after a release", name);
	CHECK(!offer(ring, 1001, room, 0), "%s: took two packets for one freed slot", name);
	rc_ring_release(ring, n - 1);
	n = rc_ring_poll(ring, count, &first);
	CHECK(n == 1 && first == count, "%s: after the drops poll gave %u at %llu", name, n,
	      (unsigned long long)first);
	if (n == 1)
		check_content(ring, first, 1000, room);
	rc_ring_release(ring, n);

	/* the high-water mark outlives the full ring until reset */
	st = ring_stats(ring);
	CHECK(st.occupancy == 0 && st.slots_used_high == count,
	      "%s: empty ring: occupancy %llu high %llu", name, (unsigned long long)st.occupancy,
	      (unsigned long long)st.slots_used_high);
	CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy,
	      "%s: accounting does not close at the end", name);
	rc_ring_reset_high_water(ring);
	CHECK(ring_stats(ring).slots_used_high == 0, "%s: high-water mark not reset", name);

	/* the policy changes live and shows in the statistics */
	int32_t other = policy == RC_DROP_EARLY ? RC_DROP_LATE : RC_DROP_EARLY;
	rc_ring_set_drop_policy(ring, other);
	CHECK(ring_stats(ring).drop_policy == other, "%s: policy not switched", name);
	rc_ring_destroy(ring);
}

int main(void)
{
	run(RC_DROP_EARLY);
	run(RC_DROP_LATE);
	return test_result("ring_full_both_policies");
}
