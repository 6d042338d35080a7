/* ring_consumer_ownership.c — who may consume and free a ring: one consumer
 * at a time (a second one, or a drain, gets -EBUSY), a release frees only
 * slots that were polled, a poll starts after the slots already held, the
 * ring lives while any reference to it does (a drain keeps its ring after
 * the owner dropped it), and settings out of range are refused. */
#include "helpers.h"

#define ROOM (256u - SLOT_HDR_BYTES)

static void produce(struct rc_ring *ring, uint64_t seq)
{
	uint8_t buf[ROOM];
	fill_packet(1, seq, buf, 40);
	REQUIRE(rc_ring_produce(ring, buf, 40, 40, seq, 0, 0) == 0, "produce %llu",
		(unsigned long long)seq);
}

static void release_only_what_was_polled(void)
{
	struct rc_ring *ring = make_ring(256, 3, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	for (uint64_t seq = 0; seq < 10; seq++)
		produce(ring, seq);
	CHECK(rc_ring_release(ring, 1) == -EINVAL, "released a slot nobody polled");
	uint64_t first;
	CHECK(rc_ring_poll(ring, 3, &first) == 3 && first == 0, "first poll at %llu",
	      (unsigned long long)first);
	/* a second poll takes the next slots, not the held ones again */
	CHECK(rc_ring_poll(ring, 2, &first) == 2 && first == 3, "second poll at %llu",
	      (unsigned long long)first);
	CHECK(rc_ring_release(ring, 6) == -EINVAL, "released 6 of 5 polled");
	struct rc_stats st = ring_stats(ring);
	CHECK(st.tail == 0 && st.delivered == 0 && st.consuming == 5,
	      "a refused release changed tail %llu delivered %llu consuming %llu",
	      (unsigned long long)st.tail, (unsigned long long)st.delivered,
	      (unsigned long long)st.consuming);
	CHECK(rc_ring_release(ring, 4) == 0 && rc_ring_release(ring, 1) == 0, "release of polled");
	CHECK(rc_ring_release(ring, 1) == -EINVAL, "released past what was polled");
	CHECK(rc_ring_release(ring, 0) == 0, "an empty release is no error");
	st = ring_stats(ring);
	CHECK(st.delivered == 5 && st.occupancy == 5, "delivered %llu occupancy %llu",
	      (unsigned long long)st.delivered, (unsigned long long)st.occupancy);
	rc_ring_destroy(ring);
}

static void one_consumer_at_a_time(void)
{
	struct rc_ring *ring = make_ring(256, 3, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_drain *drain = NULL;
	for (uint64_t seq = 0; seq < 4; seq++)
		produce(ring, seq);
	CHECK(rc_ring_attach_consumer(ring) == 0, "first consumer refused");
	CHECK(rc_ring_attach_consumer(ring) == -EBUSY, "second consumer attached");
	CHECK(rc_drain_start(ring, NULL, 0, NULL, NULL, 0, NULL, 8, &drain, err, sizeof(err)) == -EBUSY &&
		      strstr(err, "consumer"),
	      "a drain started on a consumed ring: %s", err);
	uint64_t first;
	CHECK(rc_ring_poll(ring, 3, &first) == 3, "poll");
	CHECK(rc_ring_release(ring, 1) == 0, "release");
	rc_ring_detach_consumer(ring);
	/* the next consumer gets the two slots polled but never released */
	CHECK(rc_ring_attach_consumer(ring) == 0, "attach after detach");
	CHECK(rc_ring_poll(ring, 8, &first) == 3 && first == 1, "re-poll at %llu",
	      (unsigned long long)first);
	rc_ring_detach_consumer(ring);
	CHECK(rc_drain_start(ring, NULL, 0, NULL, NULL, 0, NULL, 0, &drain, err, sizeof(err)) == -EINVAL,
	      "a drain with batches of 0 slots started");
	CHECK(rc_drain_start(ring, NULL, 0, NULL, NULL, 0, NULL, 8, &drain, err, sizeof(err)) == 0,
	      "a drain on a free ring: %s", err);
	CHECK(rc_ring_attach_consumer(ring) == -EBUSY, "attached beside a drain");
	/* the owner drops its reference while the drain runs: the drain keeps
	 * the ring (ASan reports a use after free otherwise) */
	rc_ring_destroy(ring);
	struct timespec pause = { 0, 2000000 };
	nanosleep(&pause, NULL);
	rc_drain_stop(drain, 1);
}

static void retained_ring_outlives_its_creator(void)
{
	struct rc_ring *ring = make_ring(256, 3, RC_DROP_EARLY, RC_WAIT_SPIN, 0);
	rc_ring_retain(ring);
	rc_ring_destroy(ring);
	produce(ring, 7); /* still mapped: one reference is left */
	CHECK(ring_stats(ring).head == 1, "head after produce");
	rc_ring_destroy(ring);
}

static void settings_out_of_range_are_refused(void)
{
	struct rc_ring *ring = make_ring(256, 3, RC_DROP_EARLY, RC_WAIT_SLEEP, 1000);
	CHECK(rc_ring_set_wait(ring, RC_WAIT_ADAPTIVE + 1, 10) == -EINVAL, "unknown strategy");
	CHECK(rc_ring_set_wait(ring, RC_WAIT_SLEEP, RC_POLL_INTERVAL_MAX_US + 1) == -EINVAL,
	      "interval above the maximum");
	CHECK(rc_ring_set_wait(ring, -1, 10) == -EINVAL, "negative strategy");
	CHECK(rc_ring_set_drop_policy(ring, 2) == -EINVAL, "unknown policy");
	struct rc_stats st = ring_stats(ring);
	CHECK(st.wait_strategy == RC_WAIT_SLEEP && st.poll_interval_us == 1000 &&
		      st.drop_policy == RC_DROP_EARLY,
	      "a refused setting changed the ring");
	CHECK(rc_ring_set_wait(ring, RC_WAIT_YIELD, RC_POLL_INTERVAL_MAX_US) == 0 &&
		      rc_ring_set_drop_policy(ring, RC_DROP_LATE) == 0,
	      "settings in range refused");
	rc_ring_destroy(ring);

	struct rc_ring_config cfg = { .slot_size = 256, .ring_pages = 3, .drop_policy = RC_DROP_EARLY,
				      .wait_strategy = RC_WAIT_SLEEP, .poll_interval_us = RC_POLL_INTERVAL_MAX_US + 1 };
	char err[RC_ERRBUF_SIZE] = "";
	CHECK(rc_ring_create(&cfg, &ring, err, sizeof(err)) == -EINVAL && strstr(err, "poll interval"),
	      "a ring with a poll interval above the maximum: %s", err);
}

int main(void)
{
	release_only_what_was_polled();
	one_consumer_at_a_time();
	retained_ring_outlives_its_creator();
	settings_out_of_range_are_refused();
	return test_result("ring_consumer_ownership");
}
