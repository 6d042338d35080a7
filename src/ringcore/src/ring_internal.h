/* ring_internal.h — what the ring, capture and drain share but the public
 * header does not promise. */
#ifndef RING_INTERNAL_H
#define RING_INTERNAL_H

#include "ringcore.h"

#include <linux/if_packet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

/* pcap link types: what capture produces and talkers parses */
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101

/* A packet socket and its mapped TPACKET_V3 blocks, shared by the capture and
 * the zero-copy rings made on it (a ring outlives its capture while a Python
 * view of it lives; a mode switch leaves one to its consumer): the last
 * reference unmaps the blocks, then closes the socket (closed first, the
 * kernel would free a ring still mapped). */
struct rc_kernel_map {
	_Atomic uint32_t refs;
	int fd;
	uint8_t *map;
	size_t size;
};

/* One more reference to km, or (NULL) a new one, with the capture's reference,
 * over fd and map (which it then owns). */
struct rc_kernel_map *kernel_map_new(int fd, uint8_t *map, size_t size);
void kernel_map_retain(struct rc_kernel_map *km);
void kernel_map_release(struct rc_kernel_map *km);

/* The kernel ring's layout in both versions: units the kernel hands over one
 * at a time, each with its status word (TP_STATUS_USER: ours), laid out
 * units_per_block to a block of block_size bytes.  TPACKET_V3: a unit is a
 * block of many packets; TPACKET_V2 (immediate mode): a unit is a frame of
 * one packet, handed over as soon as it is written. */
struct rc_kernel_layout {
	uint8_t *map;
	int version; /* TPACKET_V2 or TPACKET_V3 */
	uint32_t unit_size;
	uint32_t unit_nr;
	uint32_t units_per_block;
	uint32_t block_size;
};

/* The unit at a position (any count with the unit's index as remainder). */
static inline uint8_t *kunit_at(const struct rc_kernel_layout *l, uint64_t unit_pos)
{
	uint32_t index = (uint32_t)(unit_pos % l->unit_nr);
	return l->map + (size_t)(index / l->units_per_block) * l->block_size +
	       (size_t)(index % l->units_per_block) * l->unit_size;
}

static inline uint32_t *kunit_status(const struct rc_kernel_layout *l, uint8_t *unit)
{
	return l->version == TPACKET_V3 ?
		       &((struct tpacket_block_desc *)unit)->hdr.bh1.block_status :
		       (uint32_t *)&((struct tpacket2_hdr *)unit)->tp_status;
}

static inline int kunit_ready(const struct rc_kernel_layout *l, uint8_t *unit)
{
	/* acquire: the kernel filled the unit before flagging it ours */
	return (__atomic_load_n(kunit_status(l, unit), __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

static inline void kunit_return(const struct rc_kernel_layout *l, uint8_t *unit)
{
	/* release: our reads of the unit are done before the kernel may refill it */
	__atomic_store_n(kunit_status(l, unit), TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

/* Packets in a unit handed over, and the offset of the first one's frame
 * header in it (never 0 for a V3 block with packets; 0 for a V2 frame). */
static inline uint32_t kunit_packets(const struct rc_kernel_layout *l, const uint8_t *unit)
{
	return l->version == TPACKET_V3 ?
		       ((const struct tpacket_block_desc *)unit)->hdr.bh1.num_pkts : 1;
}

static inline uint32_t kunit_first(const struct rc_kernel_layout *l, const uint8_t *unit)
{
	return l->version == TPACKET_V3 ?
		       ((const struct tpacket_block_desc *)unit)->hdr.bh1.offset_to_first_pkt : 0;
}

/* What the kernel says of one packet, from its frame header in either
 * version. */
struct kframe {
	uint32_t status;
	uint32_t len;
	uint32_t snaplen;
	uint32_t mac; /* offset of the packet from the frame header */
	uint64_t ts_ns;
	uint16_t vlan_tci;
	uint16_t vlan_tpid;
	uint8_t pkttype;
};

static inline struct kframe kframe_read(const struct rc_kernel_layout *l, const uint8_t *frame)
{
	struct kframe f;
	if (l->version == TPACKET_V3) {
		const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)frame;
		f = (struct kframe){ .status = h->tp_status, .len = h->tp_len,
				     .snaplen = h->tp_snaplen, .mac = h->tp_mac,
				     .ts_ns = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec,
				     .vlan_tci = (uint16_t)h->hv1.tp_vlan_tci,
				     .vlan_tpid = h->hv1.tp_vlan_tpid };
		frame += TPACKET_ALIGN(sizeof(struct tpacket3_hdr));
	} else {
		const struct tpacket2_hdr *h = (const struct tpacket2_hdr *)frame;
		f = (struct kframe){ .status = h->tp_status, .len = h->tp_len,
				     .snaplen = h->tp_snaplen, .mac = h->tp_mac,
				     .ts_ns = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec,
				     .vlan_tci = h->tp_vlan_tci, .vlan_tpid = h->tp_vlan_tpid };
		frame += TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
	}
	f.pkttype = ((const struct sockaddr_ll *)frame)->sll_pkttype;
	return f;
}

/* Zero-copy: the packet moved mac bytes after its frame header (a VLAN tag
 * put back before it). */
static inline void kframe_set_mac(const struct rc_kernel_layout *l, uint8_t *frame, uint32_t mac)
{
	if (l->version == TPACKET_V3)
		((struct tpacket3_hdr *)frame)->tp_mac = (uint16_t)mac;
	else
		((struct tpacket2_hdr *)frame)->tp_mac = (uint16_t)mac;
}

/* The frame after `frame` in its unit: the next packet of a V3 block (none
 * after its last); a V2 frame holds one packet, so NULL. */
static inline uint8_t *kframe_next(const struct rc_kernel_layout *l, uint8_t *frame)
{
	return l->version == TPACKET_V3 ?
		       frame + ((const struct tpacket3_hdr *)frame)->tp_next_offset : NULL;
}

/* A zero-copy ring's slots: the socket's kernel ring units (ring_kernel.c). */
struct rc_kernel_ring {
	struct rc_kernel_map *km; /* a reference */
	struct rc_kernel_layout layout;
	size_t map_size;
	/* consumer only: byte positions (unit position * unit_size + 1 + the
	 * offset in the unit of a packet's frame header, so that offset 0
	 * always means a unit not yet looked into, though a V2 frame's header
	 * is at its start) of the next packet to poll and of the oldest one
	 * polled and not released */
	uint64_t poll_pos;
	uint64_t release_pos;
};

struct rc_ring {
	struct rc_ring_header *hdr; /* start of the mapping */
	struct rc_kernel_ring *kernel; /* zero-copy: the slots are its blocks; else NULL */
	_Atomic int32_t direct; /* its consumer is, or last was, a direct drain (rc_stats.mode) */
	uint8_t *slots;             /* hdr + one page */
	size_t map_size;
	uint32_t slot_size;
	uint32_t slot_count;
	uint32_t truncate_to_slot;
	/* each slot's enum rc_slot_kind, written by the producer with the
	 * record, read by viewers (rc_ring_slot_kinds, rc_ring_copy_slot) */
	_Atomic uint8_t *slot_kind;
	/* owners: the creator, and whoever rc_ring_retain'ed it (a drain, a
	 * Python view of the mapping); the last rc_ring_destroy unmaps */
	_Atomic uint32_t refs;
	/* 1 while a consumer is attached (rc_ring_attach_consumer): tail and
	 * consuming have one writer */
	_Atomic int32_t consumer_attached;

	/* settings, changed live by the user */
	_Atomic int32_t drop_policy;
	_Atomic int32_t wait_strategy;
	_Atomic uint32_t poll_interval_us;
	_Atomic uint32_t spin_us; /* RC_WAIT_ADAPTIVE's spin */
	_Atomic int32_t paused; /* set by a drain, shown in stats */

	/* RC_WAIT_EVENT: the futex word bumped by rc_ring_notify, and whether a
	 * consumer sleeps on it (so the producer only makes a system call then) */
	_Alignas(64) _Atomic uint32_t wake_seq;
	_Atomic uint32_t consumer_waiting;
	/* Drop-early on a full ring: the futex word the consumer bumps after
	 * it freed slots, and whether the producer sleeps on it (the same
	 * handshake, the other way round) */
	_Atomic uint32_t room_seq;
	_Atomic uint32_t producer_waiting;
	/* slots the last record that did not fit needed: what the producer
	 * waits for (producer only) */
	uint32_t room_wanted;

	/* producer counters (one writer: the capture thread) */
	_Alignas(64) _Atomic uint64_t prod_seq;
	_Atomic uint64_t kernel_packets;
	_Atomic uint64_t produced;
	_Atomic uint64_t kernel_bytes;
	_Atomic uint64_t ring_drops;
	_Atomic uint64_t truncated;
	_Atomic uint64_t outgoing_packets;
	_Atomic uint64_t outgoing_bytes;
	_Atomic uint64_t slots_used_high;
	_Atomic uint64_t kernel_drops;
	_Atomic uint64_t kernel_seen;
	_Atomic uint64_t lost_at_stop; /* written by rc_capture_stop and start */

	/* consumer counters (one writer: whoever polls); delivered, stored
	 * and store_failed change together under cons_seq, as the producer's
	 * under prod_seq */
	_Alignas(64) _Atomic uint64_t cons_seq;
	_Atomic uint64_t delivered;
	_Atomic uint64_t delivered_bytes;
	_Atomic uint64_t stored;       /* by a drain with a store, before release */
	_Atomic uint64_t store_failed;
	uint64_t held; /* records polled and not released (consumer only) */
	/* RC_WAIT_ADAPTIVE's next spin, learned (consumer only; 0: not yet,
	 * spin the whole spin_us), and its waits, to probe the whole length
	 * every RC_SPIN_PROBE_EVERY */
	uint64_t spin_next_ns;
	uint64_t spin_waits;
	_Atomic uint64_t polls;
	_Atomic uint64_t empty_polls;
	_Atomic uint64_t sleeps;
	_Atomic uint64_t sleep_ns;
	_Atomic uint64_t wakeups;
	_Atomic uint64_t spin_found;
	_Atomic uint64_t spin_slept;
	_Atomic uint64_t latency_max_ns;
	_Atomic uint64_t latency_sum_ns;
	_Atomic uint64_t batch_hist[RC_BATCH_BUCKETS];
	_Atomic uint64_t latency_hist[RC_LATENCY_BUCKETS];
};

/* A drain's poll and release, in one walk of the ring instead of three
 * (rc_ring_poll, rc_ring_next per record, rc_ring_release's own walk): the
 * poll puts each record's header in batch[i] and the position after it in
 * ends[i]; ring_release_batch releases the first n of them, reading each
 * record from batch (still in the cache) and freeing up to ends[n - 1].
 * Only for a consumer that holds nothing else when it polls (a drain).  A
 * drain with a store says how many of the n went into it (stored) and how
 * many did not (failed): counted with the release in one step for
 * rc_ring_stats, so delivered == stored + store_failed in every snapshot. */
uint32_t ring_poll_batch(struct rc_ring *ring, uint32_t max, const struct rc_slot_hdr **batch,
			 uint64_t *ends);
int ring_release_batch(struct rc_ring *ring, const struct rc_slot_hdr *const *batch,
		       const uint64_t *ends, uint32_t n, uint32_t stored, uint32_t failed);

/* Producer: sleep until the consumer frees slots, rc_ring_wake_producer is
 * called, or max_ns pass; returns at once when the ring has room for the
 * record rc_ring_produce last refused. */
void rc_ring_wait_room(struct rc_ring *ring, uint64_t max_ns);
/* Wake a producer in rc_ring_wait_room (to stop, or to apply a new policy). */
void rc_ring_wake_producer(struct rc_ring *ring);

static inline void relaxed_add(_Atomic uint64_t *counter, uint64_t v)
{
	/* Only one thread writes each counter: a plain load+store is enough
	 * and avoids a locked instruction on the hot path. */
	atomic_store_explicit(counter,
			      atomic_load_explicit(counter, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/* A span of ns as the timespec nanosleep and futex take: tv_nsec a whole
 * second or more is EINVAL, and a sleep that fails at once is a spin. */
static inline struct timespec rc_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
				  .tv_nsec = (long)(ns % 1000000000ull) };
}

/* A monotonic clock cheap enough to read per batch (a few ms coarse). */
static inline uint64_t rc_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A store's packets saved (store_save.c): written in the order given (the
 * store's), never merged by time; whole_or_nothing: closing after a write
 * error removes the file (else it keeps the whole packets written). */
void writer_set_export(struct rc_writer *w, int whole_or_nothing);
/* One packet with its comment (pcapng: an opt_comment; pcap has no room for
 * it), for an export: -EINVAL when the writer merges by time. */
int writer_write_commented(struct rc_writer *w, int32_t ifid, const struct rc_slot_hdr *slot,
			   const char *comment, uint16_t comment_len);

/* ring.c for ring_kernel.c: a ring with slot_count slots of slot_size bytes
 * and a mapping of map_size bytes (the header page first). */
int ring_new(const struct rc_ring_config *cfg, uint32_t slot_size, uint32_t slot_count,
	     size_t map_size, struct rc_ring **out, char *errbuf, size_t errlen);

/* ---- zero-copy rings (ring_kernel.c) ---- */

/* A ring whose slots are the units of km laid out as `layout` says (cfg
 * gives the wait strategy and poll interval); it takes a reference to km. */
int rc_ring_create_kernel(const struct rc_ring_config *cfg, struct rc_kernel_map *km,
			  const struct rc_kernel_layout *layout, struct rc_ring **out,
			  char *errbuf, size_t errlen);
/* Before any consumer: the first block the producer hands over is block
 * (a position: any count with the block's index as its remainder). */
void kernel_ring_start_at(struct rc_ring *ring, uint64_t block);
/* Producer: the block at head, when the kernel has handed it over (and the
 * consumer does not hold it from the lap before); else NULL. */
void *rc_ring_kernel_block_ready(struct rc_ring *ring);
/* Producer (ring.c, beside the copy ring's counters): hand the block at head
 * to the consumer, its packets' headers written in place; counts them as
 * taken and stored, in one step. */
void rc_ring_publish_block(struct rc_ring *ring, uint32_t packets, uint64_t wire_bytes,
			   uint32_t outgoing_packets, uint64_t outgoing_bytes, uint32_t truncated);
/* Producer: sleep until the consumer gives back a block after tail_seen
 * (the tail the producer decided on), or max_ns pass. */
void rc_ring_wait_block_returned(struct rc_ring *ring, uint64_t tail_seen, uint64_t max_ns);
/* Consumer side, called by ring.c for a zero-copy ring. */
/* batch and ends as ring_poll_batch's (NULL: not wanted). */
uint32_t kernel_ring_poll(struct rc_ring *ring, uint32_t max, const struct rc_slot_hdr **batch,
			  uint64_t *ends);
const struct rc_slot_hdr *kernel_ring_next(struct rc_ring *ring, uint64_t *pos);
/* The consumer released every packet before pos: give back the blocks
 * before pos's block; returns the new tail (blocks). */
uint64_t kernel_ring_return_blocks(struct rc_ring *ring, uint64_t pos);
int64_t kernel_ring_copy_slot(struct rc_ring *ring, uint32_t index, void *dst, size_t dstlen);
void kernel_ring_free(struct rc_kernel_ring *k);

/* capture.c: make d the capture's direct drain (NULL: none); returns once no
 * batch of the one before runs in the capture's thread. */
void capture_set_direct(struct rc_capture *cap, struct rc_drain *d);
/* drain.c: a direct drain's sinks take what the ring holds (unless paused or
 * at its limit): run by the capture's thread after each block. */
void drain_dispatch(struct rc_drain *d);

void rc_err(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t rc_now_ns(void);

#endif
