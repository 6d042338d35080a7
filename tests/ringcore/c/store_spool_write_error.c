/* store_spool_write_error.c — a spool that cannot grow (a file size limit
 * stands in for a full disk): a drain goes on delivering, every packet it
 * delivers is stored or counted as failed (delivered == stored +
 * store_failed), the packets written whole before the error read back, and
 * the store's error is one line that counts the packets not stored. */
#include "helpers.h"

#include <signal.h>
#include <sched.h>
#include <sys/resource.h>

#define SLOT_SIZE 2048u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define FILE_LIMIT (300u * 1024u)
#define PACKETS 2000u

static uint32_t size_of(uint64_t seq)
{
	return 200 + packet_size(seq, ROOM - 200);
}

/* Packet seq: its number in its first bytes, then bytes that follow from it. */
static uint32_t make_packet(uint64_t seq, uint8_t *buf)
{
	uint32_t len = size_of(seq);
	fill_packet(3, seq, buf, len);
	memcpy(buf, &seq, 8);
	return len;
}

int main(void)
{
	signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
	struct rlimit limit = { FILE_LIMIT, FILE_LIMIT };
	REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit: %s", strerror(errno));
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(NULL, 4 * RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_DEFAULT_PACKETS,
				      &store, err, sizeof(err)) == 0,
		"spool: %s", err);
	REQUIRE(rc_store_add_interface(store, "a", 1, 65535) == 0, "interface");
	struct rc_ring *ring = make_ring(SLOT_SIZE, 9, RC_DROP_EARLY, RC_WAIT_SLEEP, 50);
	struct rc_drain *drain;
	REQUIRE(rc_drain_start(ring, NULL, 0, NULL, store, 0, NULL, 16, &drain, err, sizeof(err)) == 0,
		"drain: %s", err);
	uint8_t buf[ROOM];
	for (uint64_t seq = 0; seq < PACKETS; seq++) {
		uint32_t len = make_packet(seq, buf);
		while (rc_ring_produce(ring, buf, len, len, 1000 + seq, 0, 0) == -ENOBUFS)
			sched_yield();
	}
	while (ring_stats(ring).delivered < PACKETS)
		sched_yield();
	struct rc_stats st;
	rc_drain_stats(drain, &st);
	rc_drain_stop(drain, 1);
	rc_ring_destroy(ring);
	printf("stored %llu, failed %llu\n", (unsigned long long)st.stored,
	       (unsigned long long)st.store_failed);
	CHECK(st.delivered == PACKETS && st.delivered == st.stored + st.store_failed,
	      "delivered %llu = stored %llu + failed %llu", (unsigned long long)st.delivered,
	      (unsigned long long)st.stored, (unsigned long long)st.store_failed);
	CHECK(st.stored > 0 && st.store_failed > 0, "the limit was not reached");

	struct rc_store_info info;
	rc_store_info(store, &info);
	CHECK(info.count == st.stored && info.first == 0, "store: %llu packets from %llu",
	      (unsigned long long)info.count, (unsigned long long)info.first);
	CHECK(info.bytes_held <= FILE_LIMIT, "holds %llu bytes past the limit",
	      (unsigned long long)info.bytes_held);
	char want[64];
	snprintf(want, sizeof(want), ": %llu packets not stored", (unsigned long long)st.store_failed);
	CHECK(info.error == -EFBIG && strstr(info.error_message, want) &&
	      !strchr(info.error_message, '\n'), "error %d: %s", info.error, info.error_message);
	/* after the error, a small packet may still fit below the limit: the
	 * packets held are some of those delivered, in order, each whole */
	uint64_t previous = 0;
	for (uint64_t number = 0; number < info.count && !TOO_MANY_FAILURES; number++) {
		uint8_t got[ROOM];
		int64_t caplen = rc_store_read(store, number, got, sizeof(got));
		uint64_t seq;
		memcpy(&seq, got, 8);
		CHECK(caplen >= 200 && seq < PACKETS && (number == 0 || seq > previous),
		      "stored packet %llu is not a delivered one", (unsigned long long)number);
		if (caplen < 200 || seq >= PACKETS)
			continue;
		make_packet(seq, buf);
		CHECK(caplen == size_of(seq) && memcmp(got, buf, size_of(seq)) == 0,
		      "stored packet %llu (sent %llu) is torn", (unsigned long long)number,
		      (unsigned long long)seq);
		previous = seq;
	}
	rc_store_close(store);
	return test_result("store_spool_write_error");
}
