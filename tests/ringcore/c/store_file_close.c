/* store_file_close.c — a store's indexing thread and its readers: a reader
 * that reads while the index grows sees the count only grow and every
 * packet it is given whole; closing a store while its thread still indexes
 * a large file, or waits on a stream that has not ended, stops the thread at
 * once and frees everything (the sanitizers see any leak or race); a FIFO is
 * copied as it arrives, indexed as it grows, and done once its writer leaves. */
#include "capture_bytes.h"

#include <pthread.h>
#include <sys/stat.h>

#define BIG_PACKETS 300000u
#define PACKET_BYTES 60u
#define CLOSES 20
#define STREAM_PACKETS 100u
#define CLOSE_LIMIT_NS 1000000000ull /* "at once": far more than the thread needs, far less than indexing all */

static struct bytes make_pcap(uint32_t packets)
{
	struct bytes b = { 0 };
	uint8_t data[PACKET_BYTES];
	pcap_header(&b, 0xa1b2c3d4u, 65535, 1);
	for (uint32_t seq = 0; seq < packets; seq++) {
		fill_packet(5, seq, data, PACKET_BYTES);
		pcap_record(&b, seq, 0, data, PACKET_BYTES, PACKET_BYTES);
	}
	return b;
}

static void *read_while_indexing(void *arg)
{
	struct rc_store *s = arg;
	struct rc_store_info info;
	uint64_t seen = 0;
	uint8_t got[PACKET_BYTES], want[PACKET_BYTES];
	do {
		rc_store_info(s, &info);
		CHECK(info.count >= seen, "count went back from %llu to %llu", (unsigned long long)seen,
		      (unsigned long long)info.count);
		seen = info.count;
		if (seen) {
			uint64_t last = seen - 1;
			fill_packet(5, last, want, PACKET_BYTES);
			CHECK(rc_store_read(s, last, got, sizeof(got)) == PACKET_BYTES && memcmp(got, want, PACKET_BYTES) == 0,
			      "packet %llu read while indexing", (unsigned long long)last);
		}
	} while (!info.done && !TOO_MANY_FAILURES);
	CHECK(info.count == BIG_PACKETS && info.error == 0, "indexed %llu: %s", (unsigned long long)info.count,
	      info.error_message);
	return NULL;
}

static struct rc_store *open_store(const char *path)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *s = NULL;
	int rc = rc_store_open_file(path, &s, err, sizeof(err));
	REQUIRE(rc == 0, "rc_store_open_file(%s): %d %s", path, rc, err);
	return s;
}

static void close_within_limit(struct rc_store *s, const char *what)
{
	uint64_t start = mono_ns();
	rc_store_close(s);
	uint64_t took = mono_ns() - start;
	CHECK(took < CLOSE_LIMIT_NS, "closing %s took %llu ms", what, (unsigned long long)(took / 1000000));
}

static void stream(const char *dir)
{
	char *fifo;
	REQUIRE(asprintf(&fifo, "%s/stream", dir) > 0, "asprintf");
	REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
	struct bytes b = make_pcap(STREAM_PACKETS);
	size_t half = 24 + (STREAM_PACKETS / 2) * (16 + PACKET_BYTES) + 7; /* inside a record */
	for (int ends = 0; ends < 2; ends++) {
		int writer = open(fifo, O_RDWR | O_CLOEXEC); /* a writer, so opening to read does not block */
		REQUIRE(writer >= 0, "open fifo: %s", strerror(errno));
		REQUIRE(write(writer, b.data, half) == (ssize_t)half, "write");
		struct rc_store *s = open_store(fifo);
		struct rc_store_info info;
		do {
			rc_store_wait(s, 10);
			rc_store_info(s, &info);
		} while (info.count < STREAM_PACKETS / 2 && !info.done);
		CHECK(info.count == STREAM_PACKETS / 2 && !info.done && info.bytes_total == 0,
		      "stream so far: %llu packets, done %d, total %llu", (unsigned long long)info.count, info.done,
		      (unsigned long long)info.bytes_total);
		if (!ends) {
			close(writer); /* the store keeps it open (O_RDWR above): it waits for more */
			close_within_limit(s, "a store waiting on a stream");
			continue;
		}
		REQUIRE(write(writer, b.data + half, b.len - half) == (ssize_t)(b.len - half), "write");
		close(writer);
		while (!rc_store_wait(s, 1000))
			;
		rc_store_info(s, &info);
		CHECK(info.count == STREAM_PACKETS && info.error == 0 && info.bytes_total == b.len &&
			      info.bytes_done == b.len,
		      "stream ended: %llu packets, total %llu: %s", (unsigned long long)info.count,
		      (unsigned long long)info.bytes_total, info.error_message);
		uint8_t got[PACKET_BYTES], want[PACKET_BYTES];
		for (uint64_t seq = 0; seq < STREAM_PACKETS; seq++) {
			fill_packet(5, seq, want, PACKET_BYTES);
			CHECK(rc_store_read(s, seq, got, sizeof(got)) == PACKET_BYTES && memcmp(got, want, PACKET_BYTES) == 0,
			      "stream packet %llu", (unsigned long long)seq);
		}
		rc_store_close(s);
	}
	unlink(fifo);
	free(fifo);
	free(b.data);
}

int main(void)
{
	char *dir = make_temp_dir();
	struct bytes b = make_pcap(BIG_PACKETS);
	char *path = write_file(dir, "big.pcap", b.data, b.len);
	free(b.data);

	struct rc_store *s = open_store(path);
	pthread_t reader;
	REQUIRE(pthread_create(&reader, NULL, read_while_indexing, s) == 0, "pthread_create");
	pthread_join(reader, NULL);
	rc_store_close(s);

	unsigned closed_early = 0;
	for (int i = 0; i < CLOSES; i++) {
		s = open_store(path);
		struct rc_store_info info;
		rc_store_info(s, &info);
		closed_early += !info.done;
		close_within_limit(s, "a store indexing a large file");
	}
	printf("%u of %d closes while indexing\n", closed_early, CLOSES);
	CHECK(closed_early > 0, "every store was done before its close: the test closed none while indexing");

	stream(dir);
	unlink(path);
	free(path);
	rmdir(dir);
	free(dir);
	return test_result("store_file_close");
}
