/* fuzz_store_file.c — libFuzzer target: the fuzzer's bytes opened as a
 * capture file (rc_store_open_file), indexed to the end, and every packet
 * read back.  Either the open is refused with one line naming the file, or
 * indexing ends (done) with an error only if it says one line about it at an
 * offset inside the file; every entry lies inside the file, on a declared
 * interface, and reads back as the file's bytes there (compared against the
 * fuzzer's own buffer, so an entry past the file is an AddressSanitizer
 * report); comments read back within their buffer; a batch read
 * (rc_store_read_batch) gives the same entries and bytes, one after the
 * other, stopping only at a packet its buffer cannot hold.  A display filter
 * (libpcap's, over the mapping) examines every packet held, each once,
 * or is refused in one line when libpcap knows none of the link types.
 *
 * Input: the file's bytes, as they are. */
#include "fuzz_input.h"

#include <fcntl.h>

#define ENTRIES_AT_ONCE 256u
#define COMMENT_CAP 64u

static char *dir;
static char *path;

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dir = make_temp_dir();
	REQUIRE(asprintf(&path, "%s/fuzz.cap", dir) > 0, "asprintf");
	atexit(remove_dir);
	return 0;
}

static void check_batch(struct rc_store *s, uint64_t start, const struct rc_store_entry *entries, uint32_t n,
			const uint8_t *file)
{
	static struct rc_store_entry got[ENTRIES_AT_ONCE];
	static uint8_t bytes[1u << 20];
	int64_t copied = rc_store_read_batch(s, start, n, got, bytes, sizeof(bytes));
	FUZZ_CHECK(copied >= 0 && copied <= n, "batch at %llu: %lld of %u", (unsigned long long)start,
		   (long long)copied, n);
	uint64_t offset = 0;
	for (int64_t i = 0; i < copied; i++) {
		FUZZ_CHECK(memcmp(&got[i], &entries[i], sizeof(got[i])) == 0 &&
				   memcmp(bytes + offset, file + entries[i].data_offset, entries[i].caplen) == 0,
			   "batch at %llu: packet %lld differs", (unsigned long long)start, (long long)i);
		offset += entries[i].caplen;
	}
	FUZZ_CHECK(copied == n || offset + entries[copied].caplen > sizeof(bytes),
		   "batch at %llu stopped at %lld of %u with room", (unsigned long long)start, (long long)copied, n);
}

static void check_packets(struct rc_store *s, const struct rc_store_info *info, const uint8_t *file, size_t size)
{
	static struct rc_store_entry entries[ENTRIES_AT_ONCE];
	static uint8_t bytes[1u << 18];
	char comment[COMMENT_CAP];
	for (uint64_t start = 0; start < info->count;) {
		uint32_t n = rc_store_entries(s, start, entries, ENTRIES_AT_ONCE);
		FUZZ_CHECK(n > 0, "no entries at %llu of %llu", (unsigned long long)start,
			   (unsigned long long)info->count);
		for (uint32_t i = 0; i < n; i++) {
			const struct rc_store_entry *e = &entries[i];
			uint64_t number = start + i;
			FUZZ_CHECK(e->data_offset <= size && e->caplen <= size - e->data_offset &&
					   e->block_back <= e->data_offset && e->interface < info->interface_count &&
					   e->caplen <= sizeof(bytes),
				   "packet %llu: %u bytes at %llu (back %u) on interface %u of a %zu-byte file",
				   (unsigned long long)number, e->caplen, (unsigned long long)e->data_offset,
				   e->block_back, e->interface, size);
			FUZZ_CHECK(rc_store_read(s, number, bytes, sizeof(bytes)) == e->caplen &&
					   memcmp(bytes, file + e->data_offset, e->caplen) == 0,
				   "packet %llu's bytes", (unsigned long long)number);
			int64_t length = rc_store_comment(s, number, comment, sizeof(comment));
			FUZZ_CHECK(length >= 0 && (length > 0) == !!(e->flags & RC_STORED_COMMENT),
				   "packet %llu's comment: %lld, flags %u", (unsigned long long)number,
				   (long long)length, e->flags);
		}
		check_batch(s, start, entries, n, file);
		start += n;
	}
}

static void check_filter(struct rc_store *s, const struct rc_store_info *info)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store_filter *f = NULL;
	/* an expression for any link type libpcap knows; the file's own may be none it does */
	int rc = rc_store_filter_new(s, "len > 100 or len < 60", &f, err, sizeof(err));
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL && f == NULL && err[0] && !strchr(err, '\n'), "filter refused: %d %s", rc, err);
		return;
	}
	struct rc_selection *sel = rc_selection_new();
	int64_t examined, total = 0;
	while ((examined = rc_store_filter_run(f, sel, 4096)) > 0)
		total += examined;
	FUZZ_CHECK(examined == 0 && (uint64_t)total == info->count - info->first &&
			   rc_selection_count(sel) <= (uint64_t)total,
		   "filter examined %lld of %llu (last %lld), matched %llu", (long long)total,
		   (unsigned long long)(info->count - info->first), (long long)examined,
		   (unsigned long long)rc_selection_count(sel));
	rc_selection_free(sel);
	rc_store_filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0 && (size == 0 || write(fd, data, size) == (ssize_t)size), "write %s: %s", path, strerror(errno));
	close(fd);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *s = NULL;
	int rc = rc_store_open_file(path, &s, err, sizeof(err));
	if (rc < 0) {
		FUZZ_CHECK(s == NULL && strstr(err, path) == err && !strchr(err, '\n'), "refused: %d %s", rc, err);
		return 0;
	}
	while (!rc_store_wait(s, 1000))
		;
	struct rc_store_info info;
	rc_store_info(s, &info);
	FUZZ_CHECK(info.done && info.bytes_total == size && info.bytes_done <= size, "done %d, %llu of %llu bytes",
		   info.done, (unsigned long long)info.bytes_done, (unsigned long long)info.bytes_total);
	FUZZ_CHECK(info.error ? info.error_message[0] && !strchr(info.error_message, '\n') &&
					info.error_offset < size
			      : !info.error_message[0],
		   "error %d at %llu: %s", info.error, (unsigned long long)info.error_offset, info.error_message);
	check_packets(s, &info, data, size);
	check_filter(s, &info);
	rc_store_close(s);
	return 0;
}
