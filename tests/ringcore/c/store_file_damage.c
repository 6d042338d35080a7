/* store_file_damage.c — hostile and damaged files: a file cut at every byte
 * indexes exactly the whole packets before the cut and, unless the cut falls
 * between records, ends with "truncated" at the offset of the record cut
 * short, saying how many bytes it tried to read and how many it got; a file
 * cut inside its own header is refused at open, as an empty one is; each
 * corrupt field ends indexing at its block's offset with a line that says
 * what is wrong, after the packets before it; a file that is missing, empty
 * or not a capture is refused at open with a line naming it. */
#include "capture_bytes.h"

#define PACKETS 6u

static char *dir;

/* Index n bytes of data; the store's info (the store is closed). */
static struct rc_store_info index_bytes(const uint8_t *data, size_t n)
{
	char *path = write_file(dir, "damaged", data, n);
	struct rc_store_info info;
	rc_store_close(open_indexed(path, &info));
	unlink(path);
	free(path);
	return info;
}

/* What cutting the record torn .. end at cut says: tcpdump's "tried to read
 * N bytes, only got M", of a pcap record's header or captured bytes, or of a
 * pcapng block's header or the whole block. */
static void truncation_says(bool pcap, size_t torn, size_t end, size_t cut, char *says, size_t len)
{
	size_t header = pcap ? 16 : 8;
	if (cut - torn < header)
		snprintf(says, len, "truncated at offset %zu: tried to read %zu bytes of a %s header, only got %zu", torn,
			 header, pcap ? "record" : "block", cut - torn);
	else if (pcap)
		snprintf(says, len, "truncated at offset %zu: tried to read %zu captured bytes, only got %zu", torn,
			 end - torn - header, cut - torn - header);
	else
		snprintf(says, len, "truncated at offset %zu: tried to read %zu bytes of a block, only got %zu", torn,
			 end - torn, cut - torn);
}

/* A file cut inside its own header (starts[1] bytes) is refused at open. */
static void cut_header(const char *what, const struct bytes *b, size_t header, const char *header_name)
{
	for (size_t cut = 4; cut < header && !TOO_MANY_FAILURES; cut++) {
		char *path = write_file(dir, "damaged", b->data, cut);
		char err[RC_ERRBUF_SIZE], says[128];
		struct rc_store *s = (struct rc_store *)1;
		snprintf(says, sizeof(says), ": truncated at offset 0: tried to read %zu bytes of the %s, only got %zu",
			 header, header_name, cut);
		int rc = rc_store_open_file(path, &s, err, sizeof(err));
		CHECK(rc == -ENODATA && s == NULL && strstr(err, path) == err && strcmp(err + strlen(path), says) == 0,
		      "%s cut at %zu: %d %s", what, cut, rc, err);
		unlink(path);
		free(path);
	}
}

/* Each cut of a file made of records (a header, a block, a packet record)
 * starting at starts[0 .. records-1]; packet[r] says whether r holds one. */
static void every_cut(const char *what, const struct bytes *b, const size_t *starts, const bool *packet,
		      unsigned records)
{
	bool pcap = strcmp(what, "pcap") == 0;
	cut_header(what, b, starts[1], pcap ? "pcap file header" : "section header");
	for (size_t cut = starts[1]; cut <= b->len && !TOO_MANY_FAILURES; cut++) {
		struct rc_store_info info = index_bytes(b->data, cut);
		unsigned whole = 0;
		bool boundary = cut == b->len;
		size_t torn = 0, torn_end = 0;
		for (unsigned r = 0; r < records; r++) {
			size_t end = r + 1 < records ? starts[r + 1] : b->len;
			whole += packet[r] && end <= cut;
			boundary |= cut == end;
			if (starts[r] < cut && cut < end)
				torn = starts[r], torn_end = end;
		}
		CHECK(info.done && info.count == whole, "%s cut at %zu: done %d, %llu packets, expected %u", what, cut,
		      info.done, (unsigned long long)info.count, whole);
		if (boundary)
			CHECK(info.error == 0, "%s cut at %zu between records: %s", what, cut, info.error_message);
		else {
			char says[RC_STORE_MESSAGE_MAX];
			truncation_says(pcap, torn, torn_end, cut, says, sizeof(says));
			CHECK(info.error == -ENODATA && info.error_offset == torn && strcmp(info.error_message, says) == 0,
			      "%s cut at %zu: error %d at %llu: '%s', expected '%s'", what, cut, info.error,
			      (unsigned long long)info.error_offset, info.error_message, says);
		}
	}
}

static void cut_pcap(void)
{
	struct bytes b = { 0 };
	size_t starts[PACKETS + 1] = { 0 };
	bool packet[PACKETS + 1] = { false };
	uint8_t data[100];
	pcap_header(&b, 0xa1b2c3d4u, 65535, 1);
	for (unsigned i = 1; i <= PACKETS; i++) {
		starts[i] = b.len;
		packet[i] = true;
		fill_packet(3, i, data, 20 + i);
		pcap_record(&b, i, 0, data, 20 + i, 20 + i);
	}
	every_cut("pcap", &b, starts, packet, PACKETS + 1);
	free(b.data);
}

static void cut_pcapng(void)
{
	struct bytes b = { 0 };
	size_t starts[PACKETS + 2] = { 0 };
	bool packet[PACKETS + 2] = { false };
	uint8_t data[100];
	section_header(&b);
	starts[1] = b.len;
	interface_block(&b, 1, 65535, "eth0", 9, 0);
	for (unsigned i = 2; i < PACKETS + 2; i++) {
		starts[i] = b.len;
		packet[i] = true;
		fill_packet(3, i, data, 20 + i);
		enhanced_packet(&b, 0, i, data, 20 + i, 20 + i, i % 2 ? "note" : NULL);
	}
	every_cut("pcapng", &b, starts, packet, PACKETS + 2);
	free(b.data);
}

/* A good file, then a corrupt block, then a good packet: the packets before
 * it are indexed, the error is at the corrupt block. */
static void corrupt(const char *what, void (*write_bad)(struct bytes *), const char *reason)
{
	struct bytes b = { 0 };
	uint8_t data[60];
	fill_packet(4, 0, data, sizeof(data));
	section_header(&b);
	interface_block(&b, 1, 65535, NULL, -1, 0);
	enhanced_packet(&b, 0, 1, data, 60, 60, NULL);
	enhanced_packet(&b, 0, 2, data, 60, 60, NULL);
	size_t at = b.len;
	write_bad(&b);
	enhanced_packet(&b, 0, 3, data, 60, 60, NULL);
	struct rc_store_info info = index_bytes(b.data, b.len);
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "corrupt pcapng at offset %zu: ", at);
	CHECK(info.done && info.count == 2 && info.error == -EBADMSG && info.error_offset == at &&
		      strncmp(info.error_message, prefix, strlen(prefix)) == 0 &&
		      strstr(info.error_message, reason) && !strchr(info.error_message, '\n'),
	      "%s: %llu packets, error %d at %llu: %s", what, (unsigned long long)info.count, info.error,
	      (unsigned long long)info.error_offset, info.error_message);
	free(b.data);
}

static void caplen_2e31(struct bytes *b)
{
	size_t at = block_start(b, 6);
	put32(b, 0), put32(b, 0), put32(b, 0), put32(b, 1u << 31), put32(b, 60);
	block_end(b, at);
}

static void length_2e31(struct bytes *b)
{
	put32(b, 6), put32(b, 1u << 31), put32(b, 0);
}

static void trailer_differs(struct bytes *b)
{
	put32(b, 6), put32(b, 32), put32(b, 0), put32(b, 0), put32(b, 0), put32(b, 0), put32(b, 0), put32(b, 28);
}

static void unknown_interface(struct bytes *b)
{
	uint8_t data[4] = { 0 };
	enhanced_packet(b, 7, 0, data, 4, 4, NULL);
}

static void tsresol_10e127(struct bytes *b)
{
	interface_block(b, 1, 65535, NULL, 0x7f, 0);
}

static void option_overruns(struct bytes *b)
{
	size_t at = block_start(b, 1);
	put32(b, 1), put32(b, 65535), put16(b, 2), put16(b, 200);
	block_end(b, at);
}

static void spb_12_bytes(struct bytes *b)
{
	block_end(b, block_start(b, 3));
}

int main(void)
{
	dir = make_temp_dir();
	cut_pcap();
	cut_pcapng();
	corrupt("caplen 2^31", caplen_2e31, "a packet of 2147483648 bytes overruns its 32-byte block");
	corrupt("block length 2^31", length_2e31, "claims 2147483648 bytes");
	corrupt("trailer", trailer_differs, "block length 32 at its start but 28 at its end");
	corrupt("interface 7", unknown_interface, "interface 7, which no interface block declared");
	corrupt("if_tsresol 10^-127", tsresol_10e127, "if_tsresol 10^-127 s is finer than 10^-19");
	corrupt("option overrun", option_overruns, "option 2 of 200 bytes overruns its block");
	corrupt("SPB of 12 bytes", spb_12_bytes, "block type 0x00000003 claims 12 bytes");

	/* refused at open, in one line naming the file */
	char err[RC_ERRBUF_SIZE];
	struct rc_store *s = (struct rc_store *)1;
	char *missing;
	REQUIRE(asprintf(&missing, "%s/absent.pcap", dir) > 0, "asprintf");
	CHECK(rc_store_open_file(missing, &s, err, sizeof(err)) == -ENOENT && s == NULL &&
		      strstr(err, missing) == err && strstr(err, "No such file"),
	      "missing file: %s", err);
	const struct {
		const char *content;
		size_t len;
		int rc;
		const char *says;
	} refused[] = {
		{ "", 0, -ENODATA, "the file is empty, not a capture" },
		{ "\xd4\xc3", 2, -EINVAL, "not a capture file" },
		{ "GET / HTTP/1.1\r\n", 16, -EINVAL, "not a capture file" },
	};
	for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *path = write_file(dir, "refused", (const uint8_t *)refused[i].content, refused[i].len);
		int rc = rc_store_open_file(path, &s, err, sizeof(err));
		CHECK(rc == refused[i].rc && s == NULL && strstr(err, path) == err && strstr(err, refused[i].says),
		      "%u: %d %s", i, rc, err);
		unlink(path);
		free(path);
	}
	CHECK(rc_store_open_file(dir, &s, err, sizeof(err)) == -EISDIR && strstr(err, dir) == err, "a directory: %s",
	      err);
	free(missing);
	rmdir(dir);
	free(dir);
	return test_result("store_file_damage");
}
