/* writer_rotation_size.c — a writer rotating by size (tcpdump's -C) while two
 * drain threads write into it: every file is a complete capture of its own
 * (section header and both interfaces again), none past the size unless it
 * holds one packet, named FILE, FILE1, FILE2 ...; read in order the files
 * hold every packet exactly once, in order per interface.  With a count of
 * files (-W) the names are a ring FILE0 .. FILE2 and only the newest three
 * files stay: the tail of each interface's packets.  All three formats; a
 * fixed count of packets, so the files are as many however slow the run. */
#include "helpers.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>

#define SLOT_SIZE 256u
#define ROOM (SLOT_SIZE - SLOT_HDR_BYTES)
#define TAG_BYTES 9u /* the interface (1 byte), the sequence (8 bytes) */
#define BASE_TS 1700000000000000000ull
#define PACKETS 5000u /* per interface: about twenty files */
#define FILE_BYTES_MAX 65536u
#define FILES_KEPT 3u

struct feeder {
	struct rc_ring *ring;
	uint8_t iface;
	uint64_t produced;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	uint8_t buf[ROOM];
	for (uint64_t seq = 0; seq < PACKETS; seq++) {
		uint32_t len = TAG_BYTES + packet_size(seq, ROOM - TAG_BYTES);
		fill_packet(f->iface, seq, buf, len);
		buf[0] = f->iface;
		memcpy(buf + 1, &seq, 8);
		while (rc_ring_produce(f->ring, buf, len, len, BASE_TS + seq * 1000 + f->iface, 0, 0) ==
		       -ENOBUFS)
			sched_yield();
		f->produced = seq + 1;
	}
	return NULL;
}

/* Files in dir (temp files too): a leftover temp file is a broken promise. */
static unsigned files_in(const char *dir)
{
	unsigned count = 0;
	DIR *d = opendir(dir);
	REQUIRE(d, "opendir %s", dir);
	for (struct dirent *e; (e = readdir(d));)
		count += e->d_name[0] != '.';
	closedir(d);
	return count;
}

static void run(const char *dir, int32_t format, uint32_t files_max)
{
	static const char *names[] = { "pcap-us", "pcap-ns", "pcapng" };
	char *path;
	REQUIRE(asprintf(&path, "%s/size-%s-W%u-", dir, names[format], files_max) > 0, "asprintf");
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_rotation rotation = { .file_bytes_max = FILE_BYTES_MAX, .files_max = files_max };
	struct rc_writer *w;
	REQUIRE(rc_writer_open_rotating(path, format, &rotation, &w, err, sizeof(err)) == 0, "open: %s", err);
	struct rc_ring *rings[2];
	struct rc_drain *drains[2];
	struct feeder feeders[2];
	pthread_t threads[2];
	for (int i = 0; i < 2; i++) {
		rings[i] = make_ring(SLOT_SIZE, 9, RC_DROP_EARLY, RC_WAIT_SLEEP, 50);
		REQUIRE(rc_writer_add_interface(w, i ? "b" : "a", 1, 65535) == i, "interface %d", i);
		REQUIRE(rc_drain_start(rings[i], w, i, NULL, NULL, 0, NULL, 64, &drains[i], err, sizeof(err)) == 0,
			"drain: %s", err);
		feeders[i] = (struct feeder){ rings[i], (uint8_t)i, 0 };
		REQUIRE(pthread_create(&threads[i], NULL, feed, &feeders[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 2; i++)
		rc_drain_stop(drains[i], 1);
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) == 0, "%s: close: %s", names[format], err);
	uint64_t produced = feeders[0].produced + feeders[1].produced;
	CHECK(kept.packets == produced, "%s: writer kept %llu of %llu", names[format],
	      (unsigned long long)kept.packets, (unsigned long long)produced);
	CHECK(kept.files.written > FILES_KEPT + 2, "%s: only %llu files: too few to rotate", names[format],
	      (unsigned long long)kept.files.written);
	uint64_t on_disk = files_max ? FILES_KEPT : kept.files.written;
	CHECK(kept.files.removed == kept.files.written - on_disk, "%s: %llu written, %llu removed",
	      names[format], (unsigned long long)kept.files.written, (unsigned long long)kept.files.removed);
	CHECK(files_in(dir) == on_disk, "%s: %u files in the directory, expected %llu", names[format],
	      files_in(dir), (unsigned long long)on_disk);

	/* The files on disk, oldest first: without -W FILE, FILE1, ...; with it
	 * the ring's names from the one after the newest. */
	uint64_t next[2] = { 0, 0 }, packets_on_disk = 0;
	int started[2] = { 0, 0 };
	for (uint64_t k = 0; k < on_disk; k++) {
		uint64_t number = files_max ? (kept.files.written + k) % FILES_KEPT : k;
		char *name;
		if (files_max || number)
			REQUIRE(asprintf(&name, "%s%llu", path, (unsigned long long)number) > 0, "asprintf");
		else
			REQUIRE((name = strdup(path)) != NULL, "strdup");
		struct capture_file file;
		if (read_capture(name, &file) != 0) {
			CHECK(0, "%s: %s is not a complete capture", names[format], name);
			free(name);
			continue;
		}
		CHECK(file.size <= FILE_BYTES_MAX || file.packets == 1, "%s: %s: %zu bytes", names[format],
		      name, file.size);
		CHECK(format != RC_FORMAT_PCAPNG || file.interfaces == 2, "%s: %s has %u interfaces",
		      names[format], name, file.interfaces);
		for (uint64_t i = 0; i < file.packets && !TOO_MANY_FAILURES; i++) {
			const struct file_packet *p = &file.packet[i];
			uint8_t iface = p->data[0];
			uint64_t seq;
			memcpy(&seq, p->data + 1, 8);
			REQUIRE(iface < 2, "%s: not our packet", names[format]);
			if (files_max && !started[iface]) { /* -W: the oldest files are gone */
				next[iface] = seq;
				started[iface] = 1;
			}
			CHECK(seq == next[iface], "%s: %s: interface %u packet %llu after %llu", names[format],
			      name, iface, (unsigned long long)seq, (unsigned long long)next[iface]);
			next[iface] = seq + 1;
		}
		packets_on_disk += file.packets;
		free_capture(&file);
		unlink(name);
		free(name);
	}
	/* -W: an interface whose feeder ended early may have all its packets in removed files */
	for (int i = 0; i < 2; i++)
		if (files_max && !started[i])
			next[i] = feeders[i].produced;
	CHECK(next[0] == feeders[0].produced && next[1] == feeders[1].produced,
	      "%s: the files end at %llu/%llu of %llu/%llu", names[format], (unsigned long long)next[0],
	      (unsigned long long)next[1], (unsigned long long)feeders[0].produced,
	      (unsigned long long)feeders[1].produced);
	CHECK(files_max || packets_on_disk == produced, "%s: the files hold %llu of %llu", names[format],
	      (unsigned long long)packets_on_disk, (unsigned long long)produced);
	for (int i = 0; i < 2; i++)
		rc_ring_destroy(rings[i]);
	free(path);
}

int main(void)
{
	char *dir = make_temp_dir();
	for (int32_t format = RC_FORMAT_PCAP_US; format <= RC_FORMAT_PCAPNG; format++) {
		run(dir, format, 0);
		run(dir, format, FILES_KEPT);
	}
	rmdir(dir);
	free(dir);
	return test_result("writer_rotation_size");
}
