/* store_spool_readback.c — a spool of the minimum size, appended to for
 * several laps in batches of varied sizes (packets up to 64 KiB, so a lap's
 * end is skipped often): the packets held are the newest ones, numbered in
 * order, each read back with its bytes, lengths, timestamp, interface and
 * flags; an evicted number reads as -ENOENT; the held bytes fit the spool;
 * the directory is 0700, the file 0600, and both are gone after close.
 * Saved to pcapng, the file holds exactly the held packets.  Packets that
 * fill a lap exactly, a batch going on into the next lap, never grow the
 * file past the spool's size. */
#include "helpers.h"

#include <sys/stat.h>

#define MAX_LEN 65536u
#define BATCH 17u
#define PACKETS 3000u

static uint64_t ts_of(uint64_t seq)
{
	return 1700000000000000000ull + seq * 1000;
}

/* A record as a ring holds it: header, then the packet. */
static struct rc_slot_hdr *make_record(uint64_t seq)
{
	uint32_t len = seq % 97 == 0 ? 0 : packet_size(seq, MAX_LEN);
	struct rc_slot_hdr *slot = malloc(sizeof(*slot) + len + 1);
	*slot = (struct rc_slot_hdr){ .caplen = len, .wirelen = len + 3, .ts_ns = ts_of(seq),
				      .flags = (uint32_t)(seq % 3), .slots = 1 };
	fill_packet(7, seq, (uint8_t *)(slot + 1), len);
	return slot;
}

static void check_mode(const char *path, mode_t want)
{
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == want, "%s: mode %o, want %o", path,
	      st.st_mode & 07777, want);
}

/* 4096-byte packets: 256 fill a lap of the minimum spool exactly, in the
 * middle of a batch of 17. */
static void exact_laps(const char *dir)
{
	enum { SIZE = 4096, EXACT_PACKETS = 1000 };
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(dir, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_DEFAULT_PACKETS,
				      &store, err, sizeof(err)) == 0,
		"spool: %s", err);
	REQUIRE(rc_store_add_interface(store, "x", 1, MAX_LEN) == 0, "interface");
	struct rc_slot_hdr *batch[BATCH];
	for (uint32_t i = 0; i < BATCH; i++)
		batch[i] = malloc(sizeof(struct rc_slot_hdr) + SIZE);
	for (uint64_t seq = 0; seq < EXACT_PACKETS; seq += BATCH) {
		uint32_t n = 0;
		for (; n < BATCH && seq + n < EXACT_PACKETS; n++) {
			*batch[n] = (struct rc_slot_hdr){ .caplen = SIZE, .wirelen = SIZE, .slots = 1 };
			fill_packet(9, seq + n, (uint8_t *)(batch[n] + 1), SIZE);
		}
		CHECK(rc_store_append(store, 0, (const struct rc_slot_hdr *const *)batch, n) == (int)n,
		      "exact laps: batch at %llu", (unsigned long long)seq);
	}
	struct rc_store_info info;
	rc_store_info(store, &info);
	CHECK(info.count - info.first == 256 && info.bytes_held == RC_STORE_SPOOL_MIN_BYTES,
	      "exact laps: %llu packets, %llu bytes held", (unsigned long long)(info.count - info.first),
	      (unsigned long long)info.bytes_held);
	uint8_t *got = malloc(SIZE);
	for (uint64_t seq = info.first; seq < info.count && !TOO_MANY_FAILURES; seq++) {
		fill_packet(9, seq, (uint8_t *)(batch[0] + 1), SIZE);
		CHECK(rc_store_read(store, seq, got, SIZE) == SIZE && memcmp(got, batch[0] + 1, SIZE) == 0,
		      "exact laps: packet %llu does not read back", (unsigned long long)seq);
	}
	char spool_file[4200];
	REQUIRE(rc_store_spool_dir(store, spool_file, 4096) == 0, "spool dir");
	strcat(spool_file, "/packets");
	struct stat st;
	CHECK(stat(spool_file, &st) == 0 && st.st_size <= RC_STORE_SPOOL_MIN_BYTES,
	      "exact laps: the spool grew to %lld bytes", (long long)st.st_size);
	free(got);
	for (uint32_t i = 0; i < BATCH; i++)
		free(batch[i]);
	rc_store_close(store);
}

int main(void)
{
	char err[RC_ERRBUF_SIZE] = "";
	char *dir = make_temp_dir();
	struct rc_store *store;
	CHECK(rc_store_create_spool(dir, RC_STORE_SPOOL_MIN_BYTES - 1, RC_STORE_SPOOL_DEFAULT_PACKETS,
				    &store, err, sizeof(err)) ==
		      -EINVAL && strstr(err, "at least"), "a spool under 1 MiB: %s", err);
	REQUIRE(rc_store_create_spool(dir, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_DEFAULT_PACKETS,
				      &store, err, sizeof(err)) == 0,
		"spool: %s", err);
	char spool_dir[4096], spool_file[4200];
	REQUIRE(rc_store_spool_dir(store, spool_dir, sizeof(spool_dir)) == 0, "spool dir");
	snprintf(spool_file, sizeof(spool_file), "%s/packets", spool_dir);
	CHECK(strncmp(spool_dir, dir, strlen(dir)) == 0, "spool %s not under %s", spool_dir, dir);
	check_mode(spool_dir, 0700);
	check_mode(spool_file, 0600);
	CHECK(rc_store_add_interface(store, "x", 1, MAX_LEN) == 0, "interface 0");
	CHECK(rc_store_add_interface(store, "y", 101, MAX_LEN) == 1, "interface 1");

	for (uint64_t seq = 0; seq < PACKETS; seq += BATCH) {
		struct rc_slot_hdr *batch[BATCH];
		uint32_t n = 0;
		for (; n < BATCH && seq + n < PACKETS; n++)
			batch[n] = make_record(seq + n);
		uint32_t interface = (uint32_t)(seq / BATCH % 2);
		int stored = rc_store_append(store, interface, (const struct rc_slot_hdr *const *)batch, n);
		CHECK(stored == (int)n, "batch at %llu: stored %d of %u", (unsigned long long)seq, stored, n);
		for (uint32_t i = 0; i < n; i++)
			free(batch[i]);
	}
	CHECK(rc_store_append(store, 2, NULL, 0) == -EINVAL, "an undeclared interface is refused");

	struct rc_store_info info;
	rc_store_info(store, &info);
	CHECK(info.count == PACKETS && info.first > 0 && info.error == 0,
	      "count %llu first %llu error %d", (unsigned long long)info.count,
	      (unsigned long long)info.first, info.error);
	CHECK(info.bytes_held <= RC_STORE_SPOOL_MIN_BYTES && info.bytes_held > RC_STORE_SPOOL_MIN_BYTES / 2,
	      "holds %llu bytes", (unsigned long long)info.bytes_held);
	uint8_t *buf = malloc(MAX_LEN);
	CHECK(rc_store_read(store, info.first - 1, buf, MAX_LEN) == -ENOENT, "an evicted packet reads");
	uint64_t held_bytes = 0;
	for (uint64_t seq = info.first; seq < info.count && !TOO_MANY_FAILURES; seq++) {
		struct rc_store_entry e;
		REQUIRE(rc_store_entries(store, seq, &e, 1) == 1, "entry %llu", (unsigned long long)seq);
		struct rc_slot_hdr *want = make_record(seq);
		CHECK(e.caplen == want->caplen && e.wirelen == want->wirelen &&
		      (uint64_t)e.ts_ns == want->ts_ns && e.interface == seq / BATCH % 2,
		      "packet %llu: wrong metadata", (unsigned long long)seq);
		uint16_t flags = (uint16_t)((want->flags & RC_SLOT_TRUNCATED ? RC_STORED_TRUNCATED : 0) |
					    (want->flags & RC_SLOT_OUTGOING ? RC_STORED_OUTGOING : 0));
		CHECK(e.flags == flags, "packet %llu: flags %u, want %u", (unsigned long long)seq, e.flags,
		      flags);
		CHECK(e.data_offset + e.caplen <= RC_STORE_SPOOL_MIN_BYTES, "packet %llu crosses the end",
		      (unsigned long long)seq);
		int64_t got = rc_store_read(store, seq, buf, MAX_LEN);
		CHECK(got == want->caplen && memcmp(buf, want + 1, want->caplen) == 0,
		      "packet %llu: bytes differ", (unsigned long long)seq);
		held_bytes += e.caplen;
		free(want);
	}
	CHECK(held_bytes == info.bytes_held, "held %llu bytes, info says %llu",
	      (unsigned long long)held_bytes, (unsigned long long)info.bytes_held);
	struct rc_store_interface_info a, b;
	REQUIRE(rc_store_interface(store, 0, &a) == 0 && rc_store_interface(store, 1, &b) == 0, "interfaces");
	CHECK(a.packets + b.packets == info.count && a.evicted + b.evicted == info.first,
	      "by interface: %llu + %llu packets, %llu + %llu evicted", (unsigned long long)a.packets,
	      (unsigned long long)b.packets, (unsigned long long)a.evicted, (unsigned long long)b.evicted);

	/* kept: the held packets in a pcapng, one interface block each */
	char *saved_path;
	REQUIRE(asprintf(&saved_path, "%s/kept.pcapng", dir) > 0, "asprintf");
	uint64_t saved = 0;
	CHECK(rc_store_save(store, saved_path, RC_FORMAT_PCAPNG, 0, NULL, NULL, NULL, &saved, NULL, err,
			    sizeof(err)) == 0,
	      "save: %s", err);
	CHECK(saved == info.count - info.first, "saved %llu of %llu", (unsigned long long)saved,
	      (unsigned long long)(info.count - info.first));
	check_mode(saved_path, 0600);
	struct capture_file file;
	if (read_capture(saved_path, &file) != 0) {
		CHECK(0, "the saved file does not read back");
	} else {
		CHECK(file.interfaces == 2 && file.packets == saved, "file: %u interfaces, %llu packets",
		      file.interfaces, (unsigned long long)file.packets);
		for (uint64_t k = 0; k < file.packets && !TOO_MANY_FAILURES; k++) {
			uint64_t seq = info.first + k;
			struct rc_slot_hdr *want = make_record(seq);
			const struct file_packet *p = &file.packet[k];
			CHECK(p->ts_ns == want->ts_ns && p->caplen == want->caplen &&
			      p->wirelen == want->wirelen && p->ifid == seq / BATCH % 2 &&
			      memcmp(p->data, want + 1, want->caplen) == 0,
			      "file packet %llu differs from stored packet %llu", (unsigned long long)k,
			      (unsigned long long)seq);
			free(want);
		}
	}
	free_capture(&file);
	CHECK(rc_store_save(store, "/nonexistent-dir/x.pcapng", RC_FORMAT_PCAPNG, 0, NULL, NULL, NULL,
			    NULL, NULL, err, sizeof(err)) < 0 && strstr(err, "/nonexistent-dir"), "save to nowhere: %s", err);
	unlink(saved_path);
	free(saved_path);
	free(buf);

	rc_store_close(store);
	exact_laps(dir);
	CHECK(access(spool_file, F_OK) != 0 && access(spool_dir, F_OK) != 0,
	      "the spool outlived its store");
	CHECK(rmdir(dir) == 0, "%s: %s (left behind in it?)", dir, strerror(errno));
	free(dir);
	return test_result("store_spool_readback");
}
