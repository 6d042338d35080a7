/* store_export_selection.c — a selection of a file's store and of a spool,
 * each mixing Ethernet and raw IP, exported to pcapng: the file holds
 * exactly the selected packets in order (numbers never stored are left
 * out), each on its own interface's block with its link type, its
 * timestamp, lengths and bytes, and (from the file) its comment; progress
 * climbs to the total.  A pcap cannot mix the link types: refused, no
 * file.  A cancelled export and a failed one leave nothing in the
 * directory, not even the temp file. */
#include "store_filter.h"

#include <dirent.h>
#include <sys/stat.h>

static uint64_t selected(uint64_t k)
{
	return k < 50 ? k * 3 : 150 + (k - 50); /* every third packet, then a run */
}

#define SELECTED 300u /* selected(0 .. 299) */

struct progress_seen {
	uint64_t calls, last_done, total;
	int went_back;
	uint64_t cancel_after; /* 0: never */
};

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_seen *p = ctx;
	p->went_back |= done < p->last_done;
	p->last_done = done;
	p->total = total;
	p->calls++;
	return p->cancel_after && p->calls >= p->cancel_after;
}

static int entries_in(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void check_export(struct rc_store *s, const char *what, const char *dir, int from_file)
{
	char err[RC_ERRBUF_SIZE] = "", *out;
	REQUIRE(asprintf(&out, "%s/%s-out.pcapng", dir, what) > 0, "asprintf");
	struct rc_selection *sel = rc_selection_new();
	for (uint64_t k = 0; k < SELECTED; k++) {
		uint64_t number = selected(k);
		REQUIRE(rc_selection_add(sel, &number, 1) == 0, "add");
	}
	uint64_t never_stored = MIXED_PACKETS + 5;
	REQUIRE(rc_selection_add(sel, &never_stored, 1) == 0, "add");
	struct progress_seen seen = { 0 };
	uint64_t packets = 0, bytes = 0;
	int rc = rc_store_save(s, out, RC_FORMAT_PCAPNG, 0, sel, on_progress, &seen, &packets, &bytes, err,
			       sizeof(err));
	CHECK(rc == 0 && packets == SELECTED, "%s: export %d (%s), %llu packets", what, rc, err,
	      (unsigned long long)packets);
	CHECK(seen.calls > 0 && !seen.went_back && seen.last_done == SELECTED && seen.total == SELECTED + 1,
	      "%s: progress %llu calls, last %llu of %llu", what, (unsigned long long)seen.calls,
	      (unsigned long long)seen.last_done, (unsigned long long)seen.total);
	struct capture_file file;
	REQUIRE(read_capture(out, &file) == 0, "%s: the export does not read back", what);
	CHECK(file.interfaces == 2 && file.packets == SELECTED && file.size == bytes,
	      "%s: %u interfaces, %llu packets, %zu bytes (said %llu)", what, file.interfaces,
	      (unsigned long long)file.packets, file.size, (unsigned long long)bytes);
	uint8_t want[MIXED_MAX_LEN];
	for (uint64_t k = 0; k < file.packets && k < SELECTED && !TOO_MANY_FAILURES; k++) {
		uint64_t seq = selected(k);
		uint32_t len = mixed_packet(seq, want);
		const struct file_packet *p = &file.packet[k];
		CHECK(p->ifid == mixed_interface(seq) && p->ts_ns == mixed_ts_ns(seq) && p->caplen == len &&
		      p->wirelen == len && memcmp(p->data, want, len) == 0,
		      "%s: exported packet %llu is not stored packet %llu", what, (unsigned long long)k,
		      (unsigned long long)seq);
	}
	free_capture(&file);
	/* the interfaces keep their link types, the packets their comments */
	struct rc_store_info info;
	struct rc_store *back = open_indexed(out, &info);
	struct rc_store_interface_info iface;
	CHECK(rc_store_interface(back, 0, &iface) == 0 && iface.linktype == LINKTYPE_ETHERNET &&
	      rc_store_interface(back, 1, &iface) == 0 && iface.linktype == LINKTYPE_RAW, "%s: link types", what);
	for (uint64_t k = 0; k < SELECTED && !TOO_MANY_FAILURES; k++) {
		char comment[64] = "";
		int64_t len = rc_store_comment(back, k, comment, sizeof(comment) - 1);
		const char *want_comment = from_file ? mixed_comment(selected(k)) : NULL;
		CHECK(want_comment ? len == (int64_t)strlen(want_comment) && strcmp(comment, want_comment) == 0 : len == 0,
		      "%s: packet %llu's comment: %lld '%s'", what, (unsigned long long)k, (long long)len, comment);
	}
	rc_store_close(back);
	unlink(out);

	/* cancelled after the first chunk: no file, no temp file */
	struct progress_seen cancel = { .cancel_after = 1 };
	int before = entries_in(dir);
	rc = rc_store_save(s, out, RC_FORMAT_PCAPNG, 0, NULL, on_progress, &cancel, &packets, NULL, err,
			   sizeof(err));
	CHECK(rc == -ECANCELED && access(out, F_OK) != 0 && entries_in(dir) == before && strstr(err, "cancelled"),
	      "%s: cancelled: %d %s", what, rc, err);
	/* two link types do not fit one pcap */
	rc = rc_store_save(s, out, RC_FORMAT_PCAP_US, 0, NULL, NULL, NULL, &packets, NULL, err, sizeof(err));
	CHECK(rc < 0 && access(out, F_OK) != 0 && entries_in(dir) == before && strstr(err, "one link type"),
	      "%s: pcap of two link types: %d %s", what, rc, err);
	rc_selection_free(sel);
	free(out);
}

int main(void)
{
	char *dir = make_temp_dir();
	struct rc_store_info info;
	char *path = mixed_pcapng(dir);
	struct rc_store *file = open_indexed(path, &info);
	REQUIRE(info.count == MIXED_PACKETS, "indexed %llu", (unsigned long long)info.count);
	char *out_dir;
	REQUIRE(asprintf(&out_dir, "%s/out", dir) > 0 && mkdir(out_dir, 0700) == 0, "out dir");
	check_export(file, "file", out_dir, 1);
	rc_store_close(file);

	struct rc_store *spool = mixed_spool(dir);
	append_mixed(spool, 0, MIXED_PACKETS);
	check_export(spool, "spool", out_dir, 0);
	rc_store_close(spool);

	rmdir(out_dir);
	free(out_dir);
	unlink(path);
	free(path);
	rmdir(dir);
	free(dir);
	return test_result("store_export_selection");
}
