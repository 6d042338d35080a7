/* store_file_pcapng.c — a pcapng file of two sections (little-endian, then
 * big-endian) with three interfaces of their own link types, names and
 * timestamp units (ns; us with if_tsoffset; 2^-10 s with if_tsoffset), holding enhanced,
 * simple (cut to its interface's snap length) and obsolete packet blocks,
 * comments, and a block of a type no one knows: every packet is indexed in
 * file order on the store's interface it came from, with its time in ns (a
 * simple packet block has none: flagged RC_STORED_NO_TIME, time 0), its
 * lengths, bytes and comments. */
#include "capture_bytes.h"

struct expect {
	uint16_t interface;
	int64_t ts_ns;
	uint32_t caplen;
	uint32_t wirelen;
	const char *comment;
	bool no_time; /* a simple packet block */
};

#define MAX_PACKETS 16
static struct expect expected[MAX_PACKETS];
static uint8_t payload[MAX_PACKETS][200];
static unsigned packets;

static const uint8_t *next_payload(uint32_t len)
{
	fill_packet(2, packets, payload[packets], len);
	return payload[packets];
}

static void expect(uint16_t interface, int64_t ts_ns, uint32_t caplen, uint32_t wirelen, const char *comment)
{
	expected[packets++] = (struct expect){ interface, ts_ns, caplen, wirelen, comment, false };
}

static void expect_no_time(uint16_t interface, uint32_t caplen, uint32_t wirelen)
{
	expected[packets++] = (struct expect){ interface, 0, caplen, wirelen, NULL, true };
}

int main(void)
{
	struct bytes b = { 0 };
	section_header(&b);
	interface_block(&b, 1, 65535, "eth0", 9, 0);
	interface_block(&b, 101, 0, NULL, -1, 1000);
	enhanced_packet(&b, 0, 1700000000123456789ull, next_payload(60), 60, 60, NULL);
	expect(0, 1700000000123456789ll, 60, 60, NULL);
	enhanced_packet(&b, 1, 5000001, next_payload(41), 41, 1500, "hello, \x1b[31m");
	expect(1, 1005000001000ll, 41, 1500, "hello, \x1b[31m");
	size_t unknown = block_start(&b, 0x0badu);
	put32(&b, 0xdeadbeefu);
	block_end(&b, unknown);
	obsolete_packet(&b, 1, 7, next_payload(3), 3, 3);
	expect(1, 1000000007000ll, 3, 3, NULL);
	simple_packet(&b, next_payload(100), 100, 100);
	expect_no_time(0, 100, 100);

	struct bytes be = { .swap = true };
	section_header(&be);
	interface_block(&be, 228, 64, "wan", 0x8a, 7); /* if_tsoffset 7 s: not a time for a simple packet */
	simple_packet(&be, next_payload(100), 100, 120);
	expect_no_time(2, 64, 120);
	enhanced_packet(&be, 0, 3 * 1024 + 1, next_payload(17), 17, 17, "big-endian");
	expect(2, 10000000000ll + 976562, 17, 17, "big-endian");
	put(&b, be.data, be.len);

	char *dir = make_temp_dir();
	char *path = write_file(dir, "two-sections.pcapng", b.data, b.len);
	struct rc_store_info info;
	struct rc_store *s = open_indexed(path, &info);
	CHECK(info.done && info.error == 0 && info.count == packets && info.format == RC_STORE_PCAPNG,
	      "done %d error %d count %llu format %d: %s", info.done, info.error, (unsigned long long)info.count,
	      info.format, info.error_message);
	CHECK(info.bytes_done == b.len && info.interface_count == 3, "progress %llu of %zu, %u interfaces",
	      (unsigned long long)info.bytes_done, b.len, info.interface_count);
	const struct rc_store_interface_info interfaces[3] = {
		{ .name = "eth0", .linktype = 1, .snaplen = 65535 },
		{ .name = "if1", .linktype = 101, .snaplen = 262144 },
		{ .name = "wan", .linktype = 228, .snaplen = 64 } };
	for (uint32_t i = 0; i < 3; i++) {
		struct rc_store_interface_info iface;
		CHECK(rc_store_interface(s, i, &iface) == 0 && strcmp(iface.name, interfaces[i].name) == 0 &&
			      iface.linktype == interfaces[i].linktype && iface.snaplen == interfaces[i].snaplen,
		      "interface %u: %s linktype %u snaplen %u", i, iface.name, iface.linktype, iface.snaplen);
	}
	struct rc_store_entry entries[MAX_PACKETS];
	uint32_t n = rc_store_entries(s, 0, entries, MAX_PACKETS);
	CHECK(n == packets, "%u entries", n);
	for (uint32_t i = 0; i < n; i++) {
		const struct rc_store_entry *e = &entries[i];
		const struct expect *x = &expected[i];
		CHECK(e->interface == x->interface && e->ts_ns == x->ts_ns && e->caplen == x->caplen &&
			      e->wirelen == x->wirelen && !!(e->flags & RC_STORED_COMMENT) == !!x->comment &&
			      !!(e->flags & RC_STORED_NO_TIME) == x->no_time,
		      "packet %u: interface %u ts %lld caplen %u wirelen %u flags %u", i, e->interface,
		      (long long)e->ts_ns, e->caplen, e->wirelen, e->flags);
		uint8_t got[200];
		CHECK(rc_store_read(s, i, got, sizeof(got)) == x->caplen && memcmp(got, payload[i], x->caplen) == 0,
		      "packet %u's bytes", i);
		char comment[64];
		int64_t len = rc_store_comment(s, i, comment, sizeof(comment));
		CHECK(x->comment ? len == (int64_t)strlen(x->comment) && memcmp(comment, x->comment, (size_t)len) == 0
				 : len == 0,
		      "packet %u's comment: %lld bytes", i, (long long)len);
		/* a buffer too small gets what fits and the whole length */
		if (x->comment)
			CHECK(rc_store_comment(s, i, comment, 2) == (int64_t)strlen(x->comment) &&
				      memcmp(comment, x->comment, 2) == 0,
			      "packet %u's comment cut to 2 bytes", i);
	}
	CHECK(rc_store_comment(s, packets, NULL, 0) == -ENOENT, "comment of a packet past the last");
	rc_store_close(s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
	free(b.data);
	free(be.data);
	return test_result("store_file_pcapng");
}
