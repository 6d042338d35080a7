/*
 * ringcore.h — the one public header of ringmon's native capture core.
 *
 * A capture ("rc_capture") reads one interface's AF_PACKET socket through the
 * kernel's mmap'ed TPACKET_V3 ring and copies each packet into the next free
 * slot of that interface's slot ring ("rc_ring"), or (zero-copy, below) hands
 * the kernel's blocks themselves over as the ring's slots.  A consumer takes slots in
 * batches (rc_ring_poll), looks at them in place and frees them
 * (rc_ring_release).  A drain ("rc_drain") is a consumer thread in C that moves
 * whole batches to its sinks (a pcap/pcapng writer, a talkers table, a packet
 * store) so that no Python code runs per packet.
 *
 * Ring layout: one page-aligned anonymous mapping of ring_pages pages.
 *
 *   page 0                 pages 1 .. ring_pages-1
 *   +------------------+   +-------------+-------------+-------------+-----+-------------+
 *   | rc_ring_header   |   | slot 0      | slot 1      | slot 2      | ... | slot N-1    |
 *   |  head  (P)       |   | rc_slot_hdr | (continued) | rc_slot_hdr |     | rc_slot_hdr |
 *   |  tail  (C)       |   | slots = 2   |  data ...   | slots = 1   |     | PADDING     |
 *   |  consuming (C)   |   | data ...    |             | data ...    |     |             |
 *   |  counters        |   +-------------+-------------+-------------+-----+-------------+
 *   +------------------+   N = (ring_pages - 1) * page_size / slot_size
 *
 * ring_pages = 33 with 4 KiB pages and 2048-byte slots is the classic ring:
 * one header page and 64 slots.
 *
 * Records.  A packet is one record: a first slot whose rc_slot_hdr says how
 * many slots the record spans (slots), followed by slots - 1 continuation
 * slots that hold the rest of its bytes and no header.  The packet's bytes
 * run on from the first slot's data for caplen bytes, so every consumer (the
 * writer, talkers, Python's views) reads a record as it read a slot.  A
 * packet is kept whole up to the snap length whatever the slot size; only a
 * ring created with truncate_to_slot cuts it to one slot, and a packet
 * larger than the whole ring is cut to what the ring holds; both are
 * flagged RC_SLOT_TRUNCATED and counted as truncated.
 *
 * The ring's end.  A record never wraps: when the next record does not fit
 * before slot N-1 ends, the producer first fills the rest of the ring with a
 * padding record (flag RC_SLOT_PADDING, no packet) and puts the record at
 * slot 0.  Consumers skip padding (rc_ring_next; rc_ring_poll counts only
 * packets).  It costs at most a record's span less one slot per lap.  The
 * other way, a second mapping of the slot area right after the first, needs
 * a shared-memory file instead of an anonymous mapping (no huge pages), a
 * slot area of whole pages (not every slot size divides one), and views
 * (Python's, the inspector's) that know about the mirror.
 *
 * Positions count slots: head, tail and consuming are positions, and head -
 * tail is the slots in use (padding included).  Batches count records:
 * rc_ring_poll returns, and rc_ring_release takes, a number of packets.
 *
 * A viewer that opens an arbitrary slot cannot tell a continuation slot's
 * bytes from a header, so the producer also writes each slot's kind (a
 * record's first slot, a continuation, padding) into a table beside the
 * mapping (rc_ring_slot_kinds), for the slot map and rc_ring_copy_slot.
 *
 * head and tail are free-running 64-bit positions; slot i lives at position
 * pos with i = pos % slot_count.
 *
 *   head       written by the producer only.  Store-release after the slot's
 *              header and data are written, so a consumer that load-acquires
 *              head sees a complete slot.
 *   tail       written by the consumer only.  Store-release after the consumer
 *              is done reading the slots, so a producer that load-acquires tail
 *              may overwrite them.
 *   consuming  written by the consumer only (relaxed): the end of the batches
 *              it polled, so [tail, consuming) is what it holds.  The next
 *              poll starts there, a release may free only those slots, and a
 *              viewer tells "filled" slots from slots "being consumed".
 *
 * One consumer per ring: it attaches (rc_ring_attach_consumer) before it
 * polls, a second one gets -EBUSY, so tail and consuming keep one writer.
 *
 * The ring is reference-counted: rc_ring_create gives the caller one
 * reference, rc_ring_retain takes another (a drain, a view of the mapping
 * that may outlive its owner), rc_ring_destroy drops one; the last unmaps.
 *
 * RC_WAIT_EVENT (and RC_WAIT_ADAPTIVE after its spin) sleeps on a futex
 * word bumped by the producer after it published head (rc_ring_notify).
 * The consumer reads the word, marks itself
 * waiting, re-reads head, and sleeps only while the word is unchanged; the
 * producer makes the wake system call only when it sees "waiting".  Both
 * sides use sequentially consistent operations there, so one of them always
 * sees the other and no wake-up is lost.  A drop-early producer waits for
 * room the same way, the other way round: the consumer's store of tail is
 * sequentially consistent for it.
 *
 * Counters are written by one side each and read by anyone with relaxed
 * loads.  Producer counters are published under a sequence count (seqlock),
 * and the consumer's delivered, stored and store_failed under another, so
 * rc_ring_stats() returns a snapshot in which
 *     kernel_packets == delivered + ring_drops + occupancy
 * holds exactly, in packets (occupancy: packets in the ring), and
 * occupancy <= slots_used <= slot_count, while capture runs; and, with a
 * drain's store, delivered == stored + store_failed.  A reader never waits
 * for a lock, only for the few stores of a write section.
 *
 * Zero-copy rings (rc_capture_config.zero_copy; ring_kernel.c).  The slots
 * are the kernel's own TPACKET_V3 blocks (or, in immediate mode, its
 * TPACKET_V2 frames of one packet each: the classic ring of fixed slots),
 * mapped from the socket: slot_size is the block (frame) size, slot_count
 * the number of blocks (frames), head counts those the producer handed to
 * the consumer and tail those the consumer gave back to the kernel.  The
 * producer writes each packet's rc_slot_hdr in place, in the headroom the
 * socket keeps before the packet (PACKET_RESERVE), so a record reads as in
 * a copy ring (hdr + 1 is the packet) and every consumer and sink runs
 * unchanged; positions a poll returns are byte positions in the kernel ring
 * (block position * slot_size + 1 + offset), for rc_ring_next.  A block
 * (frame) goes back to the kernel (TP_STATUS_KERNEL) once its last packet is
 * released.  Nothing is copied and nothing dropped at the ring: a consumer
 * that holds every block leaves the kernel none, and the kernel drops
 * (kernel_drops).  rc_ring_produce and rc_ring_slot refuse such a ring.
 *
 * Errors are returned as negative errno values.  Functions that can fail for
 * a reason the user must act on also fill an error buffer with one line.
 */
#ifndef RINGCORE_H
#define RINGCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_ERRBUF_SIZE 256

/* Histogram of packets per non-empty poll: bucket b counts batches of size
 * [2^b, 2^(b+1)).  Latency histogram: bucket b counts latencies in
 * [2^b, 2^(b+1)) microseconds; bucket 0 also takes everything below 2 us. */
#define RC_BATCH_BUCKETS 16
#define RC_LATENCY_BUCKETS 32

/* rc_slot_hdr.flags */
#define RC_SLOT_TRUNCATED 0x1u /* caplen < what the kernel gave: cut to the slot */
#define RC_SLOT_OUTGOING 0x2u  /* sent by this host (PACKET_OUTGOING) */
#define RC_SLOT_PADDING 0x4u   /* no packet: fills the ring's end (see above) */

/* What rc_ring_slot_kinds says of each slot. */
enum rc_slot_kind {
	RC_SLOT_KIND_FIRST = 0,     /* a record's first slot (or never written) */
	RC_SLOT_KIND_CONTINUED = 1, /* a later slot of the record before it */
	RC_SLOT_KIND_PADDING = 2,   /* part of a padding record */
};

/* What to do with a packet when the slot ring is full. */
enum rc_drop_policy {
	/* Leave packets in the kernel's ring; when that fills too, the kernel
	 * drops them before any copy is made (counted as kernel_drops). */
	RC_DROP_EARLY = 0,
	/* Take the packet from the kernel and count it as a ring drop. */
	RC_DROP_LATE = 1,
};

/* How the consumer waits when the ring is empty. */
enum rc_wait_strategy {
	RC_WAIT_SLEEP = 0, /* nanosleep(poll_interval_us) — the classic 1 ms */
	RC_WAIT_YIELD = 1, /* sched_yield() */
	RC_WAIT_SPIN = 2,  /* return at once: busy polling */
	/* sleep until the producer signals new packets (rc_ring_notify, once
	 * per kernel block), at most RC_EVENT_WAIT_MAX_US: no wake-ups while
	 * the ring stays empty */
	RC_WAIT_EVENT = 3,
	/* poll again for at most spin_us (work that comes within microseconds
	 * costs no system call and no wake-up), then sleep as RC_WAIT_EVENT.
	 * The spin learns, as an adaptive mutex does: one that ran out halves
	 * the next (down to spin_us / 16), one that found work restores the
	 * whole spin_us, and every 16th wait spins it whole to probe: when the
	 * producer hands over work in bursts far apart (a kernel block) the
	 * spin costs little more than the event wait it precedes. */
	RC_WAIT_ADAPTIVE = 4,
};

/* What a ring's slots are (rc_stats.mode). */
enum rc_ring_mode {
	RC_MODE_COPY = 0,      /* packets copied from the kernel's blocks into slots */
	RC_MODE_ZERO_COPY = 1, /* the slots are the kernel's blocks (above) */
	/* zero-copy, and the consumer is a direct drain: its sinks run in the
	 * capture thread on each kernel block (rc_drain_start_direct) */
	RC_MODE_DIRECT = 2,
};

#define RC_EVENT_WAIT_MAX_US 100000
/* RC_WAIT_ADAPTIVE's spin before it sleeps: 50 us covers the gaps between
 * packets down to ~20 kpps; at most 1 ms, so an idle ring costs at most
 * one spin per event wait (RC_EVENT_WAIT_MAX_US). */
#define RC_SPIN_DEFAULT_US 50
#define RC_SPIN_MAX_US 1000
/* Longest poll interval a ring takes: a consumer checks back at least once
 * a second. */
#define RC_POLL_INTERVAL_MAX_US 1000000

/* Header of a record's first slot; the packet data follows it directly and
 * runs on through the record's continuation slots.  Packed (its layout has
 * no padding either way): in a zero-copy ring it sits right before the
 * packet where the kernel put it, at no alignment we choose. */
struct __attribute__((packed)) rc_slot_hdr {
	uint32_t caplen;  /* bytes stored in the record after this header */
	uint32_t wirelen; /* length of the packet on the wire */
	uint64_t ts_ns;   /* kernel timestamp, ns since the epoch */
	int32_t ifindex;  /* interface the packet was seen on */
	uint32_t flags;   /* RC_SLOT_* */
	uint32_t slots;   /* slots the record spans, this one included (>= 1) */
	uint32_t reserved; /* keeps data 16-byte aligned in a copy ring's slot; zero */
};

/* First page of the mapping. */
struct rc_ring_header {
	uint32_t magic; /* RC_RING_MAGIC */
	uint32_t version;
	uint32_t page_size;
	uint32_t slot_size;  /* bytes per slot, header included */
	uint32_t slot_count;
	uint32_t ring_pages;
	/* producer cache line */
	_Alignas(64) _Atomic uint64_t head;
	/* consumer cache line */
	_Alignas(64) _Atomic uint64_t tail;
	_Atomic uint64_t consuming;
};

#define RC_RING_MAGIC 0x52494e47u /* "RING" */

struct rc_ring_config {
	uint32_t slot_size;  /* 64 .. 65536, multiple of 16 */
	uint32_t ring_pages; /* >= 2: one header page + slot pages */
	int32_t drop_policy; /* enum rc_drop_policy */
	int32_t wait_strategy; /* enum rc_wait_strategy */
	uint32_t poll_interval_us; /* sleep length for RC_WAIT_SLEEP, <= RC_POLL_INTERVAL_MAX_US */
	/* 1: cut every packet to one slot (flagged and counted as truncated);
	 * 0: a packet larger than a slot spans several (the default) */
	uint32_t truncate_to_slot;
	/* RC_WAIT_ADAPTIVE's spin, 1 .. RC_SPIN_MAX_US; 0: RC_SPIN_DEFAULT_US */
	uint32_t spin_us;
};

/* One consistent reading of a ring's counters (see rc_ring_stats). */
struct rc_stats {
	/* producer side */
	uint64_t kernel_packets; /* taken from the kernel */
	uint64_t kernel_bytes;   /* wire bytes of those */
	uint64_t kernel_drops;   /* PACKET_STATISTICS tp_drops, accumulated */
	uint64_t kernel_seen;    /* PACKET_STATISTICS tp_packets (incl. drops) */
	/* Counted by the kernel but still in its ring when the capture stopped
	 * (drop-early, and the consumer freed no slot in time): taken by the
	 * next start, which clears this; lost if the capture is closed.  Once
	 * stopped, kernel_seen == kernel_packets + kernel_drops + lost_at_stop. */
	uint64_t lost_at_stop;
	uint64_t ring_drops;     /* taken, but the ring was full (drop-late) */
	uint64_t truncated;      /* stored, but cut to one slot (truncate_to_slot) or to the ring */
	uint64_t outgoing_packets; /* of kernel_packets: sent by this host */
	uint64_t outgoing_bytes;
	uint64_t produced;       /* packets stored in the ring */
	uint64_t head;           /* positions count slots (see the layout above) */
	/* consumer side */
	uint64_t delivered;       /* packets released by the consumer */
	uint64_t delivered_bytes; /* wire bytes of those */
	/* A drain with a store (rc_drain_start): of the delivered packets, those
	 * appended to it and those it failed to take (a write error), so
	 * delivered == stored + store_failed; and how many of this interface's
	 * packets the store has evicted since (filled by rc_drain_stats only;
	 * delivered, stored and store_failed move together: see rc_ring_stats). */
	uint64_t stored;
	uint64_t store_failed;
	uint64_t store_evicted;
	uint64_t tail;
	uint64_t consuming;
	uint64_t polls;
	uint64_t empty_polls;
	uint64_t sleeps;   /* waits on an empty ring (all but RC_WAIT_SPIN's) */
	uint64_t sleep_ns; /* time in them */
	/* times the consumer blocked in the kernel (nanosleep, futex wait) and
	 * woke up: what an idle ring costs, and what spinning saves */
	uint64_t wakeups;
	/* RC_WAIT_ADAPTIVE: spins that found work, and spins that ran out and
	 * slept on the producer's event */
	uint64_t spin_found;
	uint64_t spin_slept;
	uint64_t latency_max_ns;
	uint64_t latency_sum_ns; /* of every delivered packet: a histogram's sum */
	uint64_t batch_hist[RC_BATCH_BUCKETS];
	uint64_t latency_hist[RC_LATENCY_BUCKETS];
	/* derived */
	uint64_t occupancy;       /* packets in the ring: produced - delivered */
	uint64_t slots_used;      /* head - tail: the slots they take, padding included */
	uint64_t slots_used_high; /* high-water mark of slots_used since start or reset */
	uint32_t slot_size;
	uint32_t slot_count;
	int32_t drop_policy;
	int32_t wait_strategy;
	uint32_t poll_interval_us;
	uint32_t spin_us; /* RC_WAIT_ADAPTIVE's */
	uint32_t paused; /* a drain's consumer is paused */
	uint32_t truncate_to_slot;
	uint32_t mode; /* enum rc_ring_mode */
};

struct rc_ring;
struct rc_capture;
struct rc_writer;
#define RC_WRITER_MAX_INTERFACES 256 /* interfaces one file can hold */
struct rc_drain;
struct rc_talkers;
struct rc_store; /* the packet store, below */

/* ---- ring ------------------------------------------------------------ */

/* Slots a configuration yields; negative errno if it does not fit. */
int64_t rc_ring_slots_for(uint32_t slot_size, uint32_t ring_pages);
int rc_ring_create(const struct rc_ring_config *cfg, struct rc_ring **out,
		   char *errbuf, size_t errlen);
/* Take one more reference to the ring. */
void rc_ring_retain(struct rc_ring *ring);
/* Drop one reference (the creator's or a retained one); the last one frees
 * the ring and unmaps it. */
void rc_ring_destroy(struct rc_ring *ring);

/* Producer: copy one packet into the next free slots, as one record.
 * Returns 0 when stored, -ENOBUFS when the ring has no room for it (nothing
 * counted: the caller decides by its policy; a padding record may have been
 * published).  Cuts it to one slot (truncate_to_slot) or to the ring and
 * then sets RC_SLOT_TRUNCATED. */
int rc_ring_produce(struct rc_ring *ring, const void *data, uint32_t caplen,
		    uint32_t wirelen, uint64_t ts_ns, int32_t ifindex,
		    uint32_t flags);
/* Producer: wake a consumer waiting with RC_WAIT_EVENT; call after
 * publishing a batch (cheap when nobody waits: no system call). */
void rc_ring_notify(struct rc_ring *ring);
/* Producer: count a packet taken from the kernel that did not fit. */
void rc_ring_count_drop(struct rc_ring *ring, uint32_t wirelen, uint32_t flags);
/* No slot is free. */
int rc_ring_full(struct rc_ring *ring);

/* Become the ring's one consumer: 0, or -EBUSY when another is attached.
 * Slots a previous consumer polled but did not release are polled again. */
int rc_ring_attach_consumer(struct rc_ring *ring);
void rc_ring_detach_consumer(struct rc_ring *ring);
/* Consumer: take up to max records (packets) after the ones already held.
 * Returns how many (0 when none is ready) and the position to read them
 * from with rc_ring_next; counts a poll (or an empty poll). */
uint32_t rc_ring_poll(struct rc_ring *ring, uint32_t max, uint64_t *first_pos);
/* Consumer: the record at *pos, a position from rc_ring_poll or from the
 * previous call; skips padding and moves *pos past the record. */
const struct rc_slot_hdr *rc_ring_next(struct rc_ring *ring, uint64_t *pos);
/* The slot at a position (a record's header where one starts there). */
const struct rc_slot_hdr *rc_ring_slot(struct rc_ring *ring, uint64_t pos);
/* Consumer: free the n oldest polled records (packets), recording their
 * latency, and any padding polled after them.  -EINVAL (nothing freed) when
 * fewer than n are polled and not released. */
int rc_ring_release(struct rc_ring *ring, uint32_t n);
/* Consumer: wait per the ring's strategy; counts sleeps and time asleep. */
void rc_ring_wait(struct rc_ring *ring);

void rc_ring_stats(struct rc_ring *ring, struct rc_stats *out);
void rc_ring_reset_high_water(struct rc_ring *ring);
/* RC_WAIT_ADAPTIVE's spin (0: RC_SPIN_DEFAULT_US); -EINVAL above
 * RC_SPIN_MAX_US. */
int rc_ring_set_spin(struct rc_ring *ring, uint32_t spin_us);
/* -EINVAL (nothing changed) for an unknown policy or strategy, or an
 * interval above RC_POLL_INTERVAL_MAX_US. */
int rc_ring_set_drop_policy(struct rc_ring *ring, int32_t policy);
int rc_ring_set_wait(struct rc_ring *ring, int32_t strategy,
		     uint32_t poll_interval_us);
/* Base address and size of the mapping (header page + slots; a zero-copy
 * ring's: the header page). */
void *rc_ring_base(struct rc_ring *ring);
size_t rc_ring_map_size(struct rc_ring *ring);
/* Where records live, and how many bytes: the slots (a copy ring), or the
 * kernel's mapped blocks (zero-copy).  Mapped as long as the ring is. */
void *rc_ring_data_base(struct rc_ring *ring);
size_t rc_ring_data_size(struct rc_ring *ring);
/* Copy the record slot i (by index, not position) belongs to, for
 * inspection: its header and data; *first gets the index of its first slot.
 * Returns bytes copied or a negative errno (-ERANGE: no such slot, -ENOSPC:
 * dst too small). */
int64_t rc_ring_copy_slot(struct rc_ring *ring, uint32_t index, void *dst,
			  size_t dstlen, uint32_t *first);
/* Each slot's enum rc_slot_kind, one byte a slot, into out (at most len);
 * returns how many were written.  A viewer's reading: racy, never torn. */
uint32_t rc_ring_slot_kinds(struct rc_ring *ring, uint8_t *out, uint32_t len);

/* ---- capture --------------------------------------------------------- */

/* One classic BPF instruction, as struct sock_filter. */
struct rc_bpf_insn {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};

struct rc_capture_config {
	struct rc_ring_config ring;
	uint32_t snaplen;       /* bytes kept of each packet */
	uint32_t promisc;       /* 1: PACKET_MR_PROMISC on the interface */
	uint32_t kernel_block_size; /* TPACKET_V3 block size, bytes */
	uint32_t kernel_block_nr;   /* number of blocks */
	uint32_t block_timeout_ms;  /* kernel hands over a block after this */
	/* 1: the ring's slots are the kernel's blocks (zero-copy, above); the
	 * ring's slot_size, ring_pages and truncate_to_slot are not used */
	uint32_t zero_copy;
	/* 1: immediate mode (tcpdump's --immediate-mode): a TPACKET_V2 ring of
	 * frames sized for the interface's MTU (or the snap length if less),
	 * each handed over as soon as it is written, not after the block
	 * timeout; a longer packet is cut to its frame (counted as truncated).
	 * Zero-copy, its slots are the frames.  block_timeout_ms is not used. */
	uint32_t immediate;
};

/* The LINKTYPE_ value a capture on `ifname` (in the caller's network
 * namespace) would have, or a negative errno with a message (no such
 * interface, a link type not supported).  Needs no privilege. */
int rc_interface_linktype(const char *ifname, char *errbuf, size_t errlen);
/* Open the interface's socket and ring; nothing is captured until start.
 * filter may be NULL (everything). */
int rc_capture_open(const char *ifname, const struct rc_capture_config *cfg,
		    const struct rc_bpf_insn *filter, uint32_t filter_len,
		    struct rc_capture **out, char *errbuf, size_t errlen);
/* Hooks the socket to the interface (its filter first) and starts the
 * producer, which goes on where the last stop left the kernel ring. */
int rc_capture_start(struct rc_capture *cap, char *errbuf, size_t errlen);
/* Unhooks the socket from the interface, so the kernel counts and queues
 * nothing more, reads the final kernel counters and takes every packet they
 * count, waiting at most the block timeout and a margin for anything to
 * happen (the kernel to hand over its last block, the consumer to free a
 * slot); what is left is counted as lost_at_stop.  Joins the producer. */
void rc_capture_stop(struct rc_capture *cap);
void rc_capture_close(struct rc_capture *cap);
struct rc_ring *rc_capture_ring(struct rc_capture *cap);
int rc_capture_ifindex(struct rc_capture *cap);
/* pcap LINKTYPE_* of the interface: what the filter is compiled for. */
uint32_t rc_capture_linktype(struct rc_capture *cap);
/* Switch the capture to a new ring of the other kind (zero_copy: the kernel's
 * blocks; else a copy ring of cfg), losing nothing: the producer takes it up
 * at its next block boundary and, leaving a zero-copy ring, once that ring's
 * consumer gave every block back (no new block goes to it meanwhile), so
 * each packet is in exactly one ring, the old one's first.  The old ring
 * stays with its consumer (a drain, a Python view) until it lets go; its
 * counts close alone (kernel_seen == kernel_packets + kernel_drops), and the
 * packets the kernel counted but had not handed over are the new one's.
 * -EBUSY (nothing changed) when that takes more than 2 s (a paused consumer
 * of a full ring).  rc_capture_ring then returns the new ring. */
int rc_capture_switch(struct rc_capture *cap, int zero_copy, const struct rc_ring_config *cfg,
		      char *errbuf, size_t errlen);
/* Replace the socket filter while capturing; a stopped capture keeps it
 * for its next start (the kernel checks it then). */
int rc_capture_set_filter(struct rc_capture *cap,
			  const struct rc_bpf_insn *filter, uint32_t filter_len,
			  char *errbuf, size_t errlen);
/* 0 while capturing; a negative errno once the producer stopped on an
 * error (e.g. -ENETDOWN when the interface went away), with its message. */
int rc_capture_error(struct rc_capture *cap, char *errbuf, size_t errlen);

/* ---- writer ---------------------------------------------------------- */

enum rc_format {
	RC_FORMAT_PCAP_US = 0,
	RC_FORMAT_PCAP_NS = 1,
	RC_FORMAT_PCAPNG = 2,
};

/* Write to path through a temp file beside it ("path.tmp-" and six random
 * characters, created exclusively, mode 0600 or the replaced file's mode)
 * renamed on close; path "-" writes to standard output, a device or FIFO is
 * written in place (a FIFO's reader is waited for 10 s at most); a terminal
 * is refused (-ENOTTY).  pcap files take the link type and snap length of the
 * first interface added; the file header is written then. */
int rc_writer_open(const char *path, int32_t format, struct rc_writer **out,
		   char *errbuf, size_t errlen);
/* Rotation, as tcpdump's -C, -G and -W: a new file, at a packet boundary,
 * before a packet that would take the current one past file_bytes_max bytes,
 * or whose timestamp is seconds past the file's period start (the wall clock
 * at open, then the first packet of each new period).  Each file is written
 * and committed as rc_writer_open's one (temp, fsync, rename), with the
 * section header and every interface again, so each is complete alone.
 * Names: with seconds the path is a strftime pattern (local time of the
 * period start); with file_bytes_max the file's number in the period follows
 * (none for the first; with files_max zero-padded to the digits of
 * files_max - 1, from 0, and wrapping to 0: a ring of names).  files_max (0:
 * all): only the newest files_max stay, the oldest removed.  0 for both
 * file_bytes_max and seconds: no rotation. */
struct rc_rotation {
	uint64_t file_bytes_max;
	uint32_t seconds;
	uint32_t files_max;
};
/* rc_writer_open with rotation (NULL: none); a stream is refused (-EINVAL),
 * as is files_max without file_bytes_max or seconds. */
int rc_writer_open_rotating(const char *path, int32_t format, const struct rc_rotation *rotation,
			    struct rc_writer **out, char *errbuf, size_t errlen);
/* Files renamed into place, and files removed by files_max (unlinked, or
 * replaced under a name of the ring). */
struct rc_writer_files {
	uint64_t written;
	uint64_t removed;
};
void rc_writer_files(struct rc_writer *w, struct rc_writer_files *out);
/* Declare an interface; returns its id for rc_writer_write (pcapng: one
 * interface block each, so packets keep where they came from; pcap: all
 * share the file's one link type) or a negative errno. */
int rc_writer_add_interface(struct rc_writer *w, const char *name,
			    uint32_t linktype, uint32_t snaplen);
/* Write a batch of records seen on interface ifid (thread-safe): each
 * header's caplen bytes after it.  With several interfaces the packets are
 * copied into a queue per interface (at most 4 MiB each) and written oldest
 * first, once every interface has one queued or the oldest has waited
 * 100 ms (so the file is in time order, as mergecap's), and all of them by
 * close. */
int rc_writer_write(struct rc_writer *w, int32_t ifid,
		    const struct rc_slot_hdr *const *slots, uint32_t n);
/* Write the queued packets whose wait is over: for a drain whose ring is
 * empty, so that no packet waits on traffic that does not come. */
int rc_writer_release_held(struct rc_writer *w);
/* Packets the writer has so far (written, buffered or queued to merge; in
 * all its files), and the current file's size with what is buffered. */
uint64_t rc_writer_packets(struct rc_writer *w);
uint64_t rc_writer_interface_packets(struct rc_writer *w, int32_t ifid);
uint64_t rc_writer_bytes(struct rc_writer *w);
/* What the closed files hold under their names (a stream: what was
 * written); bytes: the last file's size. */
struct rc_writer_totals {
	uint64_t packets;
	uint64_t bytes;
	uint64_t interface_packets[RC_WRITER_MAX_INTERFACES]; /* by interface id */
	struct rc_writer_files files;
};
/* Flush, fsync, rename into place and fsync the directory.  On a write error
 * (disk full) the file is cut back to the last whole packet and still
 * renamed, and the error is returned; a stream's reader going away (EPIPE)
 * only ends it.  kept (may be NULL) gets what the file holds.  Frees w. */
int rc_writer_close(struct rc_writer *w, struct rc_writer_totals *kept,
		    char *errbuf, size_t errlen);
/* Packet-buffered (tcpdump's -U): every batch written reaches the file or
 * stream at once, not when the 1 MiB buffer is full (a reader of a FIFO sees
 * packets as they come).  Standard output is always so. */
void rc_writer_set_packet_buffered(struct rc_writer *w, int on);
/* Close and remove the temporary file; frees w. */
void rc_writer_abort(struct rc_writer *w);
/* First write error (negative errno) or 0, with its message. */
int rc_writer_error(struct rc_writer *w, char *errbuf, size_t errlen);
/* Give the file being written to uid:gid (a stream keeps its owner), so a
 * process that then drops to that user (-Z) may still rename it into place,
 * even in a sticky directory. 0 or a negative errno. */
int rc_writer_chown(struct rc_writer *w, uint32_t uid, uint32_t gid);

/* ---- talkers --------------------------------------------------------- */

/* Who talks the most: wire bytes per conversation (a pair of addresses and
 * the protocol they speak, in both directions) over the last
 * RC_TALKERS_WINDOW_S seconds, in one-second buckets by the packets' kernel
 * timestamps, and over its last RC_TALKERS_SPAN_S seconds (iftop's 2 s and
 * 10 s beside its 40 s).  Filled by a drain, batch by batch; read by anyone
 * (one mutex).  A fixed table: conversations beyond RC_TALKERS_MAX, and
 * packets with no address to key on, are added to the "rest" (family
 * RC_ADDR_NONE), so every byte is counted somewhere, in every span.  When the
 * clock steps back, the window carries on from where it was and keeps
 * ageing. */
#define RC_TALKERS_WINDOW_S 40
#define RC_TALKERS_MAX 768 /* conversations tracked per window */
#define RC_TALKERS_SPANS 2 /* the shorter spans, each ending with the window */
#define RC_TALKERS_SPAN_S { 2, 10 }

enum rc_addr_family {
	RC_ADDR_NONE = 0, /* the rest: untracked or no address */
	RC_ADDR_MAC = 1,  /* Ethernet frames that are not IP: 6-byte MACs */
	RC_ADDR_IPV4 = 4,
	RC_ADDR_IPV6 = 6,
};

struct rc_talker {
	uint32_t family;   /* enum rc_addr_family */
	uint16_t protocol; /* IP: the protocol (IPv6: first next header); MAC: the EtherType */
	uint16_t reserved;
	uint8_t a[16];     /* the lower address (byte order), left-aligned */
	uint8_t b[16];
	uint64_t bytes_ab; /* wire bytes from a to b over the window */
	uint64_t bytes_ba;
	uint64_t packets;
	uint64_t span_ab[RC_TALKERS_SPANS]; /* the same over each of RC_TALKERS_SPAN_S */
	uint64_t span_ba[RC_TALKERS_SPANS];
};

/* linktype: the pcap LINKTYPE_* of the interface (rc_capture_linktype);
 * Ethernet (with VLAN tags) and raw IP are parsed, others go to the rest. */
int rc_talkers_create(uint32_t linktype, struct rc_talkers **out);
void rc_talkers_destroy(struct rc_talkers *t);
/* Count a batch of records (a drain calls it before releasing them); only
 * each record's header and first bytes are read. */
void rc_talkers_add(struct rc_talkers *t, const struct rc_slot_hdr *const *slots,
		    uint32_t n);
/* The window ending in the second of now_ns (CLOCK_REALTIME ns, like the
 * slots' timestamps; or in a later second a packet was stamped with): up to
 * max conversations by their window's bytes, largest first, into out; the
 * rest into *rest.  Returns how many were written. */
uint32_t rc_talkers_top(struct rc_talkers *t, uint64_t now_ns,
			struct rc_talker *out, uint32_t max,
			struct rc_talker *rest);

/* ---- drain ----------------------------------------------------------- */

/* A consumer thread on one ring: poll a batch, hand it to the writer (if
 * any), count it in the talkers table (if any; it must outlive the drain),
 * append it to the store (if any), release the batch, wait when empty.  It is the ring's consumer
 * (-EBUSY when the ring has one) and holds a reference to the ring until it
 * stops.  batch_max: records (packets) per batch, at least 1 (-EINVAL), at
 * most a copy ring's slot count (more is cut to it).  Stops by itself after *limit
 * packets in total across every drain sharing the same limit counter (limit
 * may be NULL). */
struct rc_limit {
	_Atomic int64_t remaining; /* packets still to take; < 0: no limit */
	_Atomic int32_t reached;   /* set once remaining hit 0 */
};

/* store (may be NULL): every packet the drain delivers is appended to it as
 * interface store_interface (rc_store_add_interface; -EINVAL when it has no
 * such interface), before its slots are released; the store must outlive the
 * drain. */
int rc_drain_start(struct rc_ring *ring, struct rc_writer *w, int32_t ifid,
		   struct rc_talkers *talkers, struct rc_store *store,
		   uint32_t store_interface, struct rc_limit *limit, uint32_t batch_max,
		   struct rc_drain **out, char *errbuf, size_t errlen);
/* Direct dispatch: a drain with no thread of its own, on a zero-copy
 * capture (-EINVAL for a copy one).  Its sinks run in the capture's thread on
 * the packets of each kernel block as the kernel hands it over, with no
 * hand-off through a ring: the lowest latency, and a slow sink keeps the
 * kernel's blocks, so the kernel drops (kernel_drops).  The ring's stats say
 * RC_MODE_DIRECT.  Stopped with rc_drain_stop (drain_rest: what is left is
 * taken in the caller's thread), which must come before rc_capture_close. */
int rc_drain_start_direct(struct rc_capture *cap, struct rc_writer *w, int32_t ifid,
			  struct rc_talkers *talkers, struct rc_store *store,
			  uint32_t store_interface, struct rc_limit *limit, uint32_t batch_max,
			  struct rc_drain **out, char *errbuf, size_t errlen);
/* The ring's counters (rc_ring_stats), with the store's eviction count for
 * this interface: in this snapshot delivered == stored + store_failed
 * exactly, and stored - store_evicted is what the store holds of the
 * interface's packets counted stored (store_evicted counts over every drain
 * that stored as this interface, so add the stored of its earlier ones).
 * It takes no lock: a drain in the middle of a slow write never delays it. */
void rc_drain_stats(struct rc_drain *d, struct rc_stats *out);
void rc_drain_pause(struct rc_drain *d, int paused);
/* Stop the thread after it drained what is in the ring (drain_rest=1) or at
 * once; frees d. */
void rc_drain_stop(struct rc_drain *d, int drain_rest);
/* Swap the writer (NULL: none) and this ring's interface id in it; takes
 * effect between batches, and returns once the old writer is no longer used. */
void rc_drain_set_writer(struct rc_drain *d, struct rc_writer *w, int32_t ifid);

/* ---- packet store ---------------------------------------------------- */

/* A packet store: an index of packets, 32 bytes each, over their bytes,
 * which stay where they are: in a capture file mapped read-only
 * (rc_store_open_file, indexed in place by a background thread), or in a
 * spool file that drains append to (rc_store_create_spool, a ring of bytes
 * with a size limit: the oldest packets leave it, counted as evicted).
 *
 * Packets are numbered from 0 in file or arrival order.  Numbers first ..
 * count-1 are readable; first is how many left the store (evicted).  Every
 * reader call copies out under the store's lock, so a reader never sees a
 * packet half appended or evicted under it.  A store is thread-safe: the
 * indexer or drains append while any thread reads. */
struct rc_store;

#define RC_STORE_INTERFACE_NAME_MAX 64
#define RC_STORE_MESSAGE_MAX 256

enum rc_store_format {
	RC_STORE_SPOOL = 0,   /* a live capture's spool */
	RC_STORE_PCAP_US = 1,
	RC_STORE_PCAP_NS = 2,
	RC_STORE_PCAPNG = 3,
};

enum rc_stored_flags {
	RC_STORED_TRUNCATED = 1 << 0, /* cut by the ring (RC_SLOT_TRUNCATED) */
	RC_STORED_OUTGOING = 1 << 1,  /* sent by this host (RC_SLOT_OUTGOING) */
	RC_STORED_COMMENT = 1 << 2,   /* pcapng: the packet block has a comment (rc_store_comment) */
	RC_STORED_TS_CLAMPED = 1 << 3, /* the file's time is beyond int64 ns (years 1677-2262): clamped */
	RC_STORED_NO_TIME = 1 << 4,    /* pcapng simple packet block: the file gives no time (ts_ns 0) */
};

/* One packet of the index: exactly 32 bytes, so a million packets cost
 * 32 MB whatever their size. */
struct rc_store_entry {
	uint64_t data_offset; /* where its bytes start in the mapped file or spool */
	int64_t ts_ns;        /* since the epoch */
	uint32_t caplen;
	uint32_t wirelen;
	uint16_t interface;   /* the store's interface number (rc_store_interface) */
	uint16_t flags;       /* enum rc_stored_flags */
	uint32_t block_back;  /* file: data_offset - the offset of its block or record (pcapng: options follow the data) */
};

struct rc_store_interface_info {
	char name[RC_STORE_INTERFACE_NAME_MAX]; /* from the file: hostile bytes, NUL-terminated */
	uint32_t linktype;
	uint32_t snaplen;
	uint64_t packets; /* stored so far as this interface, evicted ones included */
	uint64_t evicted; /* of those, the ones that left the store */
};

struct rc_store_info {
	uint64_t first;       /* the oldest packet still stored: packets evicted */
	uint64_t count;       /* packets stored so far, evicted ones included */
	uint64_t bytes_done;  /* file: bytes indexed; spool: bytes appended in all */
	uint64_t bytes_total; /* file: its size; spool: the size limit */
	uint64_t bytes_held;  /* bytes of the packets first .. count-1 */
	uint64_t error_offset;
	int32_t format;       /* enum rc_store_format */
	int32_t done;         /* file: indexing ended (the whole file or an error) */
	int32_t error;        /* 0, or the negative errno indexing ended with */
	uint32_t interface_count;
	char error_message[RC_STORE_MESSAGE_MAX]; /* one line; "" when error is 0 */
};

void rc_store_info(struct rc_store *s, struct rc_store_info *out);
/* Copy the entries of packets start .. start+max-1 that are still stored;
 * returns how many were copied (0 when start is evicted or not yet stored). */
uint32_t rc_store_entries(struct rc_store *s, uint64_t start,
			  struct rc_store_entry *out, uint32_t max);
/* Copy packet number's bytes (at most cap) into buf; returns its caplen, or
 * -ENOENT when the packet is evicted or not stored yet. */
int64_t rc_store_read(struct rc_store *s, uint64_t number, uint8_t *buf, uint64_t cap);
/* Copy packets start .. start+max-1 that are still stored, entries and
 * bytes, with one call (a list's screen, a find's step): their entries into
 * out, their bytes one after the other into buf, each packet's right after
 * the one before (packet i's start at the sum of the caplens of out[0 .. i-1]).
 * Stops at a packet evicted or not stored yet, or whose bytes do not fit in
 * what is left of cap.  Returns how many were copied (0 when start is
 * evicted or not stored yet), -ENOBUFS when the first one's bytes do not fit
 * in cap (its entry is in out[0], whose caplen says what it needs), or the
 * negative errno reading the first one failed with (a spool's pread).  The
 * lock is held for 1024 packets at a time. */
int64_t rc_store_read_batch(struct rc_store *s, uint64_t start, uint32_t max,
			    struct rc_store_entry *out, uint8_t *buf, uint64_t cap);
int rc_store_interface(struct rc_store *s, uint32_t number,
		       struct rc_store_interface_info *out);
/* Open a pcap (us or ns, either byte order) or pcapng file and index it in
 * place: the file is mapped read-only and a background thread publishes its
 * packets in batches of 4096 (bytes_done/bytes_total say how far it got,
 * done once it ended).  "-" is standard input; standard input or a path that
 * is a pipe or FIFO (anything but a regular file) is copied into memory
 * (a memfd) as it arrives, and indexed from there (bytes_total is 0 until it
 * ended).  The file's first bytes are checked here: a file that cannot be
 * opened, is empty, is not a capture or is too short for its own header (a
 * stream's: the smallest one) returns a negative errno and one line in err
 * that names the file.  A corrupt or truncated file is indexed up to the
 * damage; the store's error, error_offset and error_message (one line that
 * does not name the file: the caller does) then say where and what ("truncated
 * at offset N: tried to read 74 captured bytes, only got 46"). */
int rc_store_open_file(const char *path, struct rc_store **out, char *err, size_t errlen);
/* Wait until indexing ended or timeout_ms passed; returns done (1 or 0).  A
 * spool is never done: returns at once. */
int rc_store_wait(struct rc_store *s, uint32_t timeout_ms);
/* The comments (pcapng opt_comment) of packet number, joined by newlines:
 * copies at most cap bytes into buf (not NUL-terminated; hostile bytes) and
 * returns their whole length, 0 when it has none, -ENOENT when the packet is
 * not stored. */
int64_t rc_store_comment(struct rc_store *s, uint64_t number, char *buf, uint64_t cap);
/* Stop the indexer (if any), unmap, remove the spool and its directory;
 * frees s. */
void rc_store_close(struct rc_store *s);

/* A live capture's store.  The spool is one file, created exclusively with
 * mode 0600 in a new directory of mode 0700 with an unpredictable name
 * ("ringmon-spool-XXXXXX" under dir, or $TMPDIR, or /tmp).  It is a ring of
 * bytes of at most spool_bytes (>= RC_STORE_SPOOL_MIN_BYTES): a packet that
 * does not fit before its end starts again at offset 0, and the oldest
 * packets whose bytes it overwrites are evicted first.  Packets are written
 * with pwrite and read back with pread, so their pages stay in the page
 * cache, not in the process.  rc_store_close removes the file and the
 * directory.
 *
 * The index is the store's only memory that grows with traffic: 32 bytes a
 * packet, so it is a ring too, of at most spool_packets entries; the oldest
 * packet is evicted when it is full, exactly as when the spool's bytes are
 * (one count: stored == held + evicted).  Bytes bound big packets, the
 * count bounds small ones: 1 GiB of 60-byte packets is 17 M entries, 550 MB
 * of index.  The default, 2 Mi packets, caps the index at 64 MiB, and a
 * 1 GiB spool of packets that average 512 bytes or more is full by bytes
 * first.  It is mapped once at its whole size, its pages touched only as
 * packets come and given back in 64 KiB blocks once no packet held has its
 * entry there (it costs about what it holds), so it never grows, is never
 * copied, and no drain waits for it.  It stays anonymous memory
 * rather than a file in the spool's directory: a file's dirty pages would
 * count the same while the drains write them, and on a tmpfs $TMPDIR they
 * could not be reclaimed either. */
#define RC_STORE_SPOOL_MIN_BYTES (1u << 20) /* holds the largest packet (snap length 262144) */
#define RC_STORE_SPOOL_MIN_PACKETS 4096u /* a few batches */
#define RC_STORE_SPOOL_DEFAULT_PACKETS (1u << 21) /* 64 MiB of index */
#define RC_STORE_SPOOL_MAX_PACKETS (1ull << 32) /* 128 GiB of index */

int rc_store_create_spool(const char *dir, uint64_t spool_bytes, uint64_t spool_packets,
			  struct rc_store **out, char *errbuf, size_t errlen);
/* The spool's directory (what rc_store_close removes) into buf; -ENOENT for
 * a store that has no spool, -ERANGE when buf is too small. */
int rc_store_spool_dir(struct rc_store *s, char *buf, size_t len);
/* Declare a live interface (name: the session's interface key); returns its
 * number, or -EROFS for a file's store, -E2BIG beyond 65536, -ENOMEM. */
int rc_store_add_interface(struct rc_store *s, const char *name, uint32_t linktype,
			   uint32_t snaplen);
/* Append a batch of records seen on interface number `interface`, one batch
 * at a time (the store's lock is let go while the bytes are written, so
 * readers never wait for the disk): returns how many were stored, the first ones in order (the
 * rest were not: a write error, kept as the store's error with a count of
 * every packet not stored), or a negative errno when none could be
 * (-EROFS: a file's store, -EINVAL: no such interface).  Slot flags become
 * RC_STORED_TRUNCATED and RC_STORED_OUTGOING. */
int rc_store_append(struct rc_store *s, uint32_t interface,
		    const struct rc_slot_hdr *const *slots, uint32_t n);
/* ---- selections, display filters and export ----------------------- */

/* A sorted set of packet numbers of one store (each once), in C: what a
 * display filter matched, or what a person chose to export.  Thread-safe: a
 * filter adds while the UI reads. */
struct rc_selection;

struct rc_selection *rc_selection_new(void);
void rc_selection_free(struct rc_selection *sel);
/* Append numbers, each above the last held: 0, -EINVAL when one is not
 * (nothing after it added), -ENOMEM. */
int rc_selection_add(struct rc_selection *sel, const uint64_t *numbers, uint32_t n);
/* Append first .. end-1 (first above the last held). */
int rc_selection_add_range(struct rc_selection *sel, uint64_t first, uint64_t end);
uint64_t rc_selection_count(struct rc_selection *sel);
/* Copy the numbers at positions start_index .. +max-1; returns how many. */
uint32_t rc_selection_numbers(struct rc_selection *sel, uint64_t start_index, uint64_t *out,
			      uint32_t max);
/* The position of the first number >= number (count when none is). */
uint64_t rc_selection_position(struct rc_selection *sel, uint64_t number);
/* Set, in a bitmap over packet numbers (number n is bit n % 8 of byte
 * n / 8: a list's marks), the bits of the numbers at positions start_index
 * .. end_index-1, leaving out those beyond its nbytes; returns how many bits
 * it set (whether or not they were set before). */
uint64_t rc_selection_set_bits(struct rc_selection *sel, uint64_t start_index, uint64_t end_index,
			       uint8_t *bits, uint64_t nbytes);
/* Append the numbers whose bits are set in such a bitmap of nbytes (the
 * lowest above the last held): 0, -EINVAL when it is not (nothing added),
 * -ENOMEM. */
int rc_selection_add_bits(struct rc_selection *sel, const uint8_t *bits, uint64_t nbytes);

/* A display filter: a tcpdump expression compiled by libpcap once per link
 * type of the store's interfaces (an interface whose link type it does not
 * compile for matches nothing) and run by pcap_offline_filter over the
 * packets where they lie (a file's mapping; a spool's packets read back).
 * rc_store_filter_new fails with -EINVAL and libpcap's message when the
 * expression compiles for none of them (for Ethernet when there is none
 * yet).  The store must outlive the filter; one thread runs a filter. */
struct rc_store_filter;

int rc_store_filter_new(struct rc_store *s, const char *expression,
			struct rc_store_filter **out, char *errbuf, size_t errlen);
/* Examine at most max packets not examined yet (evicted ones are skipped),
 * adding the matches to sel; returns how many were examined (0: none new
 * for now) or a negative errno.  The store's lock is held for 1024 packets
 * at a time. */
int64_t rc_store_filter_run(struct rc_store_filter *f, struct rc_selection *sel, uint64_t max);
/* The first packet number not examined yet. */
uint64_t rc_store_filter_examined(struct rc_store_filter *f);
void rc_store_filter_free(struct rc_store_filter *f);

/* Called from the exporting thread after each chunk: packets written so
 * far of total; nonzero cancels the export (-ECANCELED, no file). */
typedef int (*rc_progress_fn)(void *ctx, uint64_t done, uint64_t total);

enum rc_save_flags {
	/* a write error (a full disk) keeps the whole packets written, as a
	 * capture file does (a session's spool kept at its end) */
	RC_SAVE_KEEP_PARTIAL = 1 << 0,
};

/* Write the packets still held to path (enum rc_format; pcapng: one
 * interface block per store interface with its link type, ns timestamps,
 * packet comments kept), through the writer, in the store's order: all of
 * them (sel NULL) or those of sel (numbers evicted meanwhile are left out).
 * An exclusive 0600 temp file is renamed into place once complete; on any
 * error (a full disk) it is removed, unless RC_SAVE_KEEP_PARTIAL: the file
 * is whole or not there.  *packets and *bytes (may be NULL) get what it
 * holds.  progress may be NULL.  0 or a negative errno with one line in
 * errbuf. */
int rc_store_save(struct rc_store *s, const char *path, int32_t format, uint32_t flags,
		  struct rc_selection *sel, rc_progress_fn progress, void *ctx,
		  uint64_t *packets, uint64_t *bytes, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
