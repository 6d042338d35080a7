/* store_filter.h — the packets the display filter and export tests store:
 * IPv4 TCP or UDP, on an Ethernet interface (0) or a raw IP one (1), so a
 * store mixes two link types and what a filter matches is known. */
#ifndef RC_TEST_STORE_FILTER_H
#define RC_TEST_STORE_FILTER_H

#include "capture_bytes.h"

#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101
#define MIXED_PACKETS 600u
#define MIXED_MAX_LEN 200u

/* Packet seq: interface seq % 2 (0 Ethernet, 1 raw IP), TCP when seq % 3 == 0,
 * else UDP; comment on every fifth (pcapng). */
static inline uint32_t mixed_interface(uint64_t seq)
{
	return (uint32_t)(seq % 2);
}

static inline int mixed_is_tcp(uint64_t seq)
{
	return seq % 3 == 0;
}

static inline uint64_t mixed_ts_ns(uint64_t seq)
{
	return 1700000000000000000ull + seq * 1000;
}

/* The packet's bytes into buf (room for MIXED_MAX_LEN); returns its length. */
static inline uint32_t mixed_packet(uint64_t seq, uint8_t *buf)
{
	uint32_t at = 0;
	if (mixed_interface(seq) == 0) {
		static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
		memcpy(buf, eth, sizeof(eth));
		at = sizeof(eth);
	}
	uint32_t l4 = mixed_is_tcp(seq) ? 20 : 8;
	uint32_t payload = (uint32_t)(seq % 50);
	uint32_t ip_len = 20 + l4 + payload;
	uint8_t *ip = buf + at;
	memset(ip, 0, ip_len);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = mixed_is_tcp(seq) ? 6 : 17;
	const uint8_t src[4] = { 198, 18, 0, 1 }, dst[4] = { 198, 18, 0, 2 };
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	uint8_t *l4h = ip + 20;
	uint16_t port = (uint16_t)(1000 + seq % 7);
	l4h[0] = (uint8_t)(port >> 8);
	l4h[1] = (uint8_t)port;
	l4h[2] = 0;
	l4h[3] = 80;
	if (mixed_is_tcp(seq))
		l4h[12] = 0x50;
	else
		l4h[5] = (uint8_t)(8 + payload);
	fill_packet(3, seq, l4h + l4, payload);
	return at + ip_len;
}

static inline const char *mixed_comment(uint64_t seq)
{
	return seq % 5 == 0 ? "a comment" : NULL;
}

/* The mixed packets as a pcapng file in dir; returns its path. */
static inline char *mixed_pcapng(const char *dir)
{
	struct bytes b = { 0 };
	section_header(&b);
	interface_block(&b, LINKTYPE_ETHERNET, 65535, "eth", 9, 0);
	interface_block(&b, LINKTYPE_RAW, 65535, "raw", 9, 0);
	uint8_t buf[MIXED_MAX_LEN];
	for (uint64_t seq = 0; seq < MIXED_PACKETS; seq++) {
		uint32_t len = mixed_packet(seq, buf);
		enhanced_packet(&b, mixed_interface(seq), mixed_ts_ns(seq), buf, len, len, mixed_comment(seq));
	}
	char *path = write_file(dir, "mixed.pcapng", b.data, b.len);
	free(b.data);
	return path;
}

/* Append the mixed packets first .. end-1 to a spool declared with both interfaces. */
static inline void append_mixed(struct rc_store *spool, uint64_t first, uint64_t end)
{
	_Alignas(16) uint8_t record[sizeof(struct rc_slot_hdr) + MIXED_MAX_LEN];
	struct rc_slot_hdr *slot = (struct rc_slot_hdr *)record;
	for (uint64_t seq = first; seq < end; seq++) {
		uint32_t len = mixed_packet(seq, (uint8_t *)(slot + 1));
		slot->caplen = slot->wirelen = len;
		slot->ts_ns = mixed_ts_ns(seq);
		slot->flags = 0;
		slot->slots = 1;
		const struct rc_slot_hdr *one = slot;
		REQUIRE(rc_store_append(spool, mixed_interface(seq), &one, 1) == 1, "append %llu",
			(unsigned long long)seq);
	}
}

static inline struct rc_store *mixed_spool(const char *dir)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *spool;
	REQUIRE(rc_store_create_spool(dir, RC_STORE_SPOOL_MIN_BYTES, RC_STORE_SPOOL_MIN_PACKETS, &spool, err,
				      sizeof(err)) == 0,
		"spool: %s", err);
	REQUIRE(rc_store_add_interface(spool, "eth", LINKTYPE_ETHERNET, 65535) == 0, "eth");
	REQUIRE(rc_store_add_interface(spool, "raw", LINKTYPE_RAW, 65535) == 1, "raw");
	return spool;
}

#endif
