/* writer_rotation_time.c — a writer rotating by time (tcpdump's -G) on the
 * packets' timestamps: a new file at the first packet SECONDS past its
 * file's period, named by the period's start through strftime; each file a
 * complete capture holding exactly its period's packets, and all of them
 * together every packet once.  With a count of files (-W) only the newest
 * stay, the older ones removed.  Written by hand (no drain), so the periods
 * are exact; all three formats. */
#include "helpers.h"

#include <sys/stat.h>

#define PERIOD_S 2u
#define STEP_NS 250000000ull /* four packets a second */
#define PACKETS 40u          /* ten seconds: five or six periods */
#define FILES_KEPT 2u

static uint64_t realtime_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static void run(const char *dir, int32_t format, uint32_t files_max)
{
	char *pattern;
	REQUIRE(asprintf(&pattern, "%s/time-%d-W%u-%%s.cap", dir, format, files_max) > 0, "asprintf");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_rotation rotation = { .seconds = PERIOD_S, .files_max = files_max };
	struct rc_writer *w;
	uint64_t opened_ns = realtime_ns();
	REQUIRE(rc_writer_open_rotating(pattern, format, &rotation, &w, err, sizeof(err)) == 0, "open: %s", err);
	REQUIRE(rc_writer_add_interface(w, "a", 1, 65535) == 0, "interface");
	/* the periods the files must have: the open's second, then each first
	 * packet PERIOD_S past the one before */
	uint64_t starts[PACKETS + 1], packets_in[PACKETS + 1] = { 0 };
	unsigned periods = 1;
	starts[0] = opened_ns;
	uint8_t record[sizeof(struct rc_slot_hdr) + 64] __attribute__((aligned(16)));
	struct rc_slot_hdr *slot = (struct rc_slot_hdr *)record;
	for (uint64_t seq = 0; seq < PACKETS; seq++) {
		memset(record, 0, sizeof(record));
		slot->ts_ns = opened_ns + 100000000ull + seq * STEP_NS;
		slot->caplen = slot->wirelen = 64;
		fill_packet(0, seq, record + sizeof(*slot), 64);
		memcpy(record + sizeof(*slot), &seq, 8);
		if (slot->ts_ns >= starts[periods - 1] + PERIOD_S * 1000000000ull)
			starts[periods++] = slot->ts_ns;
		packets_in[periods - 1]++;
		const struct rc_slot_hdr *one = slot;
		REQUIRE(rc_writer_write(w, 0, &one, 1) == 0, "write %llu", (unsigned long long)seq);
	}
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) == 0, "close: %s", err);
	CHECK(kept.packets == PACKETS, "kept %llu", (unsigned long long)kept.packets);
	CHECK(kept.files.written == periods, "%llu files for %u periods", (unsigned long long)kept.files.written,
	      periods);
	unsigned first_kept = files_max && periods > files_max ? periods - files_max : 0;
	CHECK(kept.files.removed == first_kept, "%llu removed, expected %u", (unsigned long long)kept.files.removed,
	      first_kept);
	uint64_t next = 0;
	for (unsigned i = 0; i < periods; i++) {
		char *name;
		REQUIRE(asprintf(&name, "%s/time-%d-W%u-%llu.cap", dir, format, files_max,
				 (unsigned long long)(starts[i] / 1000000000ull)) > 0, "asprintf");
		struct stat st;
		if (i < first_kept) {
			CHECK(stat(name, &st) != 0, "%s: older than the newest %u, still there", name, files_max);
			next += packets_in[i];
			free(name);
			continue;
		}
		struct capture_file file;
		if (read_capture(name, &file) != 0) {
			CHECK(0, "%s: missing or not a complete capture", name);
			free(name);
			continue;
		}
		CHECK(stat(name, &st) == 0 && (st.st_mode & 0777) == 0600, "%s: mode %o", name, st.st_mode & 0777);
		CHECK(file.packets == packets_in[i], "%s: %llu packets, its period had %llu", name,
		      (unsigned long long)file.packets, (unsigned long long)packets_in[i]);
		for (uint64_t k = 0; k < file.packets; k++) {
			uint64_t seq;
			memcpy(&seq, file.packet[k].data, 8);
			CHECK(seq == next, "%s: packet %llu after %llu", name, (unsigned long long)seq,
			      (unsigned long long)next);
			next = seq + 1;
		}
		free_capture(&file);
		unlink(name);
		free(name);
	}
	CHECK(next == PACKETS, "the files end at packet %llu", (unsigned long long)next);
	free(pattern);
}

/* A pattern that does not change within a period (%Y) would make the next
 * file replace this one: the writer stops with an error instead, the first
 * file whole with its period's packets. */
static void same_name_again_stops(const char *dir)
{
	char *pattern;
	REQUIRE(asprintf(&pattern, "%s/year-%%Y.cap", dir) > 0, "asprintf");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_rotation rotation = { .seconds = 1 };
	struct rc_writer *w;
	uint64_t opened_ns = realtime_ns();
	REQUIRE(rc_writer_open_rotating(pattern, RC_FORMAT_PCAPNG, &rotation, &w, err, sizeof(err)) == 0,
		"open: %s", err);
	REQUIRE(rc_writer_add_interface(w, "a", 1, 65535) == 0, "interface");
	uint8_t record[sizeof(struct rc_slot_hdr) + 64] __attribute__((aligned(16)));
	struct rc_slot_hdr *slot = (struct rc_slot_hdr *)record;
	uint64_t written = 0;
	int rc = 0;
	for (uint64_t seq = 0; seq < 8 && rc == 0; seq++) {
		memset(record, 0, sizeof(record));
		slot->ts_ns = opened_ns + 100000000ull + seq * STEP_NS; /* 0.1 s: the open is done */
		slot->caplen = slot->wirelen = 64;
		const struct rc_slot_hdr *one = slot;
		if ((rc = rc_writer_write(w, 0, &one, 1)) == 0)
			written++;
	}
	/* a year's turn within the test's two seconds would name a new file */
	CHECK(rc == -EEXIST && written == 4, "%d after %llu packets", rc, (unsigned long long)written);
	CHECK(rc_writer_error(w, err, sizeof(err)) == -EEXIST && strstr(err, "same name"), "error '%s'", err);
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) == -EEXIST, "close: %s", err);
	CHECK(kept.packets == written && kept.files.written == 1, "kept %llu packets in %llu files",
	      (unsigned long long)kept.packets, (unsigned long long)kept.files.written);
	char *name;
	time_t now_s = (time_t)(opened_ns / 1000000000ull);
	struct tm local;
	REQUIRE(localtime_r(&now_s, &local) && asprintf(&name, "%s/year-%d.cap", dir, local.tm_year + 1900) > 0,
		"name");
	struct capture_file file;
	CHECK(read_capture(name, &file) == 0 && file.packets == written, "%s: not the first period's file", name);
	free_capture(&file);
	unlink(name);
	free(name);
	free(pattern);
}

int main(void)
{
	char *dir = make_temp_dir();
	for (int32_t format = RC_FORMAT_PCAP_US; format <= RC_FORMAT_PCAPNG; format++) {
		run(dir, format, 0);
		run(dir, format, FILES_KEPT);
	}
	same_name_again_stops(dir);
	CHECK(rmdir(dir) == 0, "files left in %s", dir);
	free(dir);
	return test_result("writer_rotation_time");
}
