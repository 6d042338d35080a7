/* talkers_drain_concurrent.c — a drain counts every batch into a talkers
 * table while another thread keeps reading its top: no reading ever shows
 * more than was produced, and once the drain stopped, tracked + rest is
 * exactly what the producer stored, per conversation and direction.
 * Usage: talkers_drain_concurrent [seconds]   (default 1.0) */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 128u
#define FRAME_BYTES 34u /* Ethernet + IPv4 header */
#define HOSTS 16u

struct shared {
	_Atomic int producing;
	_Atomic uint64_t produced_bytes;
	struct rc_talkers *talkers;
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Frame seq: from host seq % HOSTS to host (seq / HOSTS) % HOSTS. */
static void frame(uint64_t seq, uint8_t *buf)
{
	memset(buf, 0, FRAME_BYTES);
	buf[12] = 0x08;
	buf[14] = 0x45;
	buf[14 + 12] = buf[14 + 16] = 198;
	buf[14 + 15] = (uint8_t)(seq % HOSTS);
	buf[14 + 19] = (uint8_t)((seq / HOSTS) % HOSTS);
}

static uint32_t wire_bytes(uint64_t seq)
{
	return 60 + (uint32_t)(mix64(seq) % 1400);
}

static void *read_top(void *arg)
{
	struct shared *sh = arg;
	struct rc_talker top[HOSTS * HOSTS], rest;
	while (atomic_load(&sh->producing) && !TOO_MANY_FAILURES) {
		uint64_t before = atomic_load(&sh->produced_bytes);
		uint32_t n = rc_talkers_top(sh->talkers, realtime_ns(), top, HOSTS * HOSTS, &rest);
		uint64_t seen = rest.bytes_ab + rest.bytes_ba;
		for (uint32_t i = 0; i < n; i++)
			seen += top[i].bytes_ab + top[i].bytes_ba;
		uint64_t after = atomic_load(&sh->produced_bytes);
		CHECK(seen <= after, "read %llu bytes, only %llu produced (%llu before)",
		      (unsigned long long)seen, (unsigned long long)after, (unsigned long long)before);
		sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = run_seconds(argc, argv, 1.0);
	struct rc_ring *ring = make_ring(SLOT_SIZE, 9, RC_DROP_EARLY, RC_WAIT_SLEEP, 100);
	struct shared sh = { .producing = 1 };
	REQUIRE(rc_talkers_create(1, &sh.talkers) == 0, "rc_talkers_create");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_drain *d;
	REQUIRE(rc_drain_start(ring, NULL, 0, sh.talkers, NULL, 0, NULL, 13, &d, err, sizeof(err)) == 0,
		"drain: %s", err);
	pthread_t reader;
	REQUIRE(pthread_create(&reader, NULL, read_top, &sh) == 0, "pthread_create");

	/* expected bytes per ordered (src, dst) pair */
	static uint64_t sent[HOSTS][HOSTS];
	uint8_t buf[FRAME_BYTES];
	uint64_t seq = 0, deadline = mono_ns() + (uint64_t)(seconds * 1e9);
	while (mono_ns() < deadline) {
		frame(seq, buf);
		uint32_t wire = wire_bytes(seq);
		/* counted before the drain can see it, so readers never see more */
		atomic_fetch_add(&sh.produced_bytes, wire);
		if (rc_ring_produce(ring, buf, FRAME_BYTES, wire, realtime_ns(), 0, 0) != 0) {
			atomic_fetch_sub(&sh.produced_bytes, wire);
			sched_yield();
			continue;
		}
		sent[seq % HOSTS][(seq / HOSTS) % HOSTS] += wire;
		seq++;
	}
	rc_drain_stop(d, 1);
	atomic_store(&sh.producing, 0);
	pthread_join(reader, NULL);

	struct rc_talker top[HOSTS * HOSTS], rest;
	uint32_t n = rc_talkers_top(sh.talkers, realtime_ns(), top, HOSTS * HOSTS, &rest);
	CHECK(rest.packets == 0, "%llu packets in the rest", (unsigned long long)rest.packets);
	uint32_t pairs = 0;
	for (uint32_t i = 0; i < HOSTS; i++)
		for (uint32_t j = i; j < HOSTS; j++)
			pairs += sent[i][j] || sent[j][i];
	CHECK(n == pairs, "%u conversations, %u expected", n, pairs);
	for (uint32_t k = 0; k < n && !TOO_MANY_FAILURES; k++) {
		uint8_t a = top[k].a[3], b = top[k].b[3];
		CHECK(a <= b && top[k].bytes_ab == sent[a][b] && top[k].bytes_ba == (a == b ? 0 : sent[b][a]),
		      "198.%u <-> %u: %llu/%llu", a, b, (unsigned long long)top[k].bytes_ab,
		      (unsigned long long)top[k].bytes_ba);
	}
	CHECK(seq > 1000, "only %llu packets produced", (unsigned long long)seq);
	struct rc_stats st = ring_stats(ring);
	CHECK(st.delivered == seq, "delivered %llu of %llu", (unsigned long long)st.delivered,
	      (unsigned long long)seq);
	rc_talkers_destroy(sh.talkers);
	rc_ring_destroy(ring);
	return test_result("talkers_drain_concurrent");
}
