/* writer_packet_buffered.c — tcpdump's -U: a packet-buffered writer hands
 * each batch to its FIFO as rc_writer_write returns (the file header with the
 * first), so the reader sees packets while the capture runs; an ordinary one
 * keeps them in its 1 MiB buffer until it is full or closed.  Either way the
 * reader ends with the same whole capture. */
#include "helpers.h"

#include <fcntl.h>
#include <sys/stat.h>

#define PAYLOAD 200u
#define PACKETS 3u
#define PCAP_HEADER_BYTES 24u
#define PCAP_RECORD_BYTES 16u

/* Bytes the FIFO holds now, read without waiting. */
static size_t drain_fifo(int reader, uint8_t *buf, size_t room)
{
	size_t got = 0;
	ssize_t n;
	while (got < room && (n = read(reader, buf + got, room - got)) > 0)
		got += (size_t)n;
	return got;
}

static void one_writer(const char *dir, int packet_buffered)
{
	char *path;
	REQUIRE(asprintf(&path, "%s/fifo-%d", dir, packet_buffered) > 0, "asprintf");
	REQUIRE(mkfifo(path, 0600) == 0, "mkfifo %s", path);
	int reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* before the writer, which waits for one */
	REQUIRE(reader >= 0, "open %s", path);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_writer *w;
	REQUIRE(rc_writer_open(path, RC_FORMAT_PCAP_US, &w, err, sizeof(err)) == 0, "open: %s", err);
	rc_writer_set_packet_buffered(w, packet_buffered);
	REQUIRE(rc_writer_add_interface(w, "a", 1, 65535) == 0, "interface");
	static uint8_t buf[1 << 16];
	size_t got = 0;
	for (uint64_t seq = 0; seq < PACKETS; seq++) {
		CHECK(write_numbered_packet(w, seq, PAYLOAD) == 0, "write %llu", (unsigned long long)seq);
		got += drain_fifo(reader, buf + got, sizeof(buf) - got);
		size_t expected = packet_buffered ?
			PCAP_HEADER_BYTES + (seq + 1) * (PCAP_RECORD_BYTES + PAYLOAD) : 0;
		CHECK(got == expected, "packet-buffered %d: after packet %llu the reader has %zu bytes, not %zu",
		      packet_buffered, (unsigned long long)seq, got, expected);
	}
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) == 0, "close: %s", err);
	got += drain_fifo(reader, buf + got, sizeof(buf) - got);
	CHECK(got == PCAP_HEADER_BYTES + PACKETS * (PCAP_RECORD_BYTES + PAYLOAD) && kept.packets == PACKETS,
	      "packet-buffered %d: %zu bytes, %llu packets at the end", packet_buffered, got,
	      (unsigned long long)kept.packets);
	close(reader);
	unlink(path);
	free(path);
}

int main(void)
{
	char *dir = make_temp_dir();
	one_writer(dir, 1);
	one_writer(dir, 0);
	rmdir(dir);
	free(dir);
	return test_result("writer_packet_buffered");
}
