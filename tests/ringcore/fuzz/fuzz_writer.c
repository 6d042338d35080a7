/* fuzz_writer.c — libFuzzer target: rc_writer_write of slots whose header
 * fields (caplen, wirelen, ts_ns, flags) and bytes the fuzzer chooses, in
 * batches on any interface id, in each format; the closed file is read back
 * with the C tests' reader.  A batch is written whole or refused for a reason
 * (an unknown interface; a record larger than any slot can hold); the file
 * holds exactly the packets written, each with its interface, lengths, bytes
 * and timestamp (pcap: seconds modulo 2^32, microseconds or nanoseconds).
 *
 * Input (little-endian, missing bytes read as zero):
 *   u8 format (% 3: pcap us, pcap ns, pcapng)
 *   u8 interfaces (1 + % 4), u32 snaplen
 *   then records to the end: u8 control (bits 0-2: the interface id, 7 is
 *   -1; bit 3: the batch ends here, written on that interface; bit 4: a
 *   caplen past the largest slot), u32 caplen, u32 wirelen, u64 ts_ns, u32
 *   flags, caplen packet bytes (a pattern after the input's end). */
#include "fuzz_input.h"

#include <sys/stat.h>

#define NS_PER_S 1000000000ull
#define BATCH_MAX 64
#define MAX_SLOT_CAPLEN (65536u - SLOT_HDR_BYTES) /* rc_ring_config.slot_size <= 65536 */
/* past the writer's 1 MiB buffer, so the refusal of a record too large is reached */
#define LARGE_CAPLEN_SPAN ((1u << 20) + 4096u)
/* packet bytes one input may allocate, so large records stay a few per input */
#define INPUT_BYTES_MAX (8u << 20)

static char *dir;
static char *path;

static void remove_dir(void)
{
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

/* What one packet in the file must read back as. */
static uint64_t ts_in_file(int32_t format, uint64_t ts_ns)
{
	if (format == RC_FORMAT_PCAPNG)
		return ts_ns;
	uint64_t seconds = (ts_ns / NS_PER_S) & 0xffffffffu, frac_ns = ts_ns % NS_PER_S;
	if (format == RC_FORMAT_PCAP_US)
		frac_ns -= frac_ns % 1000;
	return seconds * NS_PER_S + frac_ns;
}

struct written {
	struct rc_slot_hdr **slot;
	int32_t *ifid;
	uint64_t count;
	uint64_t capacity;
};

static void keep(struct written *w, struct rc_slot_hdr *slot, int32_t ifid)
{
	if (w->count == w->capacity) {
		w->capacity = w->capacity ? 2 * w->capacity : 64;
		w->slot = realloc(w->slot, w->capacity * sizeof(*w->slot));
		w->ifid = realloc(w->ifid, w->capacity * sizeof(*w->ifid));
		REQUIRE(w->slot && w->ifid, "out of memory");
	}
	w->slot[w->count] = slot;
	w->ifid[w->count++] = ifid;
}

/* Write the batch; what was written joins `written`, the rest is freed. */
static void write_batch(struct rc_writer *writer, int32_t ifid, int interfaces,
			struct rc_slot_hdr **batch, uint32_t *n, struct written *written)
{
	uint64_t before = rc_writer_packets(writer);
	int rc = rc_writer_write(writer, ifid, (const struct rc_slot_hdr *const *)batch, *n);
	uint64_t taken = rc_writer_packets(writer) - before;
	if (ifid < 0 || ifid >= interfaces)
		FUZZ_CHECK(rc == -EINVAL && taken == 0, "interface %d of %d: rc %d, %llu written",
			   ifid, interfaces, rc, (unsigned long long)taken);
	else if (rc == 0)
		FUZZ_CHECK(taken == *n, "%llu of a batch of %u written", (unsigned long long)taken, *n);
	else
		FUZZ_CHECK(rc == -EMSGSIZE && taken < *n && batch[taken]->caplen > MAX_SLOT_CAPLEN,
			   "rc %d after %llu of %u packets (caplen %u next)", rc,
			   (unsigned long long)taken, *n, taken < *n ? batch[taken]->caplen : 0);
	for (uint32_t i = 0; i < *n; i++) {
		if (i < taken)
			keep(written, batch[i], ifid);
		else
			free(batch[i]);
	}
	*n = 0;
}

static int same_packet(int32_t format, const struct file_packet *p, const struct rc_slot_hdr *slot)
{
	return p->caplen == slot->caplen && p->wirelen == slot->wirelen &&
	       memcmp(p->data, slot + 1, slot->caplen) == 0 && p->ts_ns == ts_in_file(format, slot->ts_ns);
}

/* Every packet written is in the file once, in any order (n is small: a fuzz input's packets). */
static void check_same_packets(int32_t format, const struct written *written, const struct capture_file *file)
{
	uint8_t *used = calloc(written->count ? written->count : 1, 1);
	REQUIRE(used, "out of memory");
	for (uint64_t i = 0; i < written->count; i++) {
		uint64_t j = 0;
		while (j < written->count && (used[j] || !same_packet(format, &file->packet[i], written->slot[j])))
			j++;
		FUZZ_CHECK(j < written->count, "packet %llu (caplen %u, wirelen %u) was not written or is there twice",
			   (unsigned long long)i, file->packet[i].caplen, file->packet[i].wirelen);
		used[j] = 1;
	}
	free(used);
}

static void check_file(int32_t format, int interfaces, const struct written *written,
		       const struct rc_writer_totals *kept)
{
	struct capture_file file;
	FUZZ_CHECK(read_capture(path, &file) == 0, "the file does not read back");
	FUZZ_CHECK(file.format == format, "format %d, written as %d", file.format, format);
	FUZZ_CHECK(file.interfaces == (format == RC_FORMAT_PCAPNG ? (uint32_t)interfaces : 1),
		   "%u interfaces in the file, %d declared", file.interfaces, interfaces);
	FUZZ_CHECK(file.packets == written->count && kept->packets == written->count,
		   "%llu packets in the file, %llu kept, %llu written", (unsigned long long)file.packets,
		   (unsigned long long)kept->packets, (unsigned long long)written->count);
	FUZZ_CHECK(kept->bytes == file.size, "%llu bytes kept, the file has %zu",
		   (unsigned long long)kept->bytes, file.size);
	/* With several interfaces the writer merges them by time (each interface's packets keep their
	 * order), so the file is an interleaving of what each interface wrote: match every packet in the
	 * file to the next one written on its interface. A pcap file does not say which interface: with
	 * several, identical packets at the heads of two would make a greedy match guess, so there the
	 * file is checked as the same packets, each interface's count from what was written. */
	if (format != RC_FORMAT_PCAPNG && interfaces > 1) {
		check_same_packets(format, written, &file);
		uint64_t per_interface[RC_WRITER_MAX_INTERFACES] = { 0 };
		for (uint64_t i = 0; i < written->count; i++)
			per_interface[written->ifid[i]]++;
		for (int i = 0; i < interfaces; i++)
			FUZZ_CHECK(kept->interface_packets[i] == per_interface[i], "interface %d: %llu kept, %llu written",
				   i, (unsigned long long)kept->interface_packets[i],
				   (unsigned long long)per_interface[i]);
		free_capture(&file);
		return;
	}
	uint64_t per_interface[RC_WRITER_MAX_INTERFACES] = { 0 };
	uint64_t next[RC_WRITER_MAX_INTERFACES] = { 0 }; /* index into written of each interface's next */
	for (int i = 0; i < interfaces; i++)
		for (next[i] = 0; next[i] < written->count && written->ifid[next[i]] != i; next[i]++)
			;
	for (uint64_t i = 0; i < written->count; i++) {
		const struct file_packet *p = &file.packet[i];
		int from = -1;
		for (int ifid = 0; ifid < interfaces && from < 0; ifid++) {
			if (next[ifid] == written->count || (format == RC_FORMAT_PCAPNG && p->ifid != (uint32_t)ifid))
				continue;
			if (same_packet(format, p, written->slot[next[ifid]]))
				from = ifid;
		}
		FUZZ_CHECK(from >= 0, "packet %llu (interface %u, caplen %u, wirelen %u, ts %llu) is not the next "
			   "one written on any interface", (unsigned long long)i, p->ifid, p->caplen, p->wirelen,
			   (unsigned long long)p->ts_ns);
		per_interface[from]++;
		do
			next[from]++;
		while (next[from] < written->count && written->ifid[next[from]] != from);
	}
	for (int i = 0; i < interfaces; i++)
		FUZZ_CHECK(kept->interface_packets[i] == per_interface[i], "interface %d: %llu kept, %llu written",
			   i, (unsigned long long)kept->interface_packets[i],
			   (unsigned long long)per_interface[i]);
	free_capture(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	int32_t format = (int32_t)(take(&in, 1) % 3);
	int interfaces = 1 + (int)(take(&in, 1) % 4);
	uint32_t snaplen = (uint32_t)take(&in, 4);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_writer *writer;
	REQUIRE(rc_writer_open(path, format, &writer, err, sizeof(err)) == 0, "open: %s", err);
	for (int i = 0; i < interfaces; i++) {
		char name[16];
		snprintf(name, sizeof(name), "fuzz%d", i);
		REQUIRE(rc_writer_add_interface(writer, name, 1, snaplen) == i, "interface %d", i);
	}

	struct rc_slot_hdr *batch[BATCH_MAX];
	uint32_t batched = 0;
	uint64_t bytes_left = INPUT_BYTES_MAX;
	struct written written = { 0 };
	while (in.left) {
		uint8_t control = (uint8_t)take(&in, 1);
		uint32_t caplen = (uint32_t)take(&in, 4);
		caplen = control & 0x10 ? caplen % LARGE_CAPLEN_SPAN : caplen % (MAX_SLOT_CAPLEN + 1);
		caplen = caplen < bytes_left ? caplen : (uint32_t)bytes_left;
		bytes_left -= caplen;
		uint32_t wirelen = (uint32_t)take(&in, 4);
		uint64_t ts_ns = take(&in, 8);
		uint32_t flags = (uint32_t)take(&in, 4);
		struct rc_slot_hdr *slot = take_slot(&in, caplen);
		*slot = (struct rc_slot_hdr){ caplen, wirelen, ts_ns, 0, flags, 1, 0 };
		batch[batched++] = slot;
		int32_t ifid = (control & 7) == 7 ? -1 : (int32_t)(control & 7);
		if ((control & 8) || batched == BATCH_MAX || !in.left)
			write_batch(writer, ifid, interfaces, batch, &batched, &written);
	}

	struct rc_writer_totals kept;
	int rc = rc_writer_close(writer, &kept, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "close: %d %s", rc, err);
	check_file(format, interfaces, &written, &kept);
	unlink(path);
	for (uint64_t i = 0; i < written.count; i++)
		free(written.slot[i]);
	free(written.slot);
	free(written.ifid);
	return 0;
}
