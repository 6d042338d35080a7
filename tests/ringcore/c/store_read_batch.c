/* store_read_batch.c — rc_store_read_batch over an evicting spool: a batch
 * of every packet held (several of the lock's 1024-packet steps) gives each
 * packet's entry and bytes exactly as rc_store_entries and rc_store_read do,
 * one after the other in the buffer; a batch starting at an evicted or
 * unstored number is empty, one running past the newest is cut there, one
 * whose bytes outgrow the buffer stops before the packet that does not fit
 * (-ENOBUFS when that is the first, its entry out); and while a thread keeps
 * appending (and so evicting), every batch read is a run of consecutive
 * packets, each whole and right. */
#include "helpers.h"

#include <pthread.h>

#define MAX_LEN 600u /* about 3500 packets in the minimum spool */
#define BATCH 17u
#define PACKETS 6000u
#define MORE_PACKETS 30000u /* appended while a reader reads */
#define READ_MAX 4096u

static struct rc_slot_hdr *make_record(uint64_t seq)
{
	uint32_t len = packet_size(seq, MAX_LEN);
	struct rc_slot_hdr *slot = malloc(sizeof(*slot) + len);
	*slot = (struct rc_slot_hdr){ .caplen = len, .wirelen = len + 1, .ts_ns = 1000 + seq, .slots = 1 };
	fill_packet(3, seq, (uint8_t *)(slot + 1), len);
	return slot;
}

static void append(struct rc_store *store, uint64_t from, uint64_t to)
{
	for (uint64_t seq = from; seq < to; seq += BATCH) {
		struct rc_slot_hdr *batch[BATCH];
		uint32_t n = 0;
		for (; n < BATCH && seq + n < to; n++)
			batch[n] = make_record(seq + n);
		CHECK(rc_store_append(store, 0, (const struct rc_slot_hdr *const *)batch, n) == (int)n,
		      "batch at %llu", (unsigned long long)seq);
		for (uint32_t i = 0; i < n; i++)
			free(batch[i]);
	}
}

/* Packets start .. start+copied-1 as read: each entry and its bytes at its
 * place in buf are packet seq's. */
static void check_run(const char *what, uint64_t start, int64_t copied,
		      const struct rc_store_entry *out, const uint8_t *buf)
{
	uint64_t offset = 0;
	for (int64_t i = 0; i < copied && !TOO_MANY_FAILURES; i++) {
		uint64_t seq = start + (uint64_t)i;
		struct rc_slot_hdr *want = make_record(seq);
		CHECK(out[i].caplen == want->caplen && out[i].wirelen == want->wirelen &&
		      (uint64_t)out[i].ts_ns == want->ts_ns &&
		      memcmp(buf + offset, want + 1, want->caplen) == 0,
		      "%s: packet %llu differs", what, (unsigned long long)seq);
		offset += out[i].caplen;
		free(want);
	}
}

struct appender {
	struct rc_store *store;
	_Atomic int done;
};

static void *append_more(void *arg)
{
	struct appender *a = arg;
	append(a->store, PACKETS, PACKETS + MORE_PACKETS);
	atomic_store(&a->done, 1);
	return NULL;
}

int main(void)
{
	char err[RC_ERRBUF_SIZE] = "";
	char *dir = make_temp_dir();
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(dir, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_DEFAULT_PACKETS,
				      &store, err, sizeof(err)) == 0,
		"spool: %s", err);
	REQUIRE(rc_store_add_interface(store, "x", 1, MAX_LEN) == 0, "interface");
	append(store, 0, PACKETS);
	struct rc_store_info info;
	rc_store_info(store, &info);
	uint64_t held = info.count - info.first;
	REQUIRE(info.first > 0 && held > 2 * 1024 && held < READ_MAX, "held %llu of %llu",
		(unsigned long long)held, (unsigned long long)info.count);

	struct rc_store_entry *out = calloc(READ_MAX, sizeof(*out));
	uint8_t *buf = malloc(RC_STORE_SPOOL_MIN_BYTES);
	uint8_t *one = malloc(MAX_LEN);
	/* every packet held at once: as rc_store_entries and rc_store_read say */
	int64_t copied = rc_store_read_batch(store, info.first, READ_MAX, out, buf, RC_STORE_SPOOL_MIN_BYTES);
	CHECK(copied == (int64_t)held, "read %lld of %llu held", (long long)copied, (unsigned long long)held);
	uint64_t offset = 0;
	for (int64_t i = 0; i < copied && !TOO_MANY_FAILURES; i++) {
		uint64_t seq = info.first + (uint64_t)i;
		struct rc_store_entry e;
		REQUIRE(rc_store_entries(store, seq, &e, 1) == 1, "entry %llu", (unsigned long long)seq);
		CHECK(memcmp(&e, &out[i], sizeof(e)) == 0, "packet %llu: another entry", (unsigned long long)seq);
		CHECK(rc_store_read(store, seq, one, MAX_LEN) == e.caplen && memcmp(one, buf + offset, e.caplen) == 0,
		      "packet %llu: other bytes", (unsigned long long)seq);
		offset += e.caplen;
	}
	CHECK(offset == info.bytes_held, "%llu bytes read, %llu held", (unsigned long long)offset,
	      (unsigned long long)info.bytes_held);
	check_run("all held", info.first, copied, out, buf);

	/* evicted, not stored yet, nothing asked: empty; past the newest: cut there */
	CHECK(rc_store_read_batch(store, info.first - 1, 10, out, buf, RC_STORE_SPOOL_MIN_BYTES) == 0,
	      "a batch from an evicted packet");
	CHECK(rc_store_read_batch(store, info.count, 10, out, buf, RC_STORE_SPOOL_MIN_BYTES) == 0,
	      "a batch from the next packet");
	CHECK(rc_store_read_batch(store, info.first, 0, out, buf, RC_STORE_SPOOL_MIN_BYTES) == 0,
	      "a batch of none");
	copied = rc_store_read_batch(store, info.count - 5, 100, out, buf, RC_STORE_SPOOL_MIN_BYTES);
	CHECK(copied == 5, "a batch past the newest: %lld", (long long)copied);
	check_run("past the newest", info.count - 5, copied, out, buf);

	/* a buffer one byte short of ten packets holds nine; one short of the
	 * first holds none: -ENOBUFS and the first's entry */
	uint64_t ten = 0;
	for (uint64_t seq = info.first; seq < info.first + 10; seq++)
		ten += packet_size(seq, MAX_LEN);
	copied = rc_store_read_batch(store, info.first, 10, out, buf, ten - 1);
	CHECK(copied == 9, "ten packets into one byte less: %lld", (long long)copied);
	check_run("one byte short", info.first, copied, out, buf);
	memset(out, 0, sizeof(*out));
	uint32_t first_len = packet_size(info.first, MAX_LEN);
	CHECK(rc_store_read_batch(store, info.first, 10, out, buf, first_len - 1) == -ENOBUFS &&
		      out[0].caplen == first_len,
	      "the first packet does not fit: caplen %u, want %u", out[0].caplen, first_len);
	CHECK(rc_store_read_batch(store, info.first, 1, out, buf, first_len) == 1, "the first packet fits exactly");

	/* while a thread appends and so evicts: runs of consecutive whole packets */
	struct appender appender = { .store = store };
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, append_more, &appender) == 0, "thread");
	uint64_t batches = 0, packets_read = 0;
	while (!atomic_load(&appender.done) && !TOO_MANY_FAILURES) {
		rc_store_info(store, &info);
		/* the oldest: evicted under the read now and then */
		copied = rc_store_read_batch(store, info.first, READ_MAX, out, buf, RC_STORE_SPOOL_MIN_BYTES);
		CHECK(copied >= 0 && copied <= READ_MAX, "while appending: %lld", (long long)copied);
		check_run("while appending", info.first, copied, out, buf);
		batches++;
		packets_read += (uint64_t)(copied > 0 ? copied : 0);
	}
	pthread_join(thread, NULL);
	CHECK(batches > 0 && packets_read > 0, "%llu batches read %llu packets", (unsigned long long)batches,
	      (unsigned long long)packets_read);

	free(one);
	free(buf);
	free(out);
	rc_store_close(store);
	CHECK(rmdir(dir) == 0, "%s: %s", dir, strerror(errno));
	free(dir);
	return test_result("store_read_batch");
}
