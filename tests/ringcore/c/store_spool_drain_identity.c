/* store_spool_drain_identity.c — two drains store two rings' packets in one
 * small spool with the smallest index, in phases of small packets (the index
 * fills first) and large ones (the bytes do), evicting many times over, while
 * a third thread takes snapshots: in every rc_drain_stats snapshot delivered
 * == stored + store_failed (and nothing failed) and 0 <= store_evicted <=
 * stored (what the store holds of that interface is the difference), and in
 * every rc_store_info reading the packets held fit the index and their bytes
 * the spool.  At the end every packet produced was stored once.
 * Usage: store_spool_drain_identity [seconds]   (default 1.0) */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 2048u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define MAX_PACKETS 200000u
#define SMALL 64u
#define PHASE_PACKETS 8192u /* of small packets: twice the index */

struct feeder {
	struct rc_ring *ring;
	uint64_t deadline_ns;
	uint64_t produced;
};

struct watcher {
	struct rc_drain **drains;
	struct rc_store *store;
	_Atomic int stop;
	uint64_t snapshots;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	uint8_t buf[ROOM];
	for (uint64_t seq = 0; seq < MAX_PACKETS && mono_ns() < f->deadline_ns; seq++) {
		uint32_t len = packet_size(seq, (seq / PHASE_PACKETS) % 2 ? ROOM : SMALL);
		fill_packet(1, seq, buf, len);
		while (rc_ring_produce(f->ring, buf, len, len, 1000 + seq, 0, 0) == -ENOBUFS)
			sched_yield();
		f->produced = seq + 1;
	}
	return NULL;
}

static void *watch(void *arg)
{
	struct watcher *w = arg;
	while (!atomic_load(&w->stop) && !TOO_MANY_FAILURES) {
		for (int i = 0; i < 2; i++) {
			struct rc_stats st;
			rc_drain_stats(w->drains[i], &st);
			CHECK(st.delivered == st.stored + st.store_failed,
			      "ring %d: delivered %llu, stored %llu + failed %llu", i,
			      (unsigned long long)st.delivered, (unsigned long long)st.stored,
			      (unsigned long long)st.store_failed);
			CHECK(st.store_failed == 0, "ring %d: %llu not stored", i,
			      (unsigned long long)st.store_failed);
			CHECK(st.store_evicted <= st.stored, "ring %d: evicted %llu of %llu stored", i,
			      (unsigned long long)st.store_evicted, (unsigned long long)st.stored);
		}
		struct rc_store_info info;
		rc_store_info(w->store, &info);
		CHECK(info.first <= info.count && info.count - info.first <= RC_STORE_SPOOL_MIN_PACKETS &&
			      info.error == 0, "store: first %llu count %llu error %d",
		      (unsigned long long)info.first, (unsigned long long)info.count, info.error);
		CHECK(info.bytes_held <= info.bytes_total, "store holds %llu bytes of %llu",
		      (unsigned long long)info.bytes_held, (unsigned long long)info.bytes_total);
		w->snapshots++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = run_seconds(argc, argv, 1.0);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(NULL, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_MIN_PACKETS,
				      &store, err, sizeof(err)) == 0,
		"spool: %s", err);
	struct rc_ring *rings[2];
	struct rc_drain *drains[2];
	struct feeder feeders[2];
	pthread_t threads[2], watcher_thread;
	uint64_t deadline = mono_ns() + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < 2; i++) {
		rings[i] = make_ring(SLOT_SIZE, 17, RC_DROP_EARLY, RC_WAIT_SLEEP, 50);
		int number = rc_store_add_interface(store, i ? "b" : "a", 1, 65535);
		REQUIRE(number == i, "interface %d got number %d", i, number);
		REQUIRE(rc_drain_start(rings[i], NULL, 0, NULL, store, (uint32_t)number, NULL, 32,
				       &drains[i], err, sizeof(err)) == 0, "drain: %s", err);
		feeders[i] = (struct feeder){ rings[i], deadline, 0 };
	}
	struct watcher w = { .drains = drains, .store = store };
	REQUIRE(pthread_create(&watcher_thread, NULL, watch, &w) == 0, "pthread_create");
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&threads[i], NULL, feed, &feeders[i]) == 0, "pthread_create");
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 2; i++)
		while (ring_stats(rings[i]).delivered < feeders[i].produced)
			sched_yield();
	atomic_store(&w.stop, 1);
	pthread_join(watcher_thread, NULL);
	uint64_t stored = 0;
	for (int i = 0; i < 2; i++) {
		struct rc_stats st;
		rc_drain_stats(drains[i], &st);
		CHECK(st.stored == feeders[i].produced && st.delivered == st.stored,
		      "ring %d: produced %llu, stored %llu", i, (unsigned long long)feeders[i].produced,
		      (unsigned long long)st.stored);
		struct rc_store_interface_info info;
		REQUIRE(rc_store_interface(store, (uint32_t)i, &info) == 0, "interface %d", i);
		CHECK(info.packets == st.stored && info.evicted == st.store_evicted,
		      "interface %d: %llu packets, %llu evicted", i, (unsigned long long)info.packets,
		      (unsigned long long)info.evicted);
		stored += st.stored;
		rc_drain_stop(drains[i], 1);
		rc_ring_destroy(rings[i]);
	}
	struct rc_store_info info;
	rc_store_info(store, &info);
	printf("%llu packets stored, %llu evicted, %llu snapshots\n", (unsigned long long)info.count,
	       (unsigned long long)info.first, (unsigned long long)w.snapshots);
	CHECK(info.count == stored, "store counted %llu of %llu", (unsigned long long)info.count,
	      (unsigned long long)stored);
	CHECK(info.first > 0, "a 1 MiB spool evicted nothing of %llu packets", (unsigned long long)stored);
	CHECK(w.snapshots > 10, "only %llu snapshots", (unsigned long long)w.snapshots);
	rc_store_close(store);
	return test_result("store_spool_drain_identity");
}
