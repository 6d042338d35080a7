/* store_spool_index_cap.c — a spool whose index holds the fewest packets it
 * may (RC_STORE_SPOOL_MIN_PACKETS), appended to by two interfaces in phases
 * of small packets (the index fills first: evicted by count) and large ones
 * (the bytes fill first): after every batch it holds at most that many
 * packets, exactly that many while small ones fill it, every eviction is
 * counted by interface (stored == held + evicted, first == evicted), the
 * bytes held are the held packets' bytes, and the packets held are the
 * newest, whole.  A count outside RC_STORE_SPOOL_MIN_PACKETS ..
 * RC_STORE_SPOOL_MAX_PACKETS is refused with one line. */
#include "helpers.h"

#define SMALL 60u
#define LARGE 4000u
#define BATCH 250u
#define PHASE_BATCHES 40u /* 10000 packets: the index or the bytes fill several times */
#define PHASES 4u
#define CAP RC_STORE_SPOOL_MIN_PACKETS

static uint32_t len_of(uint64_t seq)
{
	return (seq / (BATCH * PHASE_BATCHES)) % 2 ? LARGE : SMALL;
}

static void refuses(uint64_t packets)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store = NULL;
	CHECK(rc_store_create_spool(NULL, RC_STORE_SPOOL_MIN_BYTES, packets, &store, err,
				    sizeof(err)) == -EINVAL &&
		      store == NULL && strstr(err, "packets does not fit") && !strchr(err, '\n'),
	      "an index of %llu packets: %s", (unsigned long long)packets, err);
}

static void check_held(struct rc_store *store, uint64_t sent)
{
	struct rc_store_info info;
	rc_store_info(store, &info);
	uint64_t held = info.count - info.first;
	CHECK(info.count == sent && info.error == 0, "after %llu: count %llu, error %d",
	      (unsigned long long)sent, (unsigned long long)info.count, info.error);
	CHECK(held <= CAP, "after %llu: %llu held in an index of %u", (unsigned long long)sent,
	      (unsigned long long)held, CAP);
	/* a whole phase of small packets fills the index: only the count evicts */
	if (sent % (BATCH * PHASE_BATCHES) == 0 && len_of(sent - 1) == SMALL)
		CHECK(held == CAP, "after %llu small: %llu held", (unsigned long long)sent,
		      (unsigned long long)held);
	uint64_t bytes = 0;
	for (uint64_t seq = info.first; seq < info.count; seq++)
		bytes += len_of(seq);
	CHECK(info.bytes_held == bytes && bytes <= RC_STORE_SPOOL_MIN_BYTES,
	      "after %llu: %llu bytes held, the packets' are %llu", (unsigned long long)sent,
	      (unsigned long long)info.bytes_held, (unsigned long long)bytes);
	uint64_t evicted = 0, kept = 0;
	for (uint32_t i = 0; i < 2; i++) {
		struct rc_store_interface_info iface;
		REQUIRE(rc_store_interface(store, i, &iface) == 0, "interface %u", i);
		CHECK(iface.evicted <= iface.packets, "interface %u: %llu evicted of %llu", i,
		      (unsigned long long)iface.evicted, (unsigned long long)iface.packets);
		evicted += iface.evicted;
		kept += iface.packets - iface.evicted;
	}
	CHECK(evicted == info.first && kept == held, "after %llu: interfaces evicted %llu (first %llu), "
	      "hold %llu (%llu)", (unsigned long long)sent, (unsigned long long)evicted,
	      (unsigned long long)info.first, (unsigned long long)kept, (unsigned long long)held);
}

int main(void)
{
	refuses(RC_STORE_SPOOL_MIN_PACKETS - 1);
	refuses(RC_STORE_SPOOL_MAX_PACKETS + 1);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *store;
	REQUIRE(rc_store_create_spool(NULL, RC_STORE_SPOOL_MIN_BYTES, CAP, &store, err,
				      sizeof(err)) == 0, "spool: %s", err);
	REQUIRE(rc_store_add_interface(store, "a", 1, 65535) == 0, "interface a");
	REQUIRE(rc_store_add_interface(store, "b", 1, 65535) == 1, "interface b");
	struct rc_slot_hdr *batch[BATCH];
	for (uint32_t i = 0; i < BATCH; i++)
		batch[i] = malloc(sizeof(struct rc_slot_hdr) + LARGE);
	uint64_t seq = 0;
	for (uint32_t b = 0; b < PHASES * PHASE_BATCHES && !TOO_MANY_FAILURES; b++) {
		for (uint32_t i = 0; i < BATCH; i++) {
			uint32_t len = len_of(seq + i);
			*batch[i] = (struct rc_slot_hdr){ .caplen = len, .wirelen = len,
							  .ts_ns = seq + i, .slots = 1 };
			fill_packet(3, seq + i, (uint8_t *)(batch[i] + 1), len);
		}
		CHECK(rc_store_append(store, b % 2, (const struct rc_slot_hdr *const *)batch, BATCH) ==
			      (int)BATCH, "batch %u", b);
		seq += BATCH;
		check_held(store, seq);
	}
	/* the newest packets, whole; the one before them is gone */
	struct rc_store_info info;
	rc_store_info(store, &info);
	CHECK(info.first > 0, "nothing evicted");
	uint8_t got[LARGE], want[LARGE];
	CHECK(rc_store_read(store, info.first - 1, got, sizeof(got)) == -ENOENT, "evicted packet reads");
	for (uint64_t n = info.first; n < info.count && !TOO_MANY_FAILURES; n++) {
		uint32_t len = len_of(n);
		fill_packet(3, n, want, len);
		struct rc_store_entry e;
		CHECK(rc_store_entries(store, n, &e, 1) == 1 && e.ts_ns == (int64_t)n &&
			      e.interface == (n / BATCH) % 2,
		      "packet %llu: entry", (unsigned long long)n);
		CHECK(rc_store_read(store, n, got, sizeof(got)) == len && memcmp(got, want, len) == 0,
		      "packet %llu does not read back", (unsigned long long)n);
	}
	printf("%llu packets stored, %llu evicted, %llu held\n", (unsigned long long)info.count,
	       (unsigned long long)info.first, (unsigned long long)(info.count - info.first));
	for (uint32_t i = 0; i < BATCH; i++)
		free(batch[i]);
	rc_store_close(store);
	return test_result("store_spool_index_cap");
}
