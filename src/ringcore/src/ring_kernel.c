/* ring_kernel.c — zero-copy rings: the slots are the kernel ring's own units
 * (TPACKET_V3 blocks, or TPACKET_V2 frames in immediate mode), handed to the
 * consumer whole by the producer and given back to the kernel once their
 * last packet is released (layout in ringcore.h). */
#define _GNU_SOURCE
#include "ring_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct rc_kernel_map *kernel_map_new(int fd, uint8_t *map, size_t size)
{
	struct rc_kernel_map *km = malloc(sizeof(*km));
	if (!km)
		return NULL;
	atomic_init(&km->refs, 1);
	km->fd = fd;
	km->map = map;
	km->size = size;
	return km;
}

void kernel_map_retain(struct rc_kernel_map *km)
{
	atomic_fetch_add_explicit(&km->refs, 1, memory_order_relaxed);
}

void kernel_map_release(struct rc_kernel_map *km)
{
	/* acq_rel: every owner's use of the blocks happens before the unmap */
	if (atomic_fetch_sub_explicit(&km->refs, 1, memory_order_acq_rel) != 1)
		return;
	munmap(km->map, km->size);
	close(km->fd);
	free(km);
}

int rc_ring_create_kernel(const struct rc_ring_config *cfg, struct rc_kernel_map *km,
			  const struct rc_kernel_layout *layout, struct rc_ring **out,
			  char *errbuf, size_t errlen)
{
	struct rc_kernel_ring *k = calloc(1, sizeof(*k));
	if (!k) {
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	/* every drop is the kernel's: the ring is early whatever was asked */
	struct rc_ring_config early = *cfg;
	early.drop_policy = RC_DROP_EARLY;
	int rc = ring_new(&early, layout->unit_size, layout->unit_nr, (size_t)sysconf(_SC_PAGESIZE),
			  out, errbuf, errlen);
	if (rc) {
		free(k);
		return rc;
	}
	kernel_map_retain(km);
	k->km = km;
	k->layout = *layout;
	k->map_size = km->size;
	(*out)->kernel = k;
	return 0;
}

void kernel_ring_start_at(struct rc_ring *ring, uint64_t unit)
{
	struct rc_kernel_ring *k = ring->kernel;
	k->poll_pos = k->release_pos = unit * k->layout.unit_size;
	atomic_store_explicit(&ring->hdr->head, unit, memory_order_relaxed);
	atomic_store_explicit(&ring->hdr->tail, unit, memory_order_relaxed);
	atomic_store_explicit(&ring->hdr->consuming, unit, memory_order_relaxed);
}

void kernel_ring_free(struct rc_kernel_ring *k)
{
	kernel_map_release(k->km);
	free(k);
}

void *rc_ring_kernel_block_ready(struct rc_ring *ring)
{
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	/* acquire: the consumer's reads of a unit it gave back are done */
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
	if (head - tail >= ring->slot_count)
		return NULL; /* the consumer holds every unit: this one from the lap before */
	uint8_t *unit = kunit_at(&ring->kernel->layout, head);
	return kunit_ready(&ring->kernel->layout, unit) ? unit : NULL;
}

/* The handshake of rc_ring_wait_room (ring.c): a unit given back after our
 * read of room_seq changes it, so the futex wait returns at once; one before
 * moved tail, which the sequentially consistent load then sees. */
void rc_ring_wait_block_returned(struct rc_ring *ring, uint64_t tail_seen, uint64_t max_ns)
{
	uint32_t seq = atomic_load(&ring->room_seq);
	atomic_store(&ring->producer_waiting, 1);
	if (atomic_load(&ring->hdr->tail) == tail_seen) {
		struct timespec ts = rc_timespec(max_ns);
		syscall(SYS_futex, &ring->room_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
	}
	atomic_store(&ring->producer_waiting, 0);
}

/* pos moved onto a packet: a unit's start (offset 0) becomes its first
 * packet, and units with none are passed.  Stops at head (not handed over:
 * returns head's start). */
static uint64_t settle(const struct rc_kernel_ring *k, uint64_t pos, uint64_t head)
{
	const struct rc_kernel_layout *l = &k->layout;
	while (pos % l->unit_size == 0) {
		uint64_t unit_pos = pos / l->unit_size;
		if (unit_pos >= head)
			break;
		const uint8_t *unit = kunit_at(l, unit_pos);
		if (kunit_packets(l, unit))
			return pos + 1 + kunit_first(l, unit);
		pos += l->unit_size;
	}
	return pos;
}

static uint8_t *frame_at(const struct rc_kernel_ring *k, uint64_t pos)
{
	return kunit_at(&k->layout, pos / k->layout.unit_size) + pos % k->layout.unit_size - 1;
}

/* The position after the packet at pos: the next unit's start after a
 * unit's last packet (whose tp_next_offset the V3 producer zeroed). */
static uint64_t after(const struct rc_kernel_ring *k, uint64_t pos)
{
	uint8_t *frame = frame_at(k, pos);
	uint8_t *next = kframe_next(&k->layout, frame);
	return next && next != frame ? pos + (uint64_t)(next - frame) :
				       (pos / k->layout.unit_size + 1) * k->layout.unit_size;
}

uint32_t kernel_ring_poll(struct rc_ring *ring, uint32_t max, const struct rc_slot_hdr **batch,
			  uint64_t *ends)
{
	struct rc_kernel_ring *k = ring->kernel;
	const struct rc_kernel_layout *l = &k->layout;
	uint32_t unit_size = l->unit_size;
	/* acquire: pairs with the producer's release of head, so every header
	 * it wrote in the units before head is written */
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_acquire);
	/* the position as its unit and the offset in it, so the walk divides
	 * once per unit, not per packet (settle and after, per packet, were
	 * most of the consumer's time) */
	uint64_t unit_pos = k->poll_pos / unit_size;
	uint64_t off = k->poll_pos % unit_size;
	uint8_t *unit = NULL;
	uint32_t n = 0;
	while (n < max && unit_pos < head) {
		if (!unit)
			unit = kunit_at(l, unit_pos);
		if (off == 0) { /* a unit not yet looked into: its first packet, or pass it */
			if (!kunit_packets(l, unit)) {
				unit_pos++;
				unit = NULL;
				continue;
			}
			off = 1 + kunit_first(l, unit);
		}
		uint8_t *frame = unit + off - 1;
		uint8_t *next = kframe_next(l, frame);
		if (batch)
			batch[n] = (const struct rc_slot_hdr *)(frame + kframe_read(l, frame).mac) - 1;
		n++;
		if (next && next != frame) {
			off += (uint64_t)(next - frame);
		} else { /* the unit's last packet (its tp_next_offset zeroed by the producer) */
			unit_pos++;
			unit = NULL;
			off = 0;
		}
		if (ends)
			ends[n - 1] = unit_pos * unit_size + off;
	}
	uint64_t pos = unit_pos * unit_size + off;
	k->poll_pos = pos;
	/* the units a packet of which was polled: the slot map's "consuming" */
	atomic_store_explicit(&ring->hdr->consuming, (pos + unit_size - 1) / unit_size,
			      memory_order_relaxed);
	return n;
}

const struct rc_slot_hdr *kernel_ring_next(struct rc_ring *ring, uint64_t *pos)
{
	const struct rc_kernel_ring *k = ring->kernel;
	/* a polled packet's unit is handed over: no head to stop at */
	uint64_t at = settle(k, *pos, UINT64_MAX);
	const uint8_t *frame = frame_at(k, at);
	*pos = after(k, at);
	return (const struct rc_slot_hdr *)(frame + kframe_read(&k->layout, frame).mac) - 1;
}

uint64_t kernel_ring_return_blocks(struct rc_ring *ring, uint64_t pos)
{
	const struct rc_kernel_ring *k = ring->kernel;
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	uint64_t done = pos / k->layout.unit_size; /* every unit before pos's is released */
	for (uint64_t u = tail; u < done; u++)
		kunit_return(&k->layout, kunit_at(&k->layout, u));
	return done > tail ? done : tail;
}

/* Where a viewer finds the first packet of a unit: the offset of its frame
 * header and of its data in the unit (0, 0: none to show). */
static void first_packet(const struct rc_kernel_layout *l, const uint8_t *unit, uint64_t *frame,
			 uint64_t *mac)
{
	*frame = *mac = 0;
	if (l->version == TPACKET_V3) {
		const struct tpacket_block_desc *bd = (const struct tpacket_block_desc *)unit;
		uint32_t first = __atomic_load_n(&bd->hdr.bh1.offset_to_first_pkt, __ATOMIC_RELAXED);
		uint32_t packets = __atomic_load_n(&bd->hdr.bh1.num_pkts, __ATOMIC_RELAXED);
		if (!packets || first < sizeof(*bd) || first >= l->unit_size - sizeof(struct tpacket3_hdr))
			return;
		const struct tpacket3_hdr *ppd = (const struct tpacket3_hdr *)(unit + first);
		*frame = first;
		*mac = (uint64_t)first + __atomic_load_n(&ppd->tp_mac, __ATOMIC_RELAXED);
	} else {
		const struct tpacket2_hdr *h = (const struct tpacket2_hdr *)unit;
		*mac = __atomic_load_n(&h->tp_mac, __ATOMIC_RELAXED);
	}
}

int64_t kernel_ring_copy_slot(struct rc_ring *ring, uint32_t index, void *dst, size_t dstlen)
{
	const struct rc_kernel_layout *l = &ring->kernel->layout;
	const uint8_t *unit = kunit_at(l, index);
	/* A viewer reads a unit the kernel may be filling: every offset it
	 * reads is checked against the unit before it is followed. */
	struct rc_slot_hdr hdr = { .flags = RC_SLOT_PADDING, .slots = 1 };
	const uint8_t *data = NULL;
	uint64_t frame, mac;
	first_packet(l, unit, &frame, &mac);
	if (mac >= frame + sizeof(hdr) && mac <= l->unit_size) {
		memcpy(&hdr, unit + mac - sizeof(hdr), sizeof(hdr));
		if (hdr.caplen > l->unit_size - mac)
			hdr.caplen = (uint32_t)(l->unit_size - mac);
		data = unit + mac;
	}
	size_t total = sizeof(hdr) + (data ? hdr.caplen : 0);
	if (dstlen < total)
		return -ENOSPC;
	memcpy(dst, &hdr, sizeof(hdr));
	if (data)
		memcpy((uint8_t *)dst + sizeof(hdr), data, hdr.caplen);
	else
		((struct rc_slot_hdr *)dst)->caplen = 0;
	return (int64_t)total;
}
