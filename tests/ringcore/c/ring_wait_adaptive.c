/* ring_wait_adaptive.c — RC_WAIT_ADAPTIVE: a spin that finds work is
 * counted as such and makes no system call; one that runs out sleeps on the
 * producer's event and is woken by it; the spin is bounded (config and
 * rc_ring_set_spin refuse more than RC_SPIN_MAX_US).  Then a producer and a
 * consumer thread while a third switches the wait strategy every few
 * hundred microseconds through all five: every packet arrives once, in
 * order, intact, and the accounting identity holds at the end.
 * Usage: ring_wait_adaptive [seconds]   (default 1.0, the switching run) */
#include "helpers.h"

#include <pthread.h>

#define SLOT_SIZE 256u
#define RING_PAGES 3u
#define DATA_ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define STREAM 11u
#define STUCK_NS 5000000000ull

struct run {
	struct rc_ring *ring;
	uint64_t packets;       /* to produce; 0: until stop */
	uint64_t gap_ns;        /* producer's pause after each packet */
	_Atomic int stop;
	_Atomic uint64_t produced;
	_Atomic int producer_done;
	uint64_t consumed, wrong;
};

static void pause_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

static void *producer(void *arg)
{
	struct run *r = arg;
	uint8_t buf[DATA_ROOM];
	for (uint64_t seq = 0; r->packets ? seq < r->packets : !atomic_load(&r->stop); seq++) {
		uint32_t len = packet_size(seq, DATA_ROOM);
		fill_packet(STREAM, seq, buf, len);
		uint64_t since = mono_ns();
		/* a full ring: wait as a drop-early capture does, nothing dropped */
		while (rc_ring_produce(r->ring, buf, len, len, seq, (int32_t)checksum(buf, len), 0) == -ENOBUFS) {
			rc_ring_notify(r->ring);
			REQUIRE(mono_ns() - since < STUCK_NS, "consumer stuck at packet %llu", (unsigned long long)seq);
			sched_yield();
		}
		rc_ring_notify(r->ring);
		atomic_store(&r->produced, seq + 1);
		if (r->gap_ns)
			pause_ns(r->gap_ns);
	}
	atomic_store(&r->producer_done, 1);
	return NULL;
}

/* Poll, check each packet's sequence and bytes, release, wait when empty:
 * the drain's loop. */
static void *consumer(void *arg)
{
	struct run *r = arg;
	REQUIRE(rc_ring_attach_consumer(r->ring) == 0, "attach");
	uint8_t expect[DATA_ROOM];
	uint64_t idle_since = mono_ns();
	for (;;) {
		uint64_t pos;
		uint32_t n = rc_ring_poll(r->ring, 32, &pos);
		for (uint32_t i = 0; i < n; i++) {
			const struct rc_slot_hdr *h = rc_ring_next(r->ring, &pos);
			uint64_t seq = r->consumed + r->wrong;
			fill_packet(STREAM, seq, expect, packet_size(seq, DATA_ROOM));
			if (h->ts_ns != seq || h->caplen != packet_size(seq, DATA_ROOM) ||
			    memcmp(h + 1, expect, h->caplen) != 0) {
				if (!TOO_MANY_FAILURES)
					CHECK(0, "packet %llu: got sequence %llu, %u bytes", (unsigned long long)seq,
					      (unsigned long long)h->ts_ns, h->caplen);
				r->wrong++;
			} else {
				r->consumed++;
			}
		}
		if (n) {
			REQUIRE(rc_ring_release(r->ring, n) == 0, "release");
			idle_since = mono_ns();
			continue;
		}
		if (atomic_load(&r->producer_done) && r->consumed + r->wrong == atomic_load(&r->produced))
			break;
		REQUIRE(mono_ns() - idle_since < STUCK_NS, "no packet for 5 s after %llu",
			(unsigned long long)r->consumed);
		rc_ring_wait(r->ring);
	}
	rc_ring_detach_consumer(r->ring);
	return NULL;
}

static void run_threads(struct run *r)
{
	pthread_t p, c;
	REQUIRE(pthread_create(&c, NULL, consumer, r) == 0, "consumer thread");
	REQUIRE(pthread_create(&p, NULL, producer, r) == 0, "producer thread");
	pthread_join(p, NULL);
	pthread_join(c, NULL);
}

static struct rc_ring *adaptive_ring(uint32_t spin_us)
{
	struct rc_ring_config cfg = { .slot_size = SLOT_SIZE, .ring_pages = RING_PAGES,
				      .drop_policy = RC_DROP_EARLY, .wait_strategy = RC_WAIT_ADAPTIVE,
				      .poll_interval_us = 1000, .spin_us = spin_us };
	return make_ring_from(&cfg);
}

static void check_limits(void)
{
	struct rc_ring_config cfg = { .slot_size = SLOT_SIZE, .ring_pages = RING_PAGES,
				      .wait_strategy = RC_WAIT_ADAPTIVE, .spin_us = RC_SPIN_MAX_US + 1 };
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_ring *ring = NULL;
	CHECK(rc_ring_create(&cfg, &ring, err, sizeof(err)) == -EINVAL && strstr(err, "spin"),
	      "a spin above the limit is refused with a reason: %s", err);
	struct rc_ring *r = adaptive_ring(0);
	CHECK(ring_stats(r).spin_us == RC_SPIN_DEFAULT_US, "0 means the default spin");
	CHECK(rc_ring_set_spin(r, RC_SPIN_MAX_US + 1) == -EINVAL, "set_spin refuses above the limit");
	CHECK(rc_ring_set_spin(r, 7) == 0 && ring_stats(r).spin_us == 7, "set_spin applies");
	CHECK(rc_ring_set_wait(r, RC_WAIT_ADAPTIVE + 1, 0) == -EINVAL, "no strategy past adaptive");
	rc_ring_destroy(r);
}

/* A producer far faster than the wait: with the longest spin nearly every
 * wait finds work without a system call. */
static void check_spin_finds_work(void)
{
	struct run r = { .ring = adaptive_ring(RC_SPIN_MAX_US), .packets = 20000 };
	run_threads(&r);
	struct rc_stats st = ring_stats(r.ring);
	CHECK(r.consumed == r.packets && r.wrong == 0, "busy: %llu of %llu intact",
	      (unsigned long long)r.consumed, (unsigned long long)r.packets);
	CHECK(st.spin_found > 0, "a busy producer's packets are found by spinning");
	CHECK(st.spin_found + st.spin_slept == st.sleeps, "every adaptive wait either found work or slept: %llu + %llu != %llu",
	      (unsigned long long)st.spin_found, (unsigned long long)st.spin_slept, (unsigned long long)st.sleeps);
	CHECK(st.wakeups <= st.spin_slept, "only a spin that ran out sleeps");
	rc_ring_destroy(r.ring);
}

/* Packets 5 ms apart, a 20 us spin: the gaps outlast the spin, the
 * consumer sleeps on the event and the producer's notify wakes it. */
static void check_spin_runs_out_and_sleeps(void)
{
	struct run r = { .ring = adaptive_ring(20), .packets = 20, .gap_ns = 5000000 };
	run_threads(&r);
	struct rc_stats st = ring_stats(r.ring);
	CHECK(r.consumed == r.packets && r.wrong == 0, "sparse: %llu of %llu intact",
	      (unsigned long long)r.consumed, (unsigned long long)r.packets);
	CHECK(st.spin_slept > 0 && st.wakeups > 0, "gaps longer than the spin sleep: slept %llu, woke %llu",
	      (unsigned long long)st.spin_slept, (unsigned long long)st.wakeups);
	CHECK(st.wakeups <= st.spin_slept, "only a spin that ran out sleeps");
	rc_ring_destroy(r.ring);
}

struct switcher {
	struct rc_ring *ring;
	_Atomic int stop;
	uint64_t switches;
};

static void *switch_strategies(void *arg)
{
	struct switcher *s = arg;
	static const int32_t order[] = { RC_WAIT_SLEEP, RC_WAIT_ADAPTIVE, RC_WAIT_EVENT, RC_WAIT_YIELD,
					 RC_WAIT_SPIN, RC_WAIT_ADAPTIVE };
	while (!atomic_load(&s->stop)) {
		int32_t strategy = order[s->switches % (sizeof(order) / sizeof(order[0]))];
		REQUIRE(rc_ring_set_wait(s->ring, strategy, 50) == 0, "set_wait %d", strategy);
		REQUIRE(rc_ring_set_spin(s->ring, 1 + (uint32_t)(s->switches % 100)) == 0, "set_spin");
		s->switches++;
		pause_ns(300000);
	}
	return NULL;
}

static void check_switching_loses_nothing(double seconds)
{
	struct run r = { .ring = adaptive_ring(0), .gap_ns = 20000 };
	struct switcher s = { .ring = r.ring };
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, switch_strategies, &s) == 0, "switcher thread");
	pthread_t p, c;
	REQUIRE(pthread_create(&c, NULL, consumer, &r) == 0, "consumer thread");
	REQUIRE(pthread_create(&p, NULL, producer, &r) == 0, "producer thread");
	pause_ns((uint64_t)(seconds * 1e9));
	atomic_store(&r.stop, 1);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	atomic_store(&s.stop, 1);
	pthread_join(t, NULL);
	struct rc_stats st = ring_stats(r.ring);
	uint64_t produced = atomic_load(&r.produced);
	CHECK(produced > 0 && r.consumed == produced && r.wrong == 0, "switching: %llu of %llu intact",
	      (unsigned long long)r.consumed, (unsigned long long)produced);
	CHECK(st.produced == produced && st.produced == st.delivered + st.occupancy && st.occupancy == 0,
	      "identity: produced %llu delivered %llu occupancy %llu", (unsigned long long)st.produced,
	      (unsigned long long)st.delivered, (unsigned long long)st.occupancy);
	CHECK(s.switches > 2, "the strategy changed during the run (%llu times)", (unsigned long long)s.switches);
	rc_ring_destroy(r.ring);
}

int main(int argc, char **argv)
{
	check_limits();
	check_spin_finds_work();
	check_spin_runs_out_and_sleeps();
	check_switching_loses_nothing(run_seconds(argc, argv, 1.0));
	return test_result("ring_wait_adaptive");
}
