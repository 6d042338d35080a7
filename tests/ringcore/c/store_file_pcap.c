/* store_file_pcap.c — a pcap file in each of its four forms (microseconds or
 * nanoseconds, either byte order) is indexed whole: every packet's
 * timestamp in ns, lengths and bytes read back as written, the interface
 * carries the header's link type (FCS bits dropped) and snap length (0 reads
 * as no limit), and progress ends at the file's size. */
#include "capture_bytes.h"

#define PACKETS 10000u /* more than two publish batches */
#define MAX_BYTES 300u

static void run(const char *dir, uint32_t magic, bool swap, uint32_t snaplen, uint32_t expect_snaplen)
{
	bool nanoseconds = magic == 0xa1b23c4du;
	struct bytes b = { .swap = swap };
	pcap_header(&b, magic, snaplen, 101 | 0x14000000u);
	uint8_t data[MAX_BYTES];
	for (uint32_t seq = 0; seq < PACKETS; seq++) {
		uint32_t len = packet_size(seq, MAX_BYTES);
		fill_packet(1, seq, data, len);
		pcap_record(&b, 1700000000u + seq, seq * 97 % 1000000u, data, len, len + seq % 3);
	}
	char *path = write_file(dir, "some.pcap", b.data, b.len);
	struct rc_store_info info;
	struct rc_store *s = open_indexed(path, &info);
	printf("magic %08x swap %d: %llu packets\n", magic, swap, (unsigned long long)info.count);
	CHECK(info.done && info.error == 0 && info.count == PACKETS && info.first == 0,
	      "done %d error %d count %llu: %s", info.done, info.error, (unsigned long long)info.count,
	      info.error_message);
	CHECK(info.format == (nanoseconds ? RC_STORE_PCAP_NS : RC_STORE_PCAP_US), "format %d", info.format);
	CHECK(info.bytes_done == b.len && info.bytes_total == b.len, "progress %llu of %llu, file %zu",
	      (unsigned long long)info.bytes_done, (unsigned long long)info.bytes_total, b.len);
	struct rc_store_interface_info iface;
	CHECK(info.interface_count == 1 && rc_store_interface(s, 0, &iface) == 0, "interfaces %u",
	      info.interface_count);
	CHECK(strcmp(iface.name, "some.pcap") == 0 && iface.linktype == 101 && iface.snaplen == expect_snaplen,
	      "interface %s linktype %u snaplen %u", iface.name, iface.linktype, iface.snaplen);
	struct rc_store_entry entries[512];
	uint8_t got[MAX_BYTES];
	for (uint64_t start = 0; start < PACKETS && !TOO_MANY_FAILURES;) {
		uint32_t n = rc_store_entries(s, start, entries, 512);
		REQUIRE(n > 0, "no entries from %llu", (unsigned long long)start);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t seq = (uint32_t)(start + i), len = packet_size(seq, MAX_BYTES);
			int64_t ts = (1700000000ll + seq) * 1000000000ll + (int64_t)(seq * 97 % 1000000u) * (nanoseconds ? 1 : 1000);
			fill_packet(1, seq, data, len);
			const struct rc_store_entry *e = &entries[i];
			CHECK(e->ts_ns == ts && e->caplen == len && e->wirelen == len + seq % 3 && e->interface == 0 &&
				      e->flags == 0,
			      "packet %u: ts %lld caplen %u wirelen %u if %u flags %u", seq, (long long)e->ts_ns,
			      e->caplen, e->wirelen, e->interface, e->flags);
			CHECK(rc_store_read(s, seq, got, sizeof(got)) == len && memcmp(got, data, len) == 0,
			      "packet %u's bytes", seq);
		}
		start += n;
	}
	CHECK(rc_store_read(s, PACKETS, got, sizeof(got)) == -ENOENT, "a packet past the last");
	rc_store_close(s);
	unlink(path);
	free(path);
	free(b.data);
}

int main(void)
{
	char *dir = make_temp_dir();
	for (int swap = 0; swap < 2; swap++) {
		run(dir, 0xa1b2c3d4u, swap, 65535, 65535);
		run(dir, 0xa1b23c4du, swap, 0, 262144);
	}
	run(dir, 0xa1b2c3d4u, false, 1u << 31, 262144);
	rmdir(dir);
	free(dir);
	return test_result("store_file_pcap");
}
