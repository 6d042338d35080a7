/* ring_create_config.c — the ring geometry: 33 pages of 2048-byte slots is
 * the classic 64-slot ring with its header in page 0; configurations that do
 * not fit are refused with -EINVAL and a one-line message naming the value. */
#include "helpers.h"
#include "ring_internal.h"

#include <stdint.h>

static void refused(uint32_t slot_size, uint32_t ring_pages, int32_t policy, int32_t wait,
		    const char *must_mention)
{
	struct rc_ring_config cfg = { .slot_size = slot_size, .ring_pages = ring_pages, .drop_policy = policy,
				      .wait_strategy = wait, .poll_interval_us = 1000 };
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_ring *ring = NULL;
	int rc = rc_ring_create(&cfg, &ring, err, sizeof(err));
	CHECK(rc == -EINVAL, "slot %u pages %u policy %d wait %d: returned %d", slot_size,
	      ring_pages, policy, wait, rc);
	CHECK(ring == NULL, "a refused ring was handed out");
	CHECK(err[0] && !strchr(err, '\n') && strstr(err, must_mention),
	      "message \"%s\" does not mention \"%s\"", err, must_mention);
	if (rc == 0)
		rc_ring_destroy(ring);
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	if (page == 4096)
		CHECK(rc_ring_slots_for(2048, 33) == 64, "classic ring: %lld slots",
		      (long long)rc_ring_slots_for(2048, 33));
	struct rc_ring *ring = make_ring(2048, 33, RC_DROP_EARLY, RC_WAIT_SLEEP, 1000);
	const struct rc_ring_header *hdr = rc_ring_base(ring);
	CHECK(rc_ring_map_size(ring) == 33 * (size_t)page, "mapping of %zu bytes", rc_ring_map_size(ring));
	CHECK((uintptr_t)hdr % (uintptr_t)page == 0, "mapping not page-aligned");
	CHECK(hdr->magic == RC_RING_MAGIC && hdr->version == 2 && hdr->page_size == page &&
		      hdr->slot_size == 2048 && hdr->ring_pages == 33 &&
		      hdr->slot_count == (uint32_t)(32 * page / 2048),
	      "header: magic %#x slot_size %u slot_count %u", hdr->magic, hdr->slot_size,
	      hdr->slot_count);
	CHECK((const uint8_t *)rc_ring_slot(ring, 0) == (const uint8_t *)hdr + page,
	      "slot 0 is not at the second page");
	CHECK((const uint8_t *)rc_ring_slot(ring, hdr->slot_count - 1) + 2048 ==
		      (const uint8_t *)hdr + rc_ring_map_size(ring),
	      "the last slot does not end the mapping");
	/* head and tail on cache lines of their own, in the mapping and in the
	 * handle's counters: producer and consumer do not false-share */
	CHECK(offsetof(struct rc_ring_header, head) % 64 == 0 &&
		      offsetof(struct rc_ring_header, tail) % 64 == 0,
	      "head/tail not cache-line aligned in the header");
	CHECK((uintptr_t)ring % _Alignof(struct rc_ring) == 0,
	      "ring handle at %p is not %zu-byte aligned", (void *)ring, _Alignof(struct rc_ring));
	rc_ring_destroy(ring);

	refused(48, 33, 0, 0, "slot size 48");
	refused(65552, 33, 0, 0, "slot size 65552");
	refused(2056 + 4, 33, 0, 0, "slot size 2060");
	refused(2048, 1, 0, 0, "1 pages");
	refused(2048, 0, 0, 0, "0 pages");
	refused(65536, 16, 0, 0, "16 pages"); /* 15 slot pages: not one 64 KiB slot */
	refused(2048, (1u << 22) + 1, 0, 0, "4194305 pages");
	refused(2048, 33, 2, 0, "drop policy 2");
	refused(2048, 33, 0, 5, "wait strategy 5");
	struct rc_ring_config too_long = { .slot_size = 2048, .ring_pages = 33,
					   .poll_interval_us = RC_POLL_INTERVAL_MAX_US + 1 };
	char err[RC_ERRBUF_SIZE] = "";
	CHECK(rc_ring_create(&too_long, &ring, err, sizeof(err)) == -EINVAL && strstr(err, "poll interval 1000001"),
	      "a poll interval over %u us was taken: \"%s\"", RC_POLL_INTERVAL_MAX_US, err);
	ring = make_ring(2048, 33, RC_DROP_EARLY, RC_WAIT_SLEEP, RC_POLL_INTERVAL_MAX_US);
	rc_ring_set_wait(ring, RC_WAIT_SLEEP, UINT32_MAX);
	struct rc_stats stats;
	rc_ring_stats(ring, &stats);
	CHECK(stats.poll_interval_us == RC_POLL_INTERVAL_MAX_US, "set_wait took %u us", stats.poll_interval_us);
	rc_ring_destroy(ring);
	CHECK(rc_ring_slots_for(65536, 17) == 1, "one 64 KiB slot in 16 pages");
	CHECK(rc_ring_slots_for(64, 2) == page / 64, "64-byte slots");
	return test_result("ring_create_config");
}
