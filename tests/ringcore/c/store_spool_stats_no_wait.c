/* store_spool_stats_no_wait.c — a drain stuck in the middle of storing a
 * batch (the test holds the store's lock, as a write to a slow disk would)
 * does not stop rc_drain_stats: a snapshot taken meanwhile returns, with
 * delivered == stored + store_failed and the stuck batch in none of them. */
#include "helpers.h"
#include "store_internal.h"

#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 256u
#define FIRST 100u
#define STUCK 40u
#define WAIT_S 10

struct snapshot {
	struct rc_drain *drain;
	struct rc_stats st;
	_Atomic int done;
};

static void *take_snapshot(void *arg)
{
	struct snapshot *s = arg;
	rc_drain_stats(s->drain, &s->st);
	atomic_store(&s->done, 1);
	return NULL;
}

static void produce(struct rc_ring *ring, uint64_t from, uint64_t to)
{
	uint8_t buf[64];
	for (uint64_t seq = from; seq < to; seq++) {
		fill_packet(1, seq, buf, sizeof(buf));
		REQUIRE(rc_ring_produce(ring, buf, sizeof(buf), sizeof(buf), seq, 0, 0) == 0,
			"produce %llu", (unsigned long long)seq);
	}
}

/* Until cond, for at most WAIT_S seconds. */
#define WAIT_UNTIL(cond)                                                              \
	do {                                                                          \
		uint64_t deadline = mono_ns() + WAIT_S * 1000000000ull;              \
		while (!(cond) && mono_ns() < deadline)                               \
			sched_yield();                                                \
	} while (0)

int main(void)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(NULL, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_MIN_PACKETS,
				      &store, err, sizeof(err)) == 0, "spool: %s", err);
	REQUIRE(rc_store_add_interface(store, "a", 1, 65535) == 0, "interface");
	struct rc_ring *ring = make_ring(SLOT_SIZE, 9, RC_DROP_EARLY, RC_WAIT_SLEEP, 50);
	struct rc_drain *drain;
	REQUIRE(rc_drain_start(ring, NULL, 0, NULL, store, 7, NULL, 16, &drain, err, sizeof(err)) ==
			-EINVAL && strstr(err, "no interface 7"), "a drain into no interface: %s", err);
	REQUIRE(rc_drain_start(ring, NULL, 0, NULL, store, 0, NULL, 16, &drain, err, sizeof(err)) == 0,
		"drain: %s", err);
	produce(ring, 0, FIRST);
	WAIT_UNTIL(ring_stats(ring).stored == FIRST);
	REQUIRE(ring_stats(ring).stored == FIRST, "the drain stored %llu of %u",
		(unsigned long long)ring_stats(ring).stored, FIRST);

	/* the drain takes the next batch and waits for the store */
	pthread_mutex_lock(&store->lock);
	produce(ring, FIRST, FIRST + STUCK);
	WAIT_UNTIL(ring_stats(ring).consuming != ring_stats(ring).tail);
	CHECK(ring_stats(ring).consuming != ring_stats(ring).tail, "the drain took no batch");

	struct snapshot snap = { .drain = drain };
	pthread_t reader;
	REQUIRE(pthread_create(&reader, NULL, take_snapshot, &snap) == 0, "pthread_create");
	WAIT_UNTIL(atomic_load(&snap.done));
	int returned = atomic_load(&snap.done);
	CHECK(returned, "rc_drain_stats waited for the store for %d s", WAIT_S);
	pthread_mutex_unlock(&store->lock);
	pthread_join(reader, NULL);
	if (returned)
		CHECK(snap.st.delivered == FIRST && snap.st.stored == FIRST &&
			      snap.st.store_failed == 0 && snap.st.store_evicted == 0,
		      "while stuck: delivered %llu, stored %llu, failed %llu, evicted %llu",
		      (unsigned long long)snap.st.delivered, (unsigned long long)snap.st.stored,
		      (unsigned long long)snap.st.store_failed,
		      (unsigned long long)snap.st.store_evicted);

	rc_drain_stop(drain, 1);
	struct rc_stats st = ring_stats(ring);
	CHECK(st.delivered == FIRST + STUCK && st.stored == st.delivered && st.store_failed == 0,
	      "after: delivered %llu, stored %llu", (unsigned long long)st.delivered,
	      (unsigned long long)st.stored);
	rc_ring_destroy(ring);
	rc_store_close(store);
	return test_result("store_spool_stats_no_wait");
}
