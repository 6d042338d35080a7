/* drain_shared_limit.c — two drain threads, each moving its ring's batches
 * into one pcapng writer, share one rc_limit: together they take exactly the
 * limit (the last batch is cut short), every packet they took is in the file
 * in order under its interface, and nothing more is taken afterwards, not
 * even by a stop that drains the rest.
 * Usage: drain_shared_limit [seconds]   (default 1.0; rounds until then) */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 256u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define MAX_ROUNDS 40

struct feeder {
	struct rc_ring *ring;
	struct rc_limit *limit;
	uint32_t stream;
	uint64_t packets; /* to offer */
	uint64_t produced;
};

/* Keeps the ring full until the limit is reached: both drains always have
 * a batch to cut. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	uint8_t buf[ROOM];
	uint64_t started = mono_ns();
	while (f->produced < f->packets) {
		uint64_t seq = f->produced;
		uint32_t len = packet_size(seq, ROOM);
		fill_packet(f->stream, seq, buf, len);
		int rc = rc_ring_produce(f->ring, buf, len, len, 1000000000ull + seq, 0, 0);
		if (rc == 0) {
			f->produced++;
			continue;
		}
		if (atomic_load(&f->limit->reached))
			break;
		if (mono_ns() - started > 5000000000ull) {
			CHECK(0, "ring %u full for 5 s and the limit not reached", f->stream);
			break;
		}
		sched_yield();
	}
	return NULL;
}

static void round_trip(const char *dir, int round, int64_t limit_count)
{
	char *path;
	REQUIRE(asprintf(&path, "%s/limit-%d.pcapng", dir, round) > 0, "asprintf");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_writer *w;
	REQUIRE(rc_writer_open(path, RC_FORMAT_PCAPNG, &w, err, sizeof(err)) == 0, "open: %s", err);
	struct rc_limit limit = { limit_count, 0 };
	struct rc_ring *rings[2];
	struct rc_drain *drains[2];
	struct feeder feeders[2];
	pthread_t threads[2];
	const char *names[2] = { "a", "b" };
	for (int i = 0; i < 2; i++) {
		rings[i] = make_ring(SLOT_SIZE, 5, RC_DROP_EARLY, RC_WAIT_SLEEP, 100);
		int ifid = rc_writer_add_interface(w, names[i], 1, 65535);
		REQUIRE(ifid == i, "interface %d got id %d", i, ifid);
		/* odd batch sizes, so the limit falls inside a batch */
		REQUIRE(rc_drain_start(rings[i], w, ifid, NULL, NULL, 0, &limit, i ? 5 : 7, &drains[i], err,
				       sizeof(err)) == 0, "drain: %s", err);
		feeders[i] = (struct feeder){ rings[i], &limit, (uint32_t)i, (uint64_t)limit_count * 2, 0 };
		REQUIRE(pthread_create(&threads[i], NULL, feed, &feeders[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	uint64_t deadline = mono_ns() + 5000000000ull;
	while (!atomic_load(&limit.reached) && mono_ns() < deadline)
		sched_yield();
	CHECK(atomic_load(&limit.reached), "round %d: limit %lld never reached", round,
	      (long long)limit_count);
	/* a stop that drains the rest must still respect the limit */
	for (int i = 0; i < 2; i++)
		rc_drain_stop(drains[i], 1);

	uint64_t delivered[2], total = 0;
	for (int i = 0; i < 2; i++) {
		struct rc_stats st = ring_stats(rings[i]);
		delivered[i] = st.delivered;
		total += st.delivered;
		CHECK(st.kernel_packets == st.delivered + st.ring_drops + st.occupancy,
		      "round %d ring %d: accounting", round, i);
	}
	CHECK(total == (uint64_t)limit_count, "round %d: drains took %llu + %llu, limit %lld",
	      round, (unsigned long long)delivered[0], (unsigned long long)delivered[1],
	      (long long)limit_count);
	CHECK(atomic_load(&limit.remaining) == 0, "round %d: remaining %lld", round,
	      (long long)atomic_load(&limit.remaining));
	CHECK(rc_writer_packets(w) == (uint64_t)limit_count, "round %d: writer has %llu packets",
	      round, (unsigned long long)rc_writer_packets(w));
	int rc = rc_writer_close(w, NULL, err, sizeof(err));
	CHECK(rc == 0, "round %d: close: %d %s", round, rc, err);

	struct capture_file file;
	if (read_capture(path, &file) == 0) {
		CHECK(file.packets == (uint64_t)limit_count && file.interfaces == 2,
		      "round %d: file holds %llu packets of %u interfaces", round,
		      (unsigned long long)file.packets, file.interfaces);
		uint64_t next[2] = { 0, 0 };
		uint8_t buf[ROOM];
		for (uint64_t k = 0; k < file.packets && !TOO_MANY_FAILURES; k++) {
			const struct file_packet *p = &file.packet[k];
			uint32_t i = p->ifid;
			uint64_t seq = p->ts_ns - 1000000000ull;
			uint32_t len = packet_size(seq, ROOM);
			fill_packet(i, seq, buf, len);
			CHECK(seq == next[i] && p->caplen == len && memcmp(p->data, buf, len) == 0,
			      "round %d: interface %u packet %llu is %llu (%u bytes)", round, i,
			      (unsigned long long)next[i], (unsigned long long)seq, p->caplen);
			next[i] = seq + 1;
		}
		CHECK(next[0] == delivered[0] && next[1] == delivered[1],
		      "round %d: file has %llu/%llu per interface, drains delivered %llu/%llu", round,
		      (unsigned long long)next[0], (unsigned long long)next[1],
		      (unsigned long long)delivered[0], (unsigned long long)delivered[1]);
	} else {
		CHECK(0, "round %d: unreadable file", round);
	}
	free_capture(&file);
	for (int i = 0; i < 2; i++)
		rc_ring_destroy(rings[i]);
	unlink(path);
	free(path);
}

int main(int argc, char **argv)
{
	double seconds = run_seconds(argc, argv, 1.0);
	char *dir = make_temp_dir();
	uint64_t deadline = mono_ns() + (uint64_t)(seconds * 1e9);
	int round = 0;
	do {
		round_trip(dir, round, 1 + (int64_t)(mix64((uint64_t)round) % 700));
		round++;
	} while (round < MAX_ROUNDS && mono_ns() < deadline && !TOO_MANY_FAILURES);
	printf("%d rounds\n", round);
	rmdir(dir);
	free(dir);
	return test_result("drain_shared_limit");
}
