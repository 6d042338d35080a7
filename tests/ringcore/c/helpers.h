/* helpers.h — what the ringcore C tests share: failure reporting, packets
 * whose content follows from their sequence number, and a pcap/pcapng reader
 * to check what a writer left on disk. */
#ifndef RC_TEST_HELPERS_H
#define RC_TEST_HELPERS_H

#define _GNU_SOURCE
#include "ringcore.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOT_HDR_BYTES ((uint32_t)sizeof(struct rc_slot_hdr))

/* Failures are counted, not fatal, so one run reports every broken property;
 * atomic because the stress tests check from several threads. */
static _Atomic unsigned test_failures;

/* If cond is false: print where and why, then run on_failure. */
#define CHECK_OR(on_failure, cond, ...)                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__,        \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			on_failure;                                            \
		}                                                              \
	} while (0)

#define CHECK(cond, ...)                                                       \
	CHECK_OR(atomic_fetch_add(&test_failures, 1), cond, __VA_ARGS__)

/* For checks after which going on makes no sense (a setup call failed). */
#define REQUIRE(cond, ...) CHECK_OR(exit(1), cond, __VA_ARGS__)

/* Stop checking inside a loop once this many failures were printed. */
#define TOO_MANY_FAILURES (atomic_load(&test_failures) > 20)

static inline int test_result(const char *name)
{
	unsigned failures = atomic_load(&test_failures);
	if (failures) {
		fprintf(stderr, "%s: %u check(s) failed\n", name, failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Seconds a timed test runs: argv[1] if given, else the default. */
static inline double run_seconds(int argc, char **argv, double fallback)
{
	return argc > 1 ? atof(argv[1]) : fallback;
}

/* splitmix64: one well-mixed 64-bit value per input, so a packet's size and
 * bytes can be recomputed from its sequence number alone. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Size of packet seq: 1 .. max_bytes. */
static inline uint32_t packet_size(uint64_t seq, uint32_t max_bytes)
{
	return 1 + (uint32_t)(mix64(seq ^ 0x5a5a5a5aull) % max_bytes);
}

/* Content of packet seq of stream: bytes that differ between packets
 * (xorshift64 words from a mixed seed: cheap enough for large slots). */
static inline void fill_packet(uint64_t stream, uint64_t seq, uint8_t *buf,
			       uint32_t len)
{
	uint64_t state = mix64(stream * 0x100000001b3ull ^ seq) | 1;
	for (uint32_t i = 0; i < len; i += 8) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		memcpy(buf + i, &state, len - i < 8 ? len - i : 8);
	}
}

/* FNV-1a: the per-packet checksum a consumer recomputes to detect a torn
 * or overwritten slot. */
static inline uint32_t checksum(const uint8_t *data, uint32_t len)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

static inline struct rc_ring *make_ring_from(const struct rc_ring_config *cfg)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_ring *ring = NULL;
	int rc = rc_ring_create(cfg, &ring, err, sizeof(err));
	REQUIRE(rc == 0, "rc_ring_create(%u, %u): %d %s", cfg->slot_size, cfg->ring_pages, rc, err);
	return ring;
}

/* A ring that keeps packets larger than a slot whole (the default). */
static inline struct rc_ring *make_ring(uint32_t slot_size, uint32_t ring_pages,
					int32_t drop_policy, int32_t wait_strategy,
					uint32_t poll_interval_us)
{
	struct rc_ring_config cfg = {
		.slot_size = slot_size,
		.ring_pages = ring_pages,
		.drop_policy = drop_policy,
		.wait_strategy = wait_strategy,
		.poll_interval_us = poll_interval_us,
	};
	return make_ring_from(&cfg);
}

static inline struct rc_stats ring_stats(struct rc_ring *ring)
{
	struct rc_stats st;
	rc_ring_stats(ring, &st);
	return st;
}

/* ---- reading back a capture file ---------------------------------------- */

struct file_packet {
	uint32_t ifid; /* pcap: always 0 */
	uint64_t ts_ns;
	uint32_t caplen;
	uint32_t wirelen;
	const uint8_t *data;
};

struct capture_file {
	uint8_t *bytes;
	size_t size;
	int format;
	uint32_t interfaces; /* pcapng IDBs (pcap: 1) */
	uint64_t packets;
	struct file_packet *packet;
};

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Parse a whole pcap or pcapng file written by this host.  Returns 0, or -1
 * with a reason printed when the structure is broken anywhere. */
static inline int read_capture(const char *path, struct capture_file *out)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	fseek(f, 0, SEEK_END);
	out->size = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	out->bytes = malloc(out->size + 1);
	size_t got = fread(out->bytes, 1, out->size, f);
	fclose(f);
	if (got != out->size || out->size < 24) {
		fprintf(stderr, "%s: short file (%zu bytes)\n", path, out->size);
		return -1;
	}
	size_t cap = 1024;
	out->packet = malloc(cap * sizeof(*out->packet));
	uint32_t magic = rd32(out->bytes);
	size_t at;
	if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) {
		out->format = magic == 0xa1b2c3d4u ? RC_FORMAT_PCAP_US : RC_FORMAT_PCAP_NS;
		out->interfaces = 1;
		for (at = 24; at < out->size;) {
			if (out->size - at < 16) {
				fprintf(stderr, "%s: torn record header at %zu\n", path, at);
				return -1;
			}
			const uint8_t *r = out->bytes + at;
			struct file_packet p = {
				.ifid = 0,
				.ts_ns = (uint64_t)rd32(r) * 1000000000ull +
					 (uint64_t)rd32(r + 4) *
						 (out->format == RC_FORMAT_PCAP_US ? 1000u : 1u),
				.caplen = rd32(r + 8),
				.wirelen = rd32(r + 12),
				.data = r + 16,
			};
			if (out->size - at - 16 < p.caplen) {
				fprintf(stderr, "%s: torn record at %zu\n", path, at);
				return -1;
			}
			if (out->packets == cap)
				out->packet = realloc(out->packet, (cap *= 2) * sizeof(*out->packet));
			out->packet[out->packets++] = p;
			at += 16 + p.caplen;
		}
		return 0;
	}
	if (magic != 0x0a0d0d0au) {
		fprintf(stderr, "%s: not a capture (magic %08x)\n", path, magic);
		return -1;
	}
	out->format = RC_FORMAT_PCAPNG;
	for (at = 0; at < out->size;) {
		if (out->size - at < 12) {
			fprintf(stderr, "%s: torn block at %zu\n", path, at);
			return -1;
		}
		const uint8_t *b = out->bytes + at;
		uint32_t type = rd32(b), total = rd32(b + 4);
		if (total < 12 || total % 4 || total > out->size - at ||
		    rd32(b + total - 4) != total) {
			fprintf(stderr, "%s: broken block of type %u at %zu\n", path, type, at);
			return -1;
		}
		if (type == 1) {
			out->interfaces++;
		} else if (type == 6) {
			struct file_packet p = {
				.ifid = rd32(b + 8),
				.ts_ns = ((uint64_t)rd32(b + 12) << 32) | rd32(b + 16),
				.caplen = rd32(b + 20),
				.wirelen = rd32(b + 24),
				.data = b + 28,
			};
			/* options (an export's opt_comment) may follow the data */
			if (28 + ((p.caplen + 3) & ~3u) + 4 > total || p.ifid >= out->interfaces) {
				fprintf(stderr, "%s: bad packet block at %zu\n", path, at);
				return -1;
			}
			if (out->packets == cap)
				out->packet = realloc(out->packet, (cap *= 2) * sizeof(*out->packet));
			out->packet[out->packets++] = p;
		} else if (type != 0x0a0d0d0au) {
			fprintf(stderr, "%s: unexpected block type %u at %zu\n", path, type, at);
			return -1;
		}
		at += total;
	}
	return 0;
}

static inline void free_capture(struct capture_file *f)
{
	free(f->bytes);
	free(f->packet);
}

/* Write packet seq to interface 0 of w: `payload` bytes (at most 4096),
 * numbered seq in their first 8 and filled as fill_packet's stream 1.
 * Returns rc_writer_write's result. */
static inline int write_numbered_packet(struct rc_writer *w, uint64_t seq, uint32_t payload)
{
	static _Thread_local uint8_t record[sizeof(struct rc_slot_hdr) + 4096] __attribute__((aligned(16)));
	struct rc_slot_hdr *slot = (struct rc_slot_hdr *)record;
	memset(slot, 0, sizeof(*slot));
	slot->ts_ns = 1700000000000000000ull + seq;
	slot->caplen = slot->wirelen = payload;
	fill_packet(1, seq, record + sizeof(*slot), payload);
	memcpy(record + sizeof(*slot), &seq, 8);
	const struct rc_slot_hdr *one = slot;
	return rc_writer_write(w, 0, &one, 1);
}

/* A fresh directory for a test's files (under $TMPDIR when set). */
static inline char *make_temp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	REQUIRE(asprintf(&path, "%s/ringcore-test-XXXXXX", base ? base : "/tmp") > 0, "asprintf");
	REQUIRE(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
	return path;
}

#endif
