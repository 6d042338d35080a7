/* writer_concurrent_drains.c — two drain threads write into one writer at
 * the same time, each from its own ring fed by its own producer thread: the
 * file holds every packet exactly once, whole (blocks and records never
 * interleave), in order per interface, with its bytes and timestamp, in all
 * three formats.  Before close the file is not there under its name.
 * Usage: writer_concurrent_drains [seconds]   (default 1.0 over all formats) */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 256u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
/* Payload starts with the interface (1 byte) and the sequence (8 bytes):
 * a pcap file has no interface id of its own. */
#define TAG_BYTES 9u
#define BASE_TS 1700000000000000000ull
/* Per producer: enough for many 1 MiB buffer flushes, little to fsync. */
#define MAX_PACKETS 40000u

struct feeder {
	struct rc_ring *ring;
	uint8_t iface;
	uint64_t deadline_ns;
	uint64_t produced;
};

static uint32_t size_of(uint64_t seq)
{
	return TAG_BYTES + packet_size(seq, ROOM - TAG_BYTES);
}

static void make_packet(uint8_t iface, uint64_t seq, uint8_t *buf, uint32_t len)
{
	fill_packet(iface, seq, buf, len);
	buf[0] = iface;
	memcpy(buf + 1, &seq, 8);
}

static uint64_t ts_of(uint8_t iface, uint64_t seq)
{
	return BASE_TS + seq * 1000 + iface * 10 + seq % 7;
}

static void *feed(void *arg)
{
	struct feeder *f = arg;
	uint8_t buf[ROOM];
	for (uint64_t seq = 0; seq < MAX_PACKETS && mono_ns() < f->deadline_ns; seq++) {
		uint32_t len = size_of(seq);
		make_packet(f->iface, seq, buf, len);
		while (rc_ring_produce(f->ring, buf, len, len + 4, ts_of(f->iface, seq), 0, 0) ==
		       -ENOBUFS)
			sched_yield();
		f->produced = seq + 1;
	}
	return NULL;
}

static void run(const char *dir, int32_t format, double seconds)
{
	static const char *names[] = { "pcap-us", "pcap-ns", "pcapng" };
	char *path;
	REQUIRE(asprintf(&path, "%s/concurrent.%s", dir, names[format]) > 0, "asprintf");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_writer *w;
	REQUIRE(rc_writer_open(path, format, &w, err, sizeof(err)) == 0, "open: %s", err);
	struct rc_ring *rings[2];
	struct rc_drain *drains[2];
	struct feeder feeders[2];
	pthread_t threads[2];
	uint64_t deadline = mono_ns() + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < 2; i++) {
		rings[i] = make_ring(SLOT_SIZE, 9, RC_DROP_EARLY, RC_WAIT_SLEEP, 50);
		int ifid = rc_writer_add_interface(w, i ? "b" : "a", 1, 65535);
		REQUIRE(ifid == i, "interface %d got id %d", i, ifid);
		REQUIRE(rc_drain_start(rings[i], w, ifid, NULL, NULL, 0, NULL, 64, &drains[i], err, sizeof(err)) == 0,
			"drain: %s", err);
		feeders[i] = (struct feeder){ rings[i], (uint8_t)i, deadline, 0 };
		REQUIRE(pthread_create(&threads[i], NULL, feed, &feeders[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 2; i++)
		rc_drain_stop(drains[i], 1);
	uint64_t total = feeders[0].produced + feeders[1].produced;
	printf("%s: %llu + %llu packets\n", names[format], (unsigned long long)feeders[0].produced,
	       (unsigned long long)feeders[1].produced);
	CHECK(feeders[0].produced > 1000 && feeders[1].produced > 1000,
	      "%s: too few packets to overlap", names[format]);
	CHECK(rc_writer_packets(w) == total, "%s: writer counted %llu of %llu", names[format],
	      (unsigned long long)rc_writer_packets(w), (unsigned long long)total);
	CHECK(rc_writer_error(w, err, sizeof(err)) == 0, "%s: writer error %s", names[format], err);
	CHECK(access(path, F_OK) != 0, "%s: file visible under its name before close", names[format]);
	uint64_t bytes = rc_writer_bytes(w);
	struct rc_writer_totals kept;
	int rc = rc_writer_close(w, &kept, err, sizeof(err));
	CHECK(rc == 0, "%s: close: %d %s", names[format], rc, err);
	CHECK(kept.packets == total && kept.bytes == bytes, "%s: close kept %llu packets, %llu bytes",
	      names[format], (unsigned long long)kept.packets, (unsigned long long)kept.bytes);
	CHECK(kept.interface_packets[0] == feeders[0].produced &&
	      kept.interface_packets[1] == feeders[1].produced, "%s: kept %llu + %llu packets by interface",
	      names[format], (unsigned long long)kept.interface_packets[0],
	      (unsigned long long)kept.interface_packets[1]);

	struct capture_file file;
	if (read_capture(path, &file) != 0) {
		CHECK(0, "%s: unreadable file", names[format]);
	} else {
		CHECK(file.size == bytes, "%s: file of %zu bytes, writer said %llu", names[format],
		      file.size, (unsigned long long)bytes);
		CHECK(file.format == format, "%s: read back as format %d", names[format], file.format);
		CHECK(file.packets == total, "%s: file holds %llu of %llu packets", names[format],
		      (unsigned long long)file.packets, (unsigned long long)total);
		uint64_t next[2] = { 0, 0 };
		uint8_t buf[ROOM];
		for (uint64_t k = 0; k < file.packets && !TOO_MANY_FAILURES; k++) {
			const struct file_packet *p = &file.packet[k];
			uint8_t iface = p->caplen ? p->data[0] : 0xff;
			uint64_t seq = 0;
			if (iface > 1 || p->caplen < TAG_BYTES) {
				CHECK(0, "%s: record %llu is not one of ours", names[format],
				      (unsigned long long)k);
				continue;
			}
			memcpy(&seq, p->data + 1, 8);
			uint32_t len = size_of(seq);
			make_packet(iface, seq, buf, len);
			uint64_t ts = ts_of(iface, seq);
			if (format == RC_FORMAT_PCAP_US)
				ts = ts / 1000 * 1000;
			CHECK(format != RC_FORMAT_PCAPNG || p->ifid == iface,
			      "%s: packet of interface %u under id %u", names[format], iface, p->ifid);
			CHECK(seq == next[iface], "%s: interface %u: packet %llu after %llu",
			      names[format], iface, (unsigned long long)seq,
			      (unsigned long long)next[iface]);
			CHECK(p->caplen == len && p->wirelen == len + 4 && memcmp(p->data, buf, len) == 0,
			      "%s: interface %u packet %llu: torn or wrong bytes", names[format], iface,
			      (unsigned long long)seq);
			CHECK(p->ts_ns == ts, "%s: interface %u packet %llu: time %llu, expected %llu",
			      names[format], iface, (unsigned long long)seq,
			      (unsigned long long)p->ts_ns, (unsigned long long)ts);
			next[iface] = seq + 1;
		}
		CHECK(next[0] == feeders[0].produced && next[1] == feeders[1].produced,
		      "%s: file ends at %llu/%llu", names[format], (unsigned long long)next[0],
		      (unsigned long long)next[1]);
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
	for (int32_t format = RC_FORMAT_PCAP_US; format <= RC_FORMAT_PCAPNG; format++)
		run(dir, format, seconds / 3);
	rmdir(dir);
	free(dir);
	return test_result("writer_concurrent_drains");
}
