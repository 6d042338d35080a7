/* ring_stress_two_threads.c — a producer and a consumer thread on one small
 * ring, packets of random size each carrying its checksum (up to three
 * slots: records of one to three slots, padding at the ring's end), while a
 * third thread takes statistics snapshots: nothing is lost or torn, no
 * record wraps, and
 *     kernel_packets == delivered + ring_drops + occupancy
 * holds in every snapshot (in packets; occupancy <= slots_used) and at the
 * end; every other batch is polled and released as a drain does
 * (ring_poll_batch, ring_release_batch).  Runs once per drop policy; a
 * drop-early producer sleeps until the consumer frees a slot, as the capture
 * does.
 * Usage: ring_stress_two_threads [seconds]   (default 1.0, split over both) */
#include "helpers.h"
#include "ring_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>

/* 240-byte slots in two slot pages: 34 slots, not a power of two, so the
 * slot index wraps unevenly through the free-running positions. */
#define SLOT_SIZE 240u
#define RING_PAGES 3u
/* the largest packet: a record of three slots */
#define DATA_ROOM (3 * SLOT_SIZE - SLOT_HDR_BYTES)
#define STREAM 7u
/* A stuck peer fails the test instead of hanging it. */
#define STUCK_NS 5000000000ull
/* snapshots a run needs to judge the statistics' consistency */
#define MIN_SNAPSHOTS 100u
#define OVERTIME_NS 10000000000ull

struct run {
	struct rc_ring *ring;
	uint32_t slot_count;
	int32_t policy;
	uint64_t base_ts;
	uint64_t deadline_ns;
	_Atomic int producer_done;
	_Atomic int consumer_done;
	/* producer's, read after join */
	uint64_t produced, produced_bytes, dropped, full_hits, outgoing;
	/* consumer's: packets missing from the sequence it saw */
	uint64_t consumed, consumed_bytes, missing;
	/* snapshot thread's */
	_Atomic uint64_t snapshots; /* read by the producer to know the run can end */
};

static uint32_t wirelen_of(uint64_t seq, uint32_t caplen)
{
	return caplen + (uint32_t)(seq % 5);
}

static uint32_t flags_of(uint64_t seq)
{
	return (seq & 1) ? RC_SLOT_OUTGOING : 0;
}

static void *producer(void *arg)
{
	struct run *r = arg;
	uint8_t buf[DATA_ROOM];
	uint64_t seq;
	for (seq = 0;; seq++) {
		/* The run lasts its time and until it took enough snapshots to judge, as a loaded machine may
		 * starve the snapshotter: at most OVERTIME_NS more. */
		if (seq % 64 == 0 && mono_ns() >= r->deadline_ns &&
		    (atomic_load(&r->snapshots) >= MIN_SNAPSHOTS || mono_ns() >= r->deadline_ns + OVERTIME_NS))
			break;
		uint32_t len = packet_size(seq, DATA_ROOM);
		uint32_t wirelen = wirelen_of(seq, len);
		fill_packet(STREAM, seq, buf, len);
		/* the checksum travels in ifindex, the sequence in ts_ns */
		int32_t sum = (int32_t)checksum(buf, len);
		uint64_t full_since = 0;
		for (;;) {
			int rc = rc_ring_produce(r->ring, buf, len, wirelen,
						 r->base_ts + seq, sum, flags_of(seq));
			if (rc == 0)
				break;
			CHECK(rc == -ENOBUFS, "produce returned %d", rc);
			r->full_hits++;
			if (r->policy == RC_DROP_LATE) {
				rc_ring_count_drop(r->ring, wirelen, flags_of(seq));
				r->dropped++;
				break;
			}
			rc_ring_notify(r->ring);
			if (!full_since)
				full_since = mono_ns();
			if (mono_ns() - full_since > STUCK_NS) {
				CHECK(0, "ring full for 5 s: the consumer stopped");
				goto out;
			}
			/* as the capture waits: a lost wake-up sleeps to the
			 * bound and fails the check above */
			rc_ring_wait_room(r->ring, STUCK_NS);
		}
		r->produced_bytes += wirelen;
		r->outgoing += seq & 1;
		if (seq % 32 == 31) /* as the capture does after each kernel block */
			rc_ring_notify(r->ring);
	}
out:
	r->produced = seq;
	atomic_store_explicit(&r->producer_done, 1, memory_order_release);
	return NULL;
}

/* The record before *pos (which rc_ring_next moved past it): where it is,
 * that it does not wrap, and the packet it holds. */
static void check_record(struct run *r, const struct rc_slot_hdr *slot,
			 uint64_t pos, uint64_t *expect)
{
	const uint8_t *base = (const uint8_t *)rc_ring_base(r->ring);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t first = pos - slot->slots;
	CHECK((const uint8_t *)slot == base + page + (first % r->slot_count) * SLOT_SIZE,
	      "position %llu is not in slot %llu", (unsigned long long)first,
	      (unsigned long long)(first % r->slot_count));
	CHECK(!(slot->flags & RC_SLOT_PADDING) && first % r->slot_count + slot->slots <= r->slot_count,
	      "record at %llu of %u slots wraps or is padding", (unsigned long long)first,
	      slot->slots);
	CHECK(slot->slots == (SLOT_HDR_BYTES + slot->caplen + SLOT_SIZE - 1) / SLOT_SIZE,
	      "record of %u bytes spans %u slots", slot->caplen, slot->slots);
	uint64_t seq = slot->ts_ns - r->base_ts;
	if (r->policy == RC_DROP_EARLY)
		CHECK(seq == *expect, "got packet %llu, expected %llu (lost or reordered)",
		      (unsigned long long)seq, (unsigned long long)*expect);
	else
		CHECK(seq >= *expect, "got packet %llu after %llu (reordered)",
		      (unsigned long long)seq, (unsigned long long)*expect);
	if (seq >= *expect)
		r->missing += seq - *expect;
	uint32_t len = packet_size(seq, DATA_ROOM);
	CHECK(slot->caplen == len, "packet %llu: caplen %u, expected %u",
	      (unsigned long long)seq, slot->caplen, len);
	CHECK(slot->wirelen == wirelen_of(seq, len), "packet %llu: wirelen %u",
	      (unsigned long long)seq, slot->wirelen);
	CHECK(slot->flags == flags_of(seq), "packet %llu: flags %#x",
	      (unsigned long long)seq, slot->flags);
	if (slot->caplen == len) {
		const uint8_t *data = (const uint8_t *)(slot + 1);
		uint8_t want[DATA_ROOM];
		fill_packet(STREAM, seq, want, len);
		CHECK(checksum(data, len) == (uint32_t)slot->ifindex,
		      "packet %llu: checksum mismatch (torn slot)", (unsigned long long)seq);
		CHECK(memcmp(data, want, len) == 0, "packet %llu: content differs",
		      (unsigned long long)seq);
	}
	r->consumed++;
	r->consumed_bytes += slot->wirelen;
	*expect = seq + 1;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	uint64_t position = 0, expect = 0, iteration = 0;
	for (;; iteration++) {
		/* read "done" before polling: an empty poll after it means the
		 * producer's last packet was already taken */
		int done = atomic_load_explicit(&r->producer_done, memory_order_acquire);
		uint64_t first;
		uint32_t want = 1 + (uint32_t)(mix64(iteration) % 48);
		if (iteration % 2) {
			/* every other batch the drain's way: one walk, the
			 * records and where each ends kept for the release */
			const struct rc_slot_hdr *batch[48];
			uint64_t ends[48];
			uint32_t n = ring_poll_batch(r->ring, want, batch, ends);
			CHECK(n <= want, "batch of %u for max %u", n, want);
			for (uint32_t i = 0; i < n && !TOO_MANY_FAILURES; i++)
				check_record(r, batch[i], ends[i], &expect);
			if (n) {
				position = ends[n - 1];
				CHECK(ring_release_batch(r->ring, batch, ends, n, 0, 0) == 0, "release a batch");
			} else if (done) {
				break;
			} else {
				rc_ring_wait(r->ring);
			}
			continue;
		}
		uint32_t n = rc_ring_poll(r->ring, want, &first);
		if (n == 0) {
			if (done)
				break;
			rc_ring_wait(r->ring);
			continue;
		}
		/* where the last batch ended, or after padding polled with it */
		CHECK(first - position < r->slot_count, "batch starts at %llu, after %llu",
		      (unsigned long long)first, (unsigned long long)position);
		CHECK(n <= want && n <= r->slot_count, "batch of %u for max %u", n, want);
		position = first;
		for (uint32_t i = 0; i < n && !TOO_MANY_FAILURES; i++) {
			const struct rc_slot_hdr *slot = rc_ring_next(r->ring, &position);
			check_record(r, slot, position, &expect);
		}
		/* free in two steps: a partial release must free exactly that many */
		uint32_t part = n / 2;
		rc_ring_release(r->ring, part);
		rc_ring_release(r->ring, n - part);
		/* now and then a slow consumer, so the ring fills up */
		if (mix64(iteration ^ 0xabcdef) % 128 == 0) {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
		}
		if (TOO_MANY_FAILURES)
			break;
	}
	/* the last packets may have been dropped with nothing after them */
	if (!TOO_MANY_FAILURES)
		r->missing += r->produced - expect;
	atomic_store_explicit(&r->consumer_done, 1, memory_order_release);
	return NULL;
}

static void *snapshotter(void *arg)
{
	struct run *r = arg;
	struct rc_stats prev;
	memset(&prev, 0, sizeof(prev));
	while (!atomic_load_explicit(&r->consumer_done, memory_order_acquire) &&
	       !TOO_MANY_FAILURES) {
		struct rc_stats st = ring_stats(r->ring);
		CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy,
		      "snapshot %llu: kernel_packets %llu != delivered %llu + ring_drops %llu + occupancy %llu",
		      (unsigned long long)r->snapshots, (unsigned long long)st.kernel_packets,
		      (unsigned long long)st.delivered, (unsigned long long)st.ring_drops,
		      (unsigned long long)st.occupancy);
		CHECK(st.tail <= st.head && st.occupancy <= st.slots_used &&
			      st.slots_used == st.head - st.tail && st.slots_used <= r->slot_count,
		      "tail %llu head %llu occupancy %llu slots used %llu",
		      (unsigned long long)st.tail, (unsigned long long)st.head,
		      (unsigned long long)st.occupancy, (unsigned long long)st.slots_used);
		CHECK(st.slots_used_high <= r->slot_count, "slots_used_high %llu",
		      (unsigned long long)st.slots_used_high);
		CHECK(st.kernel_packets >= prev.kernel_packets && st.delivered >= prev.delivered &&
			      st.ring_drops >= prev.ring_drops,
		      "counters went backwards");
		if (r->policy == RC_DROP_EARLY)
			CHECK(st.ring_drops == 0, "drop-early counted %llu ring drops",
			      (unsigned long long)st.ring_drops);
		prev = st;
		r->snapshots++;
		sched_yield();
	}
	return NULL;
}

static void run_policy(int32_t policy, int32_t wait, uint32_t interval_us, double seconds)
{
	const char *name = policy == RC_DROP_EARLY ? "drop-early" : "drop-late";
	struct run r = { 0 };
	r.ring = make_ring(SLOT_SIZE, RING_PAGES, policy, wait, interval_us);
	r.policy = policy;
	r.slot_count = ring_stats(r.ring).slot_count;
	r.base_ts = (uint64_t)time(NULL) * 1000000000ull;
	r.deadline_ns = mono_ns() + (uint64_t)(seconds * 1e9);
	pthread_t threads[3];
	REQUIRE(pthread_create(&threads[0], NULL, consumer, &r) == 0, "pthread_create");
	REQUIRE(pthread_create(&threads[1], NULL, snapshotter, &r) == 0, "pthread_create");
	REQUIRE(pthread_create(&threads[2], NULL, producer, &r) == 0, "pthread_create");
	for (int i = 2; i >= 0; i--)
		pthread_join(threads[i], NULL);

	struct rc_stats st = ring_stats(r.ring);
	printf("%s: %llu packets (%llu laps), %llu dropped, ring full %llu times, %llu snapshots\n",
	       name, (unsigned long long)r.produced,
	       (unsigned long long)(r.produced / r.slot_count), (unsigned long long)r.dropped,
	       (unsigned long long)r.full_hits, (unsigned long long)r.snapshots);
	CHECK(r.produced > 30ull * r.slot_count, "%s: only %llu packets: too few laps",
	      name, (unsigned long long)r.produced);
	CHECK(r.full_hits > 0, "%s: the ring never filled up", name);
	CHECK(r.snapshots >= MIN_SNAPSHOTS, "%s: only %llu snapshots", name, (unsigned long long)r.snapshots);
	CHECK(st.kernel_packets == r.produced, "%s: kernel_packets %llu, produced %llu", name,
	      (unsigned long long)st.kernel_packets, (unsigned long long)r.produced);
	CHECK(st.kernel_bytes == r.produced_bytes, "%s: kernel_bytes %llu, produced %llu", name,
	      (unsigned long long)st.kernel_bytes, (unsigned long long)r.produced_bytes);
	CHECK(st.ring_drops == r.dropped, "%s: ring_drops %llu, dropped %llu", name,
	      (unsigned long long)st.ring_drops, (unsigned long long)r.dropped);
	CHECK(st.delivered == r.consumed, "%s: delivered %llu, consumed %llu", name,
	      (unsigned long long)st.delivered, (unsigned long long)r.consumed);
	CHECK(st.delivered_bytes == r.consumed_bytes, "%s: delivered_bytes %llu, consumed %llu",
	      name, (unsigned long long)st.delivered_bytes, (unsigned long long)r.consumed_bytes);
	CHECK(st.occupancy == 0, "%s: %llu packets left in the ring", name,
	      (unsigned long long)st.occupancy);
	CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy,
	      "%s: final accounting does not close", name);
	CHECK(r.missing == r.dropped, "%s: %llu packets missing from the sequence, %llu dropped",
	      name, (unsigned long long)r.missing, (unsigned long long)r.dropped);
	CHECK(st.outgoing_packets == r.outgoing, "%s: outgoing_packets %llu, sent %llu", name,
	      (unsigned long long)st.outgoing_packets, (unsigned long long)r.outgoing);
	/* full: no room for the next record, of at most three slots */
	CHECK(st.slots_used_high + 2 >= r.slot_count && st.slots_used_high <= r.slot_count,
	      "%s: slots_used_high %llu after a full ring", name,
	      (unsigned long long)st.slots_used_high);
	CHECK(st.slots_used == 0 && st.tail == st.head,
	      "%s: %llu slots (padding) left after the last poll", name,
	      (unsigned long long)st.slots_used);
	CHECK(st.truncated == 0, "%s: %llu truncated", name, (unsigned long long)st.truncated);
	uint64_t batches = 0, latencies = 0, lower_bounds_ns = 0;
	for (int b = 0; b < RC_BATCH_BUCKETS; b++)
		batches += st.batch_hist[b];
	for (int b = 0; b < RC_LATENCY_BUCKETS; b++) {
		latencies += st.latency_hist[b];
		if (b) /* bucket 0 starts at 0 */
			lower_bounds_ns += st.latency_hist[b] * (1000ull << b);
	}
	/* the sum (a Prometheus histogram's _sum) lies within the buckets' bounds */
	CHECK(lower_bounds_ns <= st.latency_sum_ns && st.latency_sum_ns <= st.delivered * st.latency_max_ns,
	      "%s: latency sum %llu ns outside [%llu, %llu * max]", name,
	      (unsigned long long)st.latency_sum_ns, (unsigned long long)lower_bounds_ns,
	      (unsigned long long)st.delivered);
	CHECK(st.polls == st.empty_polls + batches,
	      "%s: polls %llu != empty %llu + batches %llu", name, (unsigned long long)st.polls,
	      (unsigned long long)st.empty_polls, (unsigned long long)batches);
	CHECK(latencies == st.delivered, "%s: latency histogram holds %llu of %llu", name,
	      (unsigned long long)latencies, (unsigned long long)st.delivered);
	if (policy == RC_DROP_LATE)
		CHECK(r.dropped > 0, "drop-late: a full ring dropped nothing");
	rc_ring_destroy(r.ring);
}

int main(int argc, char **argv)
{
	double seconds = run_seconds(argc, argv, 1.0);
	run_policy(RC_DROP_EARLY, RC_WAIT_YIELD, 0, seconds / 3);
	run_policy(RC_DROP_LATE, RC_WAIT_SLEEP, 50, seconds / 3);
	run_policy(RC_DROP_EARLY, RC_WAIT_EVENT, 0, seconds / 3);
	return test_result("ring_stress_two_threads");
}
