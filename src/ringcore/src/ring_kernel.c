/* ring_kernel.c — zero-copy rings: the slots are the kernel's own TPACKET_V3
 * blocks, handed to the consumer whole by the producer and given back to the
 * kernel once their last packet is released (layout in ringcore.h). */
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
			  uint32_t block_size, uint32_t block_nr, struct rc_ring **out,
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
	int rc = ring_new(&early, block_size, block_nr, (size_t)sysconf(_SC_PAGESIZE), out,
			  errbuf, errlen);
	if (rc) {
		free(k);
		return rc;
	}
	kernel_map_retain(km);
	k->km = km;
	k->map = km->map;
	k->map_size = (size_t)block_size * block_nr;
	k->block_size = block_size;
	k->block_nr = block_nr;
	(*out)->kernel = k;
	return 0;
}

void kernel_ring_start_at(struct rc_ring *ring, uint64_t block)
{
	struct rc_kernel_ring *k = ring->kernel;
	k->poll_pos = k->release_pos = block * k->block_size;
	atomic_store_explicit(&ring->hdr->head, block, memory_order_relaxed);
	atomic_store_explicit(&ring->hdr->tail, block, memory_order_relaxed);
	atomic_store_explicit(&ring->hdr->consuming, block, memory_order_relaxed);
}

void kernel_ring_free(struct rc_kernel_ring *k)
{
	kernel_map_release(k->km);
	free(k);
}

static struct tpacket_block_desc *block_at(const struct rc_kernel_ring *k, uint64_t block_pos)
{
	return (struct tpacket_block_desc *)(k->map + (size_t)(block_pos % k->block_nr) * k->block_size);
}

void *rc_ring_kernel_block_ready(struct rc_ring *ring)
{
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_relaxed);
	/* acquire: the consumer's reads of a block it gave back are done */
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
	if (head - tail >= ring->slot_count)
		return NULL; /* the consumer holds every block: this one from the lap before */
	struct tpacket_block_desc *bd = block_at(ring->kernel, head);
	/* acquire: the kernel filled the block before flagging it ours */
	if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
		return NULL;
	return bd;
}

/* The handshake of rc_ring_wait_room (ring.c): a block given back after our
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

/* pos moved onto a packet: a block's start (offset 0) becomes its first
 * packet, and blocks with none are passed.  Stops at head (not handed over:
 * returns head's start). */
static uint64_t settle(const struct rc_kernel_ring *k, uint64_t pos, uint64_t head)
{
	while (pos % k->block_size == 0) {
		uint64_t block_pos = pos / k->block_size;
		if (block_pos >= head)
			break;
		const struct tpacket_block_desc *bd = block_at(k, block_pos);
		if (bd->hdr.bh1.num_pkts)
			return pos + bd->hdr.bh1.offset_to_first_pkt;
		pos += k->block_size;
	}
	return pos;
}

static const struct tpacket3_hdr *frame_at(const struct rc_kernel_ring *k, uint64_t pos)
{
	return (const struct tpacket3_hdr *)((const uint8_t *)block_at(k, pos / k->block_size) +
					     pos % k->block_size);
}

/* The position after the packet at pos: the producer zeroed the last one's
 * tp_next_offset, so that is the next block's start. */
static uint64_t after(const struct rc_kernel_ring *k, uint64_t pos)
{
	uint32_t next = frame_at(k, pos)->tp_next_offset;
	return next ? pos + next : (pos / k->block_size + 1) * k->block_size;
}

uint32_t kernel_ring_poll(struct rc_ring *ring, uint32_t max)
{
	struct rc_kernel_ring *k = ring->kernel;
	/* acquire: pairs with the producer's release of head, so every header
	 * it wrote in the blocks before head is written */
	uint64_t head = atomic_load_explicit(&ring->hdr->head, memory_order_acquire);
	uint64_t pos = k->poll_pos;
	uint32_t n = 0;
	while (n < max) {
		pos = settle(k, pos, head);
		if (pos / k->block_size >= head)
			break;
		n++;
		pos = after(k, pos);
	}
	k->poll_pos = pos;
	/* the blocks a packet of which was polled: the slot map's "consuming" */
	atomic_store_explicit(&ring->hdr->consuming, (pos + k->block_size - 1) / k->block_size,
			      memory_order_relaxed);
	return n;
}

const struct rc_slot_hdr *kernel_ring_next(struct rc_ring *ring, uint64_t *pos)
{
	const struct rc_kernel_ring *k = ring->kernel;
	/* a polled packet's block is handed over: no head to stop at */
	uint64_t at = settle(k, *pos, UINT64_MAX);
	const struct tpacket3_hdr *ppd = frame_at(k, at);
	*pos = after(k, at);
	return (const struct rc_slot_hdr *)((const uint8_t *)ppd + ppd->tp_mac) - 1;
}

uint64_t kernel_ring_return_blocks(struct rc_ring *ring, uint64_t pos)
{
	const struct rc_kernel_ring *k = ring->kernel;
	uint64_t tail = atomic_load_explicit(&ring->hdr->tail, memory_order_relaxed);
	uint64_t done = pos / k->block_size; /* every block before pos's is released */
	for (uint64_t b = tail; b < done; b++)
		/* release: our reads of the block are done before the kernel
		 * may refill it */
		__atomic_store_n(&block_at(k, b)->hdr.bh1.block_status, TP_STATUS_KERNEL,
				 __ATOMIC_RELEASE);
	return done > tail ? done : tail;
}

int64_t kernel_ring_copy_slot(struct rc_ring *ring, uint32_t index, void *dst, size_t dstlen)
{
	const struct rc_kernel_ring *k = ring->kernel;
	const uint8_t *block = k->map + (size_t)index * k->block_size;
	const struct tpacket_block_desc *bd = (const struct tpacket_block_desc *)block;
	/* A viewer reads a block the kernel may be filling: every offset it
	 * reads is checked against the block before it is followed. */
	struct rc_slot_hdr hdr = { .flags = RC_SLOT_PADDING, .slots = 1 };
	const uint8_t *data = NULL;
	uint32_t first = __atomic_load_n(&bd->hdr.bh1.offset_to_first_pkt, __ATOMIC_RELAXED);
	uint32_t packets = __atomic_load_n(&bd->hdr.bh1.num_pkts, __ATOMIC_RELAXED);
	if (packets && first >= sizeof(*bd) && first < k->block_size - sizeof(struct tpacket3_hdr)) {
		const struct tpacket3_hdr *ppd = (const struct tpacket3_hdr *)(block + first);
		uint64_t mac = (uint64_t)first + __atomic_load_n(&ppd->tp_mac, __ATOMIC_RELAXED);
		if (mac >= first + sizeof(hdr) && mac <= k->block_size) {
			memcpy(&hdr, block + mac - sizeof(hdr), sizeof(hdr));
			if (hdr.caplen > k->block_size - mac)
				hdr.caplen = (uint32_t)(k->block_size - mac);
			data = block + mac;
		}
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
