/* fuzz_talkers.c — libFuzzer target: rc_talkers_add on slots whose bytes and
 * header fields the fuzzer chooses, in batches, read back with rc_talkers_top
 * at any time.  Nothing reads past a slot's caplen (AddressSanitizer), and
 * every reading is well formed: at most max conversations, ranked, each a
 * known family with its addresses in order; in "one window" mode, where every
 * packet falls in the window read, tracked + rest is exactly what was added.
 *
 * Input (little-endian, missing bytes read as zero):
 *   u8 link type (index into LINKTYPES)
 *   u8 mode: bit 0 "one window"; bits 1-3 all set: first fill the table to
 *     (mode >> 4) conversations short of full, so the fuzzer's own packets
 *     reach the full table (beyond what an input of a few KiB names; reading
 *     a full table back is 40 times slower under ASan, so an eighth of the
 *     inputs only)
 *   then records to the end: u8 control (bit 0: the batch ends here; bit 1:
 *   read the top after this batch, max = control >> 2 per top_max), u16
 *   caplen, u32 wirelen, u64 ts_ns, u32 flags, caplen packet bytes, and for a
 *   read outside "one window" mode u64 now_ns. */
#include "fuzz_input.h"

static const uint32_t LINKTYPES[] = {
	1,   /* Ethernet */
	101, /* raw IP */
	228, /* IPv4 */
	229, /* IPv6 */
	113, /* Linux cooked: not parsed, all to the rest */
};
#define NS_PER_S 1000000000ull
/* "one window" timestamps: from this second, never going back, within the
 * window's length of it */
#define ONE_WINDOW_FROM_NS (1700000000ull * NS_PER_S)
#define ONE_WINDOW_SPAN_NS (RC_TALKERS_WINDOW_S * NS_PER_S)
#define BATCH_MAX 64
#define FILL_TABLE 0xe /* mode bits */

struct added {
	uint64_t packets;
	uint64_t bytes;
};

/* control >> 2: up to 61 as is; 62 the whole table; 63 more than it holds */
static uint32_t top_max(uint8_t control)
{
	uint32_t max = control >> 2;
	return max < 62 ? max : max == 62 ? RC_TALKERS_MAX : 2 * RC_TALKERS_MAX;
}

static uint32_t address_len(uint32_t family)
{
	return family == RC_ADDR_MAC ? 6 : family == RC_ADDR_IPV4 ? 4 : 16;
}

static int all_zero(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static void check_talker(const struct rc_talker *c)
{
	FUZZ_CHECK(c->family == RC_ADDR_MAC || c->family == RC_ADDR_IPV4 ||
			   c->family == RC_ADDR_IPV6, "family %u", c->family);
	uint32_t len = address_len(c->family);
	FUZZ_CHECK(all_zero(c->a + len, 16 - len) && all_zero(c->b + len, 16 - len),
		   "bytes past a family-%u address", c->family);
	FUZZ_CHECK(memcmp(c->a, c->b, 16) <= 0, "a conversation's addresses out of order");
	FUZZ_CHECK(c->packets > 0, "a conversation with no packet in the window");
	/* each span is the window's last seconds: a shorter one holds no more */
	FUZZ_CHECK(c->span_ab[0] <= c->span_ab[1] && c->span_ab[1] <= c->bytes_ab &&
			   c->span_ba[0] <= c->span_ba[1] && c->span_ba[1] <= c->bytes_ba,
		   "a span holds more than a longer one");
}

/* Read the top max, check it, and return what it and the rest hold. */
static struct added read_top(struct rc_talkers *t, uint64_t now_ns, uint32_t max)
{
	/* exactly max entries: a write past them is caught */
	struct rc_talker *out = malloc((max ? max : 1) * sizeof(*out));
	struct rc_talker rest;
	REQUIRE(out != NULL, "out of memory");
	uint32_t n = rc_talkers_top(t, now_ns, out, max, &rest);
	FUZZ_CHECK(n <= max && n <= RC_TALKERS_MAX, "%u conversations for a max of %u", n, max);
	FUZZ_CHECK(rest.family == RC_ADDR_NONE, "rest of family %u", rest.family);
	struct added seen = { rest.packets, rest.bytes_ab + rest.bytes_ba };
	for (uint32_t i = 0; i < n; i++) {
		check_talker(&out[i]);
		uint64_t total = out[i].bytes_ab + out[i].bytes_ba;
		if (i > 0) {
			uint64_t before = out[i - 1].bytes_ab + out[i - 1].bytes_ba;
			FUZZ_CHECK(before > total || (before == total && memcmp(out[i - 1].a, out[i].a, 16) <= 0),
				   "rank %u (%llu bytes) before rank %u (%llu bytes)", i - 1,
				   (unsigned long long)before, i, (unsigned long long)total);
		}
		seen.packets += out[i].packets;
		seen.bytes += total;
	}
	free(out);
	return seen;
}

/* Ethernet/IPv4 frames of conversations 0 .. n-1, counted at from_ns. */
static struct added fill(struct rc_talkers *t, uint32_t n, uint64_t from_ns)
{
	struct added added = { 0, 0 };
	for (uint32_t i = 0; i < n; i++) {
		struct {
			struct rc_slot_hdr hdr;
			uint8_t frame[34];
		} slot = { .hdr = { .caplen = 34, .wirelen = 60, .ts_ns = from_ns } };
		slot.frame[12] = 0x08; /* IPv4 */
		slot.frame[14] = 0x45;
		memcpy(&slot.frame[14 + 12], &i, 4);
		const struct rc_slot_hdr *one = &slot.hdr;
		rc_talkers_add(t, &one, 1);
		added.packets++;
		added.bytes += slot.hdr.wirelen;
	}
	return added;
}

static void add_batch(struct rc_talkers *t, struct rc_slot_hdr **batch, uint32_t *n)
{
	rc_talkers_add(t, (const struct rc_slot_hdr *const *)batch, *n);
	for (uint32_t i = 0; i < *n; i++)
		free(batch[i]);
	*n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint32_t linktype = LINKTYPES[take(&in, 1) % (sizeof(LINKTYPES) / sizeof(LINKTYPES[0]))];
	uint8_t mode = (uint8_t)take(&in, 1);
	int one_window = mode & 1;
	struct rc_talkers *t;
	REQUIRE(rc_talkers_create(linktype, &t) == 0, "rc_talkers_create");

	struct rc_slot_hdr *batch[BATCH_MAX];
	uint32_t batched = 0;
	struct added added = { 0, 0 };
	if ((mode & FILL_TABLE) == FILL_TABLE)
		added = fill(t, RC_TALKERS_MAX - (mode >> 4), ONE_WINDOW_FROM_NS);
	uint64_t newest_ns = ONE_WINDOW_FROM_NS;
	while (in.left) {
		uint8_t control = (uint8_t)take(&in, 1);
		uint32_t caplen = (uint32_t)take(&in, 2);
		uint32_t wirelen = (uint32_t)take(&in, 4);
		uint64_t ts_ns = take(&in, 8);
		uint32_t flags = (uint32_t)take(&in, 4);
		if (one_window) {
			ts_ns = ONE_WINDOW_FROM_NS + ts_ns % ONE_WINDOW_SPAN_NS;
			ts_ns = newest_ns = ts_ns > newest_ns ? ts_ns : newest_ns;
		}
		struct rc_slot_hdr *slot = take_slot(&in, caplen);
		slot->wirelen = wirelen;
		slot->ts_ns = ts_ns;
		slot->flags = flags;
		batch[batched++] = slot;
		added.packets++;
		added.bytes += wirelen;
		int read = control & 2;
		if ((control & 1) || read || batched == BATCH_MAX)
			add_batch(t, batch, &batched);
		if (read) {
			struct added seen = read_top(t, one_window ? newest_ns : take(&in, 8), top_max(control));
			FUZZ_CHECK(seen.packets <= added.packets, "%llu packets read, %llu added",
				   (unsigned long long)seen.packets, (unsigned long long)added.packets);
		}
	}
	add_batch(t, batch, &batched);
	if (one_window) {
		struct added seen = read_top(t, newest_ns, RC_TALKERS_MAX);
		FUZZ_CHECK(seen.packets == added.packets && seen.bytes == added.bytes,
			   "one window: read %llu packets, %llu bytes; added %llu, %llu",
			   (unsigned long long)seen.packets, (unsigned long long)seen.bytes,
			   (unsigned long long)added.packets, (unsigned long long)added.bytes);
	}
	rc_talkers_destroy(t);
	return 0;
}
