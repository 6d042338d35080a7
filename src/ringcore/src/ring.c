/* ring.c — the single-producer single-consumer slot ring and its counters. */
#define _GNU_SOURCE
#include "ring_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RC_SLOT_MIN 64u
#define RC_SLOT_MAX 65536u

uint64_t rc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Index of the highest set bit, 0 for v <= 1. */
static unsigned log2_floor(uint64_t v)
{
	return v <= 1 ? 0 : 63u - (unsigned)__builtin_clzll(v);
}

int64_t rc_ring_slots_for(uint32_t slot_size, uint32_t ring_pages)
{
	long page = sysconf(_SC_PAGESIZE);
	if (slot_size < RC_SLOT_MIN || slot_size > RC_SLOT_MAX || slot_size % 16)
		return -EINVAL;
	if (ring_pages < 2 || ring_pages > (1u << 22))
		return -EINVAL;
	uint64_t slots = (uint64_t)(ring_pages - 1) * (uint64_t)page / slot_size;
	if (slots < 1)
		return -EINVAL;
	return (int64_t)slots;
}

int rc_ring_create(const struct rc_ring_config *cfg, struct rc_ring **out,
		   char *errbuf, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	if (cfg->slot_size < RC_SLOT_MIN || cfg->slot_size > RC_SLOT_MAX ||
	    cfg->slot_size % 16) {
		rc_err(errbuf, errlen,
		       "slot size %u does not fit: it must be a multiple of 16 from %u to %u bytes",
		       cfg->slot_size, RC_SLOT_MIN, RC_SLOT_MAX);
		return -EINVAL;
	}
	int64_t slots = rc_ring_slots_for(cfg->slot_size, cfg->ring_pages);
	if (slots < 1) {
		rc_err(errbuf, errlen,
		       "a ring of %u pages does not fit: it needs a header page and at least one %u-byte slot (at most %u pages)",
		       cfg->ring_pages, cfg->slot_size, 1u << 22);
		return -EINVAL;
	}
	int rc = ring_new(cfg, cfg->slot_size, (uint32_t)slots,
			  (size_t)cfg->ring_pages * (size_t)page, out, errbuf, errlen);
	if (rc == 0) {
		(*out)->hdr->ring_pages = cfg->ring_pages;
		(*out)->truncate_to_slot = cfg->truncate_to_slot ? 1 : 0;
	}
	return rc;
}

int ring_new(const struct rc_ring_config *cfg, uint32_t slot_size, uint32_t slot_count,
	     size_t map_size, struct rc_ring **out, char *errbuf, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	if (cfg->drop_policy != RC_DROP_EARLY && cfg->drop_policy != RC_DROP_LATE) {
		rc_err(errbuf, errlen, "unknown drop policy %d", cfg->drop_policy);
		return -EINVAL;
	}
	if (cfg->wait_strategy < RC_WAIT_SLEEP || cfg->wait_strategy > RC_WAIT_ADAPTIVE) {
		rc_err(errbuf, errlen, "unknown wait strategy %d", cfg->wait_strategy);
		return -EINVAL;
	}
	if (cfg->poll_interval_us > RC_POLL_INTERVAL_MAX_US) {
		rc_err(errbuf, errlen, "poll interval %u us is out of range: 0 to %u us",
		       cfg->poll_interval_us, RC_POLL_INTERVAL_MAX_US);
		return -EINVAL;
	}
	if (cfg->spin_us > RC_SPIN_MAX_US) {
		rc_err(errbuf, errlen, "spin %u us is out of range: 0 to %u us",
		       cfg->spin_us, RC_SPIN_MAX_US);
		return -EINVAL;
	}
	/* aligned_alloc, not calloc: the producer's and the consumer's counters
	 * each start a cache line of their own (_Alignas(64)) */
	struct rc_ring *ring = aligned_alloc(_Alignof(struct rc_ring), sizeof(*ring));
	if (!ring) {
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(ring, 0, sizeof(*ring));
	ring->slot_kind = calloc(slot_count, sizeof(*ring->slot_kind));
	if (!ring->slot_kind) {
		free(ring);
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	ring->map_size = map_size;
	void *map = mmap(NULL, ring->map_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		int err = errno;
		rc_err(errbuf, errlen, "cannot map a ring of %zu pages: %s",
		       map_size / (size_t)page, strerror(err));
		free(ring->slot_kind);
		free(ring);
		return -err;
	}
	/* Slots are a page apart at 2048 bytes: with 4 KiB pages every packet
	 * costs a TLB miss, a 2 MiB page holds 1024 slots.  Advice only: the
	 * ring works without.  Fault it in now, not on the producer's time. */
	madvise(map, ring->map_size, MADV_HUGEPAGE);
	memset(map, 0, ring->map_size);
	ring->hdr = map;
	ring->slots = (uint8_t *)map + page;
	ring->hdr->magic = RC_RING_MAGIC;
	ring->hdr->version = 2; /* 2: records span slots */
	ring->hdr->page_size = (uint32_t)page;
	ring->hdr->slot_size = slot_size;
	ring->hdr->slot_count = slot_count;
	ring->hdr->ring_pages = (uint32_t)(map_size / (size_t)page);
	ring->slot_size = slot_size;
	ring->slot_count = slot_count;
	ring->room_wanted = 1;
	atomic_init(&ring->drop_policy, cfg->drop_policy);
	atomic_init(&ring->wait_strategy, cfg->wait_strategy);
	atomic_init(&ring->poll_interval_us, cfg->poll_interval_us);
	atomic_init(&ring->spin_us, cfg->spin_us ? cfg->spin_us : RC_SPIN_DEFAULT_US);
	atomic_init(&ring->refs, 1);
	*out = ring;
	return 0;
}

void rc_ring_retain(struct rc_ring *ring)
{
	atomic_fetch_add_explicit(&ring->refs, 1, memory_order_relaxed);
}

void rc_ring_destroy(struct rc_ring *ring)
{
	if (!ring)
		return;
	/* acq_rel: every owner's use of the ring happens before the unmap */
	if (atomic_fetch_sub_explicit(&ring->refs, 1, memory_order_acq_rel) != 1)
		return;
	munmap(ring->hdr, ring->map_size);
	if (ring->kernel)
		kernel_ring_free(ring->kernel);
	free(ring->slot_kind);
	free(ring);
}

int rc_ring_attach_consumer(struct rc_ring *ring)
{
	int32_t detached = 0;
	/* acquire: the previous consumer's writes of tail and consuming (its
	 * detach released them) happen before ours */
	if (!atomic_compare_exchange_strong_explicit(&ring->consumer_attached, &detached, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	/* what the previous consumer polled and did not release is taken
	 * again: it was never delivered */
	atomic_store_explicit(&ring->hdr->consuming,
			      atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed),
			      memory_order_relaxed);
	if (ring->kernel)
		ring->kernel->poll_pos = ring->kernel->release_pos;
	ring->held = 0;
	/* a direct drain marks it again once attached; the mark stays after it
	 * stopped, so the last statistics say how the ring was consumed */
	atomic_store_explicit(&ring->direct, 0, memory_order_relaxed);
	return 0;
}

void rc_ring_detach_consumer(struct rc_ring *ring)
{
	atomic_store_explicit(&ring->consumer_attached, 0, memory_order_release);
}

static struct rc_slot_hdr *slot_at(struct rc_ring *ring, uint64_t pos)
{
	return (struct rc_slot_hdr *)(ring->slots +
				      (size_t)(pos % ring->slot_count) * ring->slot_size);
}

/* A seqcount write section.  Producer counters change under prod_seq so
 * that a reader sees head, ring_drops and kernel_packets move together;
 * consumer counters under cons_seq, so delivered, stored and store_failed
 * do.  Each has one writer. */
static void seq_begin(_Atomic uint64_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint64_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

static void count_taken(struct rc_ring *ring, uint32_t wirelen, uint32_t flags)
{
	relaxed_add(&ring->kernel_packets, 1);
	relaxed_add(&ring->kernel_bytes, wirelen);
	if (flags & RC_SLOT_OUTGOING) {
		relaxed_add(&ring->outgoing_packets, 1);
		relaxed_add(&ring->outgoing_bytes, wirelen);
	}
}

int rc_ring_full(struct rc_ring *ring)
{
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
	return head - tail >= ring->slot_count;
}

/* Whether slots more slots after head are free.  Acquire: pairs with the
 * consumer's release of tail, so the slots it freed are no longer being
 * read when we overwrite them. */
static int has_room(struct rc_ring *ring, uint64_t head, uint32_t slots)
{
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
	return head - tail + slots <= ring->slot_count;
}

/* Slots a record of caplen bytes takes, its header included. */
static uint32_t record_slots(const struct rc_ring *ring, uint32_t caplen)
{
	uint64_t bytes = sizeof(struct rc_slot_hdr) + (uint64_t)caplen;
	if (bytes <= ring->slot_size)
		return 1; /* most packets: no division on the producer's path */
	return (uint32_t)((bytes + ring->slot_size - 1) / ring->slot_size);
}

/* The most packet bytes one record holds: a slot's (truncate_to_slot) or
 * the whole ring's. */
static uint32_t record_room(const struct rc_ring *ring)
{
	uint64_t slots = ring->truncate_to_slot ? 1 : ring->slot_count;
	uint64_t room = slots * ring->slot_size - sizeof(struct rc_slot_hdr);
	return room < UINT32_MAX ? (uint32_t)room : UINT32_MAX;
}

static void mark_slots(struct rc_ring *ring, uint32_t index, uint32_t slots,
		       uint8_t first_kind, uint8_t rest_kind)
{
	atomic_store_explicit(&ring->slot_kind[index], first_kind, memory_order_relaxed);
	for (uint32_t i = 1; i < slots; i++)
		atomic_store_explicit(&ring->slot_kind[index + i], rest_kind,
				      memory_order_relaxed);
}

/* Fill the ring from head to its end with a padding record, so that the
 * next record starts at slot 0 and never wraps.  No packet: no counter. */
static void publish_padding(struct rc_ring *ring, uint64_t head, uint32_t index, uint32_t slots)
{
	*(struct rc_slot_hdr *)(ring->slots + (size_t)index * ring->slot_size) =
		(struct rc_slot_hdr){ .flags = RC_SLOT_PADDING, .slots = slots };
	mark_slots(ring, index, slots, RC_SLOT_KIND_PADDING, RC_SLOT_KIND_PADDING);
	/* release: the padding header is visible before the new head */
	atomic_store_explicit(&ring->hdr->head, head + slots, memory_order_release);
}

int rc_ring_produce(struct rc_ring *ring, const void *data, uint32_t caplen,
		    uint32_t wirelen, uint64_t ts_ns, int32_t ifindex,
		    uint32_t flags)
{
	if (ring->kernel)
		return -EOPNOTSUPP; /* its producer is the kernel */
	uint32_t room = record_room(ring);
	if (caplen > room) {
		caplen = room;
		flags |= RC_SLOT_TRUNCATED;
	}
	uint32_t slots = record_slots(ring, caplen);
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	/* head's slot index, computed once: a division is dear per packet */
	uint32_t index = (uint32_t)(head % ring->slot_count);
	uint32_t to_end = ring->slot_count - index;
	if (slots > to_end) {
		if (!has_room(ring, head, to_end)) {
			ring->room_wanted = to_end;
			return -ENOBUFS;
		}
		publish_padding(ring, head, index, to_end);
		head += to_end;
		index = 0;
	}
	if (!has_room(ring, head, slots)) {
		ring->room_wanted = slots;
		return -ENOBUFS;
	}
	struct rc_slot_hdr *slot = (struct rc_slot_hdr *)(ring->slots + (size_t)index * ring->slot_size);
	*slot = (struct rc_slot_hdr){ .caplen = caplen, .wirelen = wirelen, .ts_ns = ts_ns,
				      .ifindex = ifindex, .flags = flags, .slots = slots };
	memcpy(slot + 1, data, caplen);
	mark_slots(ring, index, slots, RC_SLOT_KIND_FIRST, RC_SLOT_KIND_CONTINUED);
	/* the next slot is on a line no prefetcher predicts: start the miss now
	 * (records never wrap: the next index is past this one, or 0) */
	uint32_t next = index + slots < ring->slot_count ? index + slots : 0;
	__builtin_prefetch(ring->slots + (size_t)next * ring->slot_size, 1);

	seq_begin(&ring->prod_seq);
	count_taken(ring, wirelen, flags);
	relaxed_add(&ring->produced, 1);
	if (flags & RC_SLOT_TRUNCATED)
		relaxed_add(&ring->truncated, 1);
	/* release: the record written above is visible before the new head */
	atomic_store_explicit(&ring->hdr->head, head + slots, memory_order_release);
	seq_end(&ring->prod_seq);

	uint64_t slots_used = head + slots -
			      atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	if (slots_used > atomic_load_explicit(&ring->slots_used_high, memory_order_relaxed))
		atomic_store_explicit(&ring->slots_used_high, slots_used,
				      memory_order_relaxed);
	return 0;
}

void rc_ring_count_drop(struct rc_ring *ring, uint32_t wirelen, uint32_t flags)
{
	seq_begin(&ring->prod_seq);
	count_taken(ring, wirelen, flags);
	relaxed_add(&ring->ring_drops, 1);
	seq_end(&ring->prod_seq);
}

void rc_ring_publish_block(struct rc_ring *ring, uint32_t packets, uint64_t wire_bytes,
			   uint32_t outgoing_packets, uint64_t outgoing_bytes, uint32_t truncated)
{
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	/* the counters and head move together for rc_ring_stats */
	seq_begin(&ring->prod_seq);
	relaxed_add(&ring->kernel_packets, packets);
	relaxed_add(&ring->produced, packets);
	relaxed_add(&ring->kernel_bytes, wire_bytes);
	relaxed_add(&ring->outgoing_packets, outgoing_packets);
	relaxed_add(&ring->outgoing_bytes, outgoing_bytes);
	relaxed_add(&ring->truncated, truncated);
	/* release: the headers written in place are visible before the new head */
	atomic_store_explicit(&ring->hdr->head, head + 1, memory_order_release);
	seq_end(&ring->prod_seq);
	uint64_t used = head + 1 - atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	if (used > atomic_load_explicit(&ring->slots_used_high, memory_order_relaxed))
		atomic_store_explicit(&ring->slots_used_high, used, memory_order_relaxed);
}

/* Free every slot before new_tail. */
static void free_slots(struct rc_ring *ring, uint64_t new_tail)
{
	/* A release inside a zero-copy block frees no block: the producer
	 * waiting for one (rc_ring_wait_block_returned) is woken only when
	 * tail moves, not per batch (that was a futex wake and a context
	 * switch per batch, several per block). */
	if (new_tail == atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed))
		return;
	/* release: our reads of the slots happen before the producer may reuse
	 * them; sequentially consistent as well, for the handshake with a
	 * producer waiting for room (rc_ring_wait_room) */
	atomic_store_explicit(&ring->hdr->tail, new_tail, memory_order_seq_cst);
	if (atomic_load(&ring->producer_waiting))
		rc_ring_wake_producer(ring);
}

static void count_poll(struct rc_ring *ring, uint32_t n)
{
	relaxed_add(&ring->polls, 1);
	if (n == 0) {
		relaxed_add(&ring->empty_polls, 1);
	} else {
		unsigned b = log2_floor(n);
		relaxed_add(&ring->batch_hist[b < RC_BATCH_BUCKETS ? b : RC_BATCH_BUCKETS - 1], 1);
	}
}

/* A zero-copy ring's poll: the packets of the blocks handed over. */
static uint32_t poll_kernel_ring(struct rc_ring *ring, uint32_t max, uint64_t *first_pos,
				 const struct rc_slot_hdr **batch, uint64_t *ends)
{
	struct rc_kernel_ring *k = ring->kernel;
	*first_pos = k->poll_pos;
	uint32_t n = kernel_ring_poll(ring, max, batch, ends);
	count_poll(ring, n);
	ring->held += n;
	/* only empty blocks passed and nothing held: no release would give
	 * them back */
	if (ring->held == 0 && k->release_pos != k->poll_pos) {
		k->release_pos = k->poll_pos;
		free_slots(ring, kernel_ring_return_blocks(ring, k->poll_pos));
	}
	return n;
}

/* rc_ring_poll, and ring_poll_batch when batch and ends are given. */
static uint32_t poll_records(struct rc_ring *ring, uint32_t max, uint64_t *first_pos,
			     const struct rc_slot_hdr **batch, uint64_t *ends)
{
	if (ring->kernel)
		return poll_kernel_ring(ring, max, first_pos, batch, ends);
	/* a batch starts after the ones the consumer still holds */
	uint64_t first = atomic_load_explicit(&ring->hdr->consuming, memory_order_relaxed);
	/* acquire: pairs with the producer's release of head, so every record
	 * before head is completely written */
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_acquire);
	uint64_t pos = first;
	/* the slot's index kept beside pos: one division per poll, not one
	 * per record (records never wrap, so it wraps exactly at the end) */
	uint32_t index = (uint32_t)(pos % ring->slot_count);
	uint32_t n = 0;
	while (pos != head && n < max) {
		const struct rc_slot_hdr *slot =
			(const struct rc_slot_hdr *)(ring->slots + (size_t)index * ring->slot_size);
		uint32_t slots = slot->slots;
		pos += slots;
		index += slots;
		if (index >= ring->slot_count)
			index -= ring->slot_count;
		if (!(slot->flags & RC_SLOT_PADDING)) {
			if (batch) {
				batch[n] = slot;
				ends[n] = pos;
			}
			n++;
		}
	}
	count_poll(ring, n);
	atomic_store_explicit(&ring->hdr->consuming, pos, memory_order_relaxed);
	ring->held += n;
	/* only padding taken and nothing held: no release would free it */
	if (ring->held == 0 && pos != atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed))
		free_slots(ring, pos);
	*first_pos = first;
	return n;
}

uint32_t rc_ring_poll(struct rc_ring *ring, uint32_t max, uint64_t *first_pos)
{
	return poll_records(ring, max, first_pos, NULL, NULL);
}

uint32_t ring_poll_batch(struct rc_ring *ring, uint32_t max, const struct rc_slot_hdr **batch,
			 uint64_t *ends)
{
	uint64_t first_pos;
	return poll_records(ring, max, &first_pos, batch, ends);
}

const struct rc_slot_hdr *rc_ring_next(struct rc_ring *ring, uint64_t *pos)
{
	if (ring->kernel)
		return kernel_ring_next(ring, pos);
	const struct rc_slot_hdr *slot = slot_at(ring, *pos);
	/* padding runs to the ring's end and slot 0 always starts a packet:
	 * there is never more than one in a row */
	if (slot->flags & RC_SLOT_PADDING) {
		*pos += slot->slots;
		slot = slot_at(ring, *pos);
	}
	*pos += slot->slots;
	return slot;
}

const struct rc_slot_hdr *rc_ring_slot(struct rc_ring *ring, uint64_t pos)
{
	return ring->kernel ? NULL : slot_at(ring, pos);
}

/* The records are read from batch, and the slots freed up to ends[n - 1],
 * when given (ring_release_batch); else walked from the release position. */
static int release(struct rc_ring *ring, uint32_t n, uint32_t stored, uint32_t failed,
		   const struct rc_slot_hdr *const *batch, const uint64_t *ends)
{
	/* only what was polled: a record freed unseen would be counted as
	 * delivered and lost */
	if (n > ring->held)
		return -EINVAL;
	if (n == 0)
		return 0;
	uint64_t pos = ring->kernel ? ring->kernel->release_pos :
				      atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	uint64_t consuming = atomic_load_explicit(&ring->hdr->consuming, memory_order_relaxed);
	uint64_t now = rc_now_ns();
	uint64_t bytes = 0, max_ns = 0, sum_ns = 0;
	uint64_t hist[RC_LATENCY_BUCKETS] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		const struct rc_slot_hdr *slot = batch ? batch[i] : rc_ring_next(ring, &pos);
		bytes += slot->wirelen;
		uint64_t latency_ns = now > slot->ts_ns ? now - slot->ts_ns : 0;
		sum_ns += latency_ns;
		if (latency_ns > max_ns)
			max_ns = latency_ns;
		unsigned b = log2_floor(latency_ns / 1000);
		hist[b < RC_LATENCY_BUCKETS ? b : RC_LATENCY_BUCKETS - 1]++;
	}
	if (batch)
		pos = ends[n - 1];
	/* padding polled right after them goes too: no later release starts
	 * before it */
	if (!ring->kernel && pos != consuming && (slot_at(ring, pos)->flags & RC_SLOT_PADDING))
		pos += slot_at(ring, pos)->slots;
	for (unsigned b = 0; b < RC_LATENCY_BUCKETS; b++)
		if (hist[b])
			relaxed_add(&ring->latency_hist[b], hist[b]);
	if (max_ns > atomic_load_explicit(&ring->latency_max_ns, memory_order_relaxed))
		atomic_store_explicit(&ring->latency_max_ns, max_ns, memory_order_relaxed);
	relaxed_add(&ring->latency_sum_ns, sum_ns);
	relaxed_add(&ring->delivered_bytes, bytes);
	/* before tail: a reader that sees the new tail sees these delivered */
	seq_begin(&ring->cons_seq);
	relaxed_add(&ring->delivered, n);
	relaxed_add(&ring->stored, stored);
	relaxed_add(&ring->store_failed, failed);
	seq_end(&ring->cons_seq);
	ring->held -= n;
	if (ring->kernel) {
		/* nothing held: the empty units the last poll passed go back
		 * too (no later poll may come to give them back) */
		ring->kernel->release_pos = ring->held ? pos : ring->kernel->poll_pos;
		pos = kernel_ring_return_blocks(ring, ring->kernel->release_pos);
	}
	free_slots(ring, pos);
	return 0;
}

int rc_ring_release(struct rc_ring *ring, uint32_t n)
{
	return release(ring, n, 0, 0, NULL, NULL);
}

int ring_release_batch(struct rc_ring *ring, const struct rc_slot_hdr *const *batch,
		       const uint64_t *ends, uint32_t n, uint32_t stored, uint32_t failed)
{
	return release(ring, n, stored, failed, batch, ends);
}

void rc_ring_wake_producer(struct rc_ring *ring)
{
	atomic_fetch_add(&ring->room_seq, 1);
	syscall(SYS_futex, &ring->room_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* As wait_event below, the other way round: a release after our read of
 * room_seq changes it, so the futex wait returns at once; one before it
 * moved tail, which the seq_cst load then sees. */
void rc_ring_wait_room(struct rc_ring *ring, uint64_t max_ns)
{
	uint32_t seq = atomic_load(&ring->room_seq);
	atomic_store(&ring->producer_waiting, 1);
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	if (head - atomic_load(&ring->hdr->tail) + ring->room_wanted > ring->slot_count) {
		struct timespec ts = rc_timespec(max_ns);
		syscall(SYS_futex, &ring->room_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
	}
	atomic_store(&ring->producer_waiting, 0);
}

/* The wake-up handshake is sequentially consistent (not just acquire/
 * release) because each side stores one flag and then reads the other's. */
void rc_ring_notify(struct rc_ring *ring)
{
	atomic_fetch_add(&ring->wake_seq, 1);
	if (atomic_load(&ring->consumer_waiting))
		syscall(SYS_futex, &ring->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Returns whether it slept (the ring was still empty). */
static int wait_event(struct rc_ring *ring)
{
	/* A notify after this read changes wake_seq, so the futex wait below
	 * returns at once; one before it published head, which we then see. */
	uint32_t seq = atomic_load(&ring->wake_seq);
	atomic_store(&ring->consumer_waiting, 1);
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	int empty = head == tail;
	if (empty) {
		struct timespec ts = rc_timespec(RC_EVENT_WAIT_MAX_US * 1000ull);
		/* returns at once if a notify bumped wake_seq since we read it */
		syscall(SYS_futex, &ring->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
	}
	atomic_store(&ring->consumer_waiting, 0);
	return empty;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause(); /* lets the sibling hyperthread run, saves power */
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* RC_WAIT_ADAPTIVE: a spin that ran out halves the next one, down to
 * spin_us / SPIN_SHORTEST_DIV; every SPIN_PROBE_EVERY-th wait spins the whole
 * spin_us, so a producer that speeds up is found again. */
#define SPIN_SHORTEST_DIV 16
#define SPIN_PROBE_EVERY 16

/* RC_WAIT_ADAPTIVE's spin: whether the producer moved head within the
 * learned spin (see ringcore.h).  It runs right after an empty poll, so
 * head as it starts is what that poll saw (one published in between costs a
 * spin, and the event wait then returns at once: nothing is missed); head,
 * not the consumer's positions, so it means the same whatever head counts.
 * Reads head only (its cache line stays shared until the producer writes
 * it), the clock every 64 reads. */
static int spin_for_work(struct rc_ring *ring)
{
	uint64_t seen = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	uint64_t whole_ns = atomic_load_explicit(&ring->spin_us, memory_order_relaxed) * 1000ull;
	uint64_t spin_ns = ring->spin_next_ns;
	ring->spin_waits++;
	if (spin_ns == 0 || spin_ns > whole_ns || ring->spin_waits % SPIN_PROBE_EVERY == 0)
		spin_ns = whole_ns; /* the first, after spin_us changed, or a probe */
	uint64_t deadline = monotonic_ns() + spin_ns;
	do {
		for (int i = 0; i < 64; i++) {
			/* relaxed: the poll that follows load-acquires head */
			if (atomic_load_explicit(&ring->hdr->head, memory_order_relaxed) != seen) {
				ring->spin_next_ns = whole_ns;
				return 1;
			}
			cpu_relax();
		}
	} while (monotonic_ns() < deadline);
	uint64_t shortest = whole_ns / SPIN_SHORTEST_DIV;
	ring->spin_next_ns = spin_ns / 2 > shortest ? spin_ns / 2 : shortest;
	return 0;
}

void rc_ring_wait(struct rc_ring *ring)
{
	int strategy = atomic_load_explicit(&ring->wait_strategy, memory_order_relaxed);
	if (strategy == RC_WAIT_SPIN)
		return;
	uint64_t start = monotonic_ns();
	int woke = 0;
	if (strategy == RC_WAIT_YIELD) {
		sched_yield();
	} else if (strategy == RC_WAIT_EVENT) {
		woke = wait_event(ring);
	} else if (strategy == RC_WAIT_ADAPTIVE) {
		if (spin_for_work(ring)) {
			relaxed_add(&ring->spin_found, 1);
		} else {
			relaxed_add(&ring->spin_slept, 1);
			woke = wait_event(ring);
		}
	} else {
		uint32_t us = atomic_load_explicit(&ring->poll_interval_us, memory_order_relaxed);
		struct timespec ts = rc_timespec(us * 1000ull);
		nanosleep(&ts, NULL);
		woke = 1;
	}
	relaxed_add(&ring->sleeps, 1);
	relaxed_add(&ring->sleep_ns, monotonic_ns() - start);
	if (woke)
		relaxed_add(&ring->wakeups, 1);
}

static uint64_t load(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* A seqcount read section: the count to check at its end, once no write is
 * under way. */
static uint64_t seq_read_begin(_Atomic uint64_t *seq)
{
	for (;;) {
		uint64_t v = atomic_load_explicit(seq, memory_order_acquire);
		if (!(v & 1))
			return v;
		sched_yield();
	}
}

void rc_ring_stats(struct rc_ring *ring, struct rc_stats *out)
{
	memset(out, 0, sizeof(*out));
	uint64_t seq;
	do {
		do {
			seq = seq_read_begin(&ring->prod_seq);
			out->kernel_packets = load(&ring->kernel_packets);
			out->produced = load(&ring->produced);
			out->kernel_bytes = load(&ring->kernel_bytes);
			out->ring_drops = load(&ring->ring_drops);
			out->truncated = load(&ring->truncated);
			out->outgoing_packets = load(&ring->outgoing_packets);
			out->outgoing_bytes = load(&ring->outgoing_bytes);
			out->head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire); /* the loads before the check */
		} while (atomic_load_explicit(&ring->prod_seq, memory_order_relaxed) != seq);
		/* Consumer side after the producer side.  The acquire on
		 * prod_seq orders this tail after the tail the producer saw
		 * when it published head, so head - tail <= slot_count; a tail
		 * read before head could be any number of laps old.  delivered
		 * after tail: the consumer counts them before it moves tail, so
		 * this count covers at least the records before the tail read
		 * (occupancy <= slots_used). */
		out->tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
		do {
			seq = seq_read_begin(&ring->cons_seq);
			out->delivered = load(&ring->delivered);
			out->stored = load(&ring->stored);
			out->store_failed = load(&ring->store_failed);
			atomic_thread_fence(memory_order_acquire);
		} while (atomic_load_explicit(&ring->cons_seq, memory_order_relaxed) != seq);
		/* The consumer may meanwhile have taken packets published
		 * after that head (then tail may be past it too): read again,
		 * rather than cut delivered and leave stored off by as many. */
	} while (out->delivered > out->produced);
	out->delivered_bytes = load(&ring->delivered_bytes);
	out->consuming = load(&ring->hdr->consuming);
	out->polls = load(&ring->polls);
	out->empty_polls = load(&ring->empty_polls);
	out->sleeps = load(&ring->sleeps);
	out->sleep_ns = load(&ring->sleep_ns);
	out->wakeups = load(&ring->wakeups);
	out->spin_found = load(&ring->spin_found);
	out->spin_slept = load(&ring->spin_slept);
	out->latency_max_ns = load(&ring->latency_max_ns);
	out->latency_sum_ns = load(&ring->latency_sum_ns);
	for (unsigned b = 0; b < RC_BATCH_BUCKETS; b++)
		out->batch_hist[b] = load(&ring->batch_hist[b]);
	for (unsigned b = 0; b < RC_LATENCY_BUCKETS; b++)
		out->latency_hist[b] = load(&ring->latency_hist[b]);
	out->kernel_drops = load(&ring->kernel_drops);
	out->kernel_seen = load(&ring->kernel_seen);
	out->lost_at_stop = load(&ring->lost_at_stop);
	out->occupancy = out->produced - out->delivered;
	out->slots_used = out->head - out->tail;
	out->slots_used_high = load(&ring->slots_used_high);
	if (out->slots_used_high < out->slots_used)
		out->slots_used_high = out->slots_used;
	out->slot_size = ring->slot_size;
	out->slot_count = ring->slot_count;
	out->drop_policy = atomic_load_explicit(&ring->drop_policy, memory_order_relaxed);
	out->wait_strategy = atomic_load_explicit(&ring->wait_strategy, memory_order_relaxed);
	out->poll_interval_us = atomic_load_explicit(&ring->poll_interval_us, memory_order_relaxed);
	out->spin_us = atomic_load_explicit(&ring->spin_us, memory_order_relaxed);
	out->paused = (uint32_t)atomic_load_explicit(&ring->paused, memory_order_relaxed);
	out->truncate_to_slot = ring->truncate_to_slot;
	out->mode = !ring->kernel ? RC_MODE_COPY :
		    atomic_load_explicit(&ring->direct, memory_order_relaxed) ? RC_MODE_DIRECT :
										RC_MODE_ZERO_COPY;
}

void rc_ring_reset_high_water(struct rc_ring *ring)
{
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	atomic_store_explicit(&ring->slots_used_high, head - tail, memory_order_relaxed);
}

int rc_ring_set_drop_policy(struct rc_ring *ring, int32_t policy)
{
	if (policy != RC_DROP_EARLY && policy != RC_DROP_LATE)
		return -EINVAL;
	if (ring->kernel && policy != RC_DROP_EARLY)
		return -EOPNOTSUPP; /* the kernel drops, before any copy: early */
	atomic_store_explicit(&ring->drop_policy, policy, memory_order_relaxed);
	rc_ring_wake_producer(ring); /* one waiting for room applies it now */
	return 0;
}

int rc_ring_set_wait(struct rc_ring *ring, int32_t strategy,
		     uint32_t poll_interval_us)
{
	if (strategy < RC_WAIT_SLEEP || strategy > RC_WAIT_ADAPTIVE ||
	    poll_interval_us > RC_POLL_INTERVAL_MAX_US)
		return -EINVAL;
	atomic_store_explicit(&ring->wait_strategy, strategy, memory_order_relaxed);
	atomic_store_explicit(&ring->poll_interval_us, poll_interval_us,
			      memory_order_relaxed);
	return 0;
}

int rc_ring_set_spin(struct rc_ring *ring, uint32_t spin_us)
{
	if (spin_us > RC_SPIN_MAX_US)
		return -EINVAL;
	atomic_store_explicit(&ring->spin_us, spin_us ? spin_us : RC_SPIN_DEFAULT_US,
			      memory_order_relaxed);
	return 0;
}

void *rc_ring_base(struct rc_ring *ring)
{
	return ring->hdr;
}

size_t rc_ring_map_size(struct rc_ring *ring)
{
	return ring->map_size;
}

void *rc_ring_data_base(struct rc_ring *ring)
{
	return ring->kernel ? (void *)ring->kernel->layout.map : (void *)ring->slots;
}

size_t rc_ring_data_size(struct rc_ring *ring)
{
	return ring->kernel ? ring->kernel->map_size :
			      (size_t)ring->slot_count * ring->slot_size;
}

static uint8_t slot_kind(struct rc_ring *ring, uint32_t index)
{
	return atomic_load_explicit(&ring->slot_kind[index], memory_order_relaxed);
}

/* The first slot of the record slot index belongs to: back over the
 * continuation slots, or over the padding before it.  Records never wrap,
 * so the walk ends at slot 0 at the latest. */
static uint32_t record_first_index(struct rc_ring *ring, uint32_t index)
{
	uint8_t kind = slot_kind(ring, index);
	while (index > 0 && (kind == RC_SLOT_KIND_CONTINUED ||
			     (kind == RC_SLOT_KIND_PADDING &&
			      slot_kind(ring, index - 1) == RC_SLOT_KIND_PADDING))) {
		index--;
		if (kind == RC_SLOT_KIND_CONTINUED)
			kind = slot_kind(ring, index);
	}
	return index;
}

int64_t rc_ring_copy_slot(struct rc_ring *ring, uint32_t index, void *dst,
			  size_t dstlen, uint32_t *first)
{
	if (index >= ring->slot_count)
		return -ERANGE;
	if (ring->kernel) {
		*first = index;
		return kernel_ring_copy_slot(ring, index, dst, dstlen);
	}
	uint32_t first_index = record_first_index(ring, index);
	const struct rc_slot_hdr *slot =
		(const struct rc_slot_hdr *)(ring->slots + (size_t)first_index * ring->slot_size);
	/* A viewer copies a record the producer may be rewriting: clamp the
	 * length it read so a torn header can never run past the ring's end. */
	struct rc_slot_hdr hdr;
	memcpy(&hdr, slot, sizeof(hdr));
	uint64_t room = (uint64_t)(ring->slot_count - first_index) * ring->slot_size - sizeof(hdr);
	if (hdr.caplen > room)
		hdr.caplen = (uint32_t)room;
	size_t total = sizeof(hdr) + hdr.caplen;
	if (dstlen < total)
		return -ENOSPC;
	memcpy(dst, &hdr, sizeof(hdr));
	memcpy((uint8_t *)dst + sizeof(hdr), slot + 1, hdr.caplen);
	*first = first_index;
	return (int64_t)total;
}

uint32_t rc_ring_slot_kinds(struct rc_ring *ring, uint8_t *out, uint32_t len)
{
	uint32_t n = len < ring->slot_count ? len : ring->slot_count;
	for (uint32_t i = 0; i < n; i++)
		out[i] = slot_kind(ring, i);
	return n;
}

void rc_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (!errbuf || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}
