/* writer_rotation_errors.c — a rotating writer that fails: when the next
 * file cannot be made (its name is a directory) and when a later file hits
 * the disk's end (a file size limit stands in for it).  Either way the error
 * is kept with its message, the files already made stay whole under their
 * names, the failing one is cut back to its last whole packet and still
 * renamed into place, and the writer's counts are exactly what the files
 * hold: nothing lost silently. */
#include "helpers.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define FILE_BYTES_MAX 65536u
#define PAYLOAD 1000u

static uint64_t files_written(struct rc_writer *w)
{
	struct rc_writer_files files;
	rc_writer_files(w, &files);
	return files.written;
}

/* The packets of FILE, FILE1 .. FILE<count-1>, checked to run 0, 1, 2 ... */
static uint64_t packets_in_files(const char *path, uint64_t count, const char *what)
{
	uint64_t next = 0;
	for (uint64_t k = 0; k < count; k++) {
		char *name;
		REQUIRE(asprintf(&name, k ? "%s%llu" : "%s", path, (unsigned long long)k) > 0, "asprintf");
		struct capture_file file;
		if (read_capture(name, &file) != 0) {
			CHECK(0, "%s: %s is not a complete capture", what, name);
			free(name);
			continue;
		}
		for (uint64_t i = 0; i < file.packets; i++) {
			uint64_t seq;
			memcpy(&seq, file.packet[i].data, 8);
			CHECK(seq == next && file.packet[i].caplen == PAYLOAD, "%s: %s: packet %llu after %llu",
			      what, name, (unsigned long long)seq, (unsigned long long)next);
			next = seq + 1;
		}
		free_capture(&file);
		unlink(name);
		free(name);
	}
	return next;
}

/* A writer that rotates every FILE_BYTES_MAX bytes, with one interface declared. */
static struct rc_writer *open_rotating(const char *path, int32_t format)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_rotation rotation = { .file_bytes_max = FILE_BYTES_MAX };
	struct rc_writer *w;
	REQUIRE(rc_writer_open_rotating(path, format, &rotation, &w, err, sizeof(err)) == 0, "open: %s", err);
	REQUIRE(rc_writer_add_interface(w, "a", 1, 65535) == 0, "interface");
	return w;
}

static void next_file_cannot_be_made(const char *dir, int32_t format)
{
	char *path, *blocker;
	REQUIRE(asprintf(&path, "%s/blocked-%d-", dir, format) > 0, "asprintf");
	REQUIRE(asprintf(&blocker, "%s1", path) > 0 && mkdir(blocker, 0700) == 0, "mkdir %s", blocker);
	struct rc_writer *w = open_rotating(path, format);
	char err[RC_ERRBUF_SIZE] = "";
	uint64_t seq = 0;
	int rc = 0;
	while (seq < 1000 && (rc = write_numbered_packet(w, seq, PAYLOAD)) == 0)
		seq++;
	CHECK(rc < 0, "format %d: %llu packets, no error", format, (unsigned long long)seq);
	CHECK(rc_writer_error(w, err, sizeof(err)) < 0 && strstr(err, blocker), "format %d: error '%s'", format,
	      err);
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) < 0, "format %d: close succeeded", format);
	CHECK(kept.files.written == 1 && kept.packets == seq, "format %d: %llu files, %llu of %llu packets kept",
	      format, (unsigned long long)kept.files.written, (unsigned long long)kept.packets,
	      (unsigned long long)seq);
	CHECK(packets_in_files(path, 1, "blocked") == kept.packets, "format %d: the file disagrees", format);
	rmdir(blocker);
	free(blocker);
	free(path);
}

static void later_file_hits_the_disks_end(const char *dir, int32_t format)
{
	char *path;
	REQUIRE(asprintf(&path, "%s/full-%d-", dir, format) > 0, "asprintf");
	struct rc_writer *w = open_rotating(path, format);
	char err[RC_ERRBUF_SIZE] = "";
	uint64_t seq = 0;
	while (files_written(w) < 2)
		REQUIRE(write_numbered_packet(w, seq++, PAYLOAD) == 0, "write %llu", (unsigned long long)seq);
	struct rlimit unlimited, limit = { FILE_BYTES_MAX / 2, FILE_BYTES_MAX / 2 };
	REQUIRE(getrlimit(RLIMIT_FSIZE, &unlimited) == 0, "getrlimit");
	limit.rlim_max = unlimited.rlim_max;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit: %s", strerror(errno));
	int rc = 0;
	while (seq < 1000 && (rc = write_numbered_packet(w, seq, PAYLOAD)) == 0)
		seq++;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &unlimited) == 0, "setrlimit: %s", strerror(errno));
	CHECK(rc == -EFBIG, "format %d: %d after %llu packets", format, rc, (unsigned long long)seq);
	struct rc_writer_totals kept;
	CHECK(rc_writer_close(w, &kept, err, sizeof(err)) == -EFBIG, "format %d: close: %s", format, err);
	/* the two whole files, and the third cut back to what fit, renamed */
	CHECK(kept.files.written == 3 && kept.packets < seq, "format %d: %llu files, %llu of %llu packets", format,
	      (unsigned long long)kept.files.written, (unsigned long long)kept.packets, (unsigned long long)seq);
	CHECK(packets_in_files(path, 3, "full") == kept.packets, "format %d: the files disagree with %llu kept",
	      format, (unsigned long long)kept.packets);
	free(path);
}

int main(void)
{
	signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
	char *dir = make_temp_dir();
	for (int32_t format = RC_FORMAT_PCAP_US; format <= RC_FORMAT_PCAPNG; format++) {
		next_file_cannot_be_made(dir, format);
		later_file_hits_the_disks_end(dir, format);
	}
	CHECK(rmdir(dir) == 0, "files left in %s", dir);
	free(dir);
	return test_result("writer_rotation_errors");
}
