/* store_file.c — the store's file backend: a pcap or pcapng file indexed in
 * place.  The file is mapped read-only (never copied) and walked by a
 * background thread that publishes index entries in batches; a stream ("-",
 * a pipe, a FIFO) is first copied into a memfd as it arrives, and indexed
 * from that.  Every length a file declares is hostile: each is checked
 * against the bytes there are before anything is read, and the first one out
 * of range ends indexing with what was valid up to there, an error and its
 * offset. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PUBLISH_BATCH 4096u /* entries published at once: readers see the list grow */
#define NS_PER_S 1000000000ull
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_FILE_HEADER 24u
#define PCAP_RECORD_HEADER 16u
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_IDB 1u
#define PCAPNG_PB 2u /* obsolete packet block, still written by old tools */
#define PCAPNG_SPB 3u
#define PCAPNG_EPB 6u
#define PCAPNG_BYTE_ORDER_MAGIC 0x1a2b3c4du
#define PCAPNG_MAJOR_VERSION 1u
#define PCAPNG_BLOCK_FRAMING 12u /* type and length before the body, the length again after it */
#define PCAPNG_MIN_SHB 28u       /* the framing, byte-order magic, version and section length */
/* Wireshark's limit on a block: larger is a corrupt length. */
#define PCAPNG_MAX_BLOCK (16u << 20)
#define OPT_END 0u
#define OPT_COMMENT 1u
#define OPT_IF_NAME 2u
#define OPT_IF_TSRESOL 9u
#define OPT_IF_TSOFFSET 14u
/* libpcap's MAXIMUM_SNAPLEN: a longer pcap record is corrupt; a file snap
 * length of 0 or beyond it means "no limit" and reads as it, as libpcap's. */
#define MAX_SNAPLEN 262144u
#define LINKTYPE_MASK 0xffffu /* pcap's upper linktype bits carry FCS information */
/* if_tsresol 10^-n or 2^-n s: beyond these a 64-bit tick count cannot span a second */
#define MAX_TSRESOL_DECIMAL 19u
#define MAX_TSRESOL_BINARY 63u
/* A stream is copied into a memfd mapped once at this size (address space
 * only; pages exist as data arrives), so entries never move; where the
 * address space is tighter (ulimit -v, a sanitizer's layout) a quarter of it
 * is tried, down to the smallest. */
#define STREAM_RESERVE (1ull << 40)
#define STREAM_RESERVE_MIN (1ull << 28)
#define STREAM_CHUNK (64u << 10)

/* What a pcapng interface's timestamps mean. */
struct ts_unit {
	uint64_t ticks_per_s;
	uint64_t ns_per_tick; /* when it divides a second exactly, else 0 */
	int64_t offset_s;     /* if_tsoffset */
};

struct file_index {
	struct rc_store *s;
	pthread_t thread;
	pthread_cond_t done_cond; /* with s->lock: signalled once done */
	_Atomic int stop;         /* close asks the thread to end */
	int stop_fd;              /* eventfd: wakes a thread waiting on a stream */
	int fd;                   /* the file, or the memfd a stream goes into */
	int stream_fd;            /* -1, or the stream being copied */
	const uint8_t *map;
	uint64_t map_size;
	uint64_t avail; /* bytes of map that hold the file (a stream's: so far) */
	uint64_t unmapped; /* pages before this were let go once indexed */
	bool eof;       /* no byte will come after avail */
	bool swap;      /* the section's (or pcap file's) byte order is not ours */
	int32_t format;
	char name[RC_STORE_INTERFACE_NAME_MAX]; /* a pcap file's interface: its base name */
	uint64_t packets;                       /* indexed so far, batched ones included */
	uint64_t indexed_to;                    /* the end of the last packet indexed */
	struct ts_unit *units;                  /* by the store's interface number */
	uint32_t unit_capacity;
	uint32_t section_first; /* the store's number for the section's interface 0 */
	uint32_t section_count; /* interfaces the section declared */
	/* why indexing stopped early, recorded in the store with the last batch */
	int error;
	uint64_t error_offset;
	char message[RC_STORE_MESSAGE_MAX];
	uint32_t batched;
	struct rc_store_entry batch[PUBLISH_BATCH];
};

static const struct rc_store_backend file_backend;

/* ---- reading fields --------------------------------------------------- */

static uint16_t rd16(bool swap, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return swap ? __builtin_bswap16(v) : v;
}

static uint32_t rd32(bool swap, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

static uint32_t rd32_native(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint32_t pad4(uint32_t n)
{
	return (n + 3u) & ~3u;
}

static bool stopping(struct file_index *ix)
{
	return atomic_load_explicit(&ix->stop, memory_order_relaxed);
}

static void fail(struct file_index *ix, int error, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool publish(struct file_index *ix);

/* Copy what the stream has next into the memfd; false once it ended, failed
 * or close asked to stop. */
static bool copy_more(struct file_index *ix)
{
	struct pollfd fds[2] = { { .fd = ix->stream_fd, .events = POLLIN },
				 { .fd = ix->stop_fd, .events = POLLIN } };
	uint8_t chunk[STREAM_CHUNK];
	ssize_t got = -1;
	while (!stopping(ix)) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (stopping(ix) || fds[1].revents)
			break;
		if (!fds[0].revents)
			continue;
		got = read(ix->stream_fd, chunk, sizeof(chunk));
		if (got >= 0 || (errno != EINTR && errno != EAGAIN))
			break;
	}
	if (got < 0 && !stopping(ix))
		fail(ix, -errno, ix->avail, "cannot read after %llu bytes: %s", (unsigned long long)ix->avail,
		     strerror(errno));
	else if (got > 0 && ix->avail + (uint64_t)got > ix->map_size)
		fail(ix, -EFBIG, ix->avail, "a stream larger than %llu bytes", (unsigned long long)ix->map_size);
	for (ssize_t put = 0; got > 0 && !ix->error && put < got;) {
		ssize_t n = pwrite(ix->fd, chunk + put, (size_t)(got - put), (off_t)(ix->avail + (uint64_t)put));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail(ix, n < 0 ? -errno : -EIO, ix->avail, "cannot keep the stream in memory: %s",
			     strerror(n < 0 ? errno : EIO));
		else
			put += n;
	}
	if (got <= 0 || ix->error) {
		ix->eof = true;
		return false;
	}
	ix->avail += (uint64_t)got;
	return true;
}

/* Whether bytes at .. at+n are there; a stream's are waited for. */
static bool have(struct file_index *ix, uint64_t at, uint64_t n)
{
	while (at + n > ix->avail) {
		/* what the stream gave so far is readable while it waits for more */
		if (ix->stream_fd >= 0 && ix->batched && !publish(ix))
			return false;
		if (ix->stream_fd < 0 || ix->eof || !copy_more(ix))
			return at + n <= ix->avail;
	}
	return true;
}

/* ---- recording what was found ------------------------------------------ */

static void fail(struct file_index *ix, int error, uint64_t offset, const char *fmt, ...)
{
	if (ix->error)
		return; /* the first reason is the one */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ix->message, sizeof(ix->message), fmt, ap);
	va_end(ap);
	ix->error = error;
	ix->error_offset = offset;
}

/* The record or block at offset is cut short: `wanted` bytes of `what`
 * were to start at from, and the file ends first (tcpdump's "tried to read
 * 74 captured bytes, only got 46"). */
static void truncated(struct file_index *ix, uint64_t offset, uint64_t from, uint64_t wanted, const char *what)
{
	fail(ix, -ENODATA, offset, "truncated at offset %llu: tried to read %llu %s, only got %llu",
	     (unsigned long long)offset, (unsigned long long)wanted, what,
	     (unsigned long long)(ix->avail > from ? ix->avail - from : 0));
}

/* Publish the batched entries (and how far indexing got); false when the
 * index cannot grow. */
static bool publish(struct file_index *ix)
{
	uint64_t offset_done = ix->indexed_to;
	struct rc_store *s = ix->s;
	pthread_mutex_lock(&s->lock);
	int rc = store_reserve(s, ix->batched);
	if (rc == 0) {
		store_append(s, ix->batch, ix->batched);
		ix->batched = 0;
	}
	s->data_size = ix->avail;
	pthread_mutex_unlock(&s->lock);
	atomic_store(&s->bytes_done, offset_done);
	/* The pages indexed leave this process's RSS (they stay in the page cache
	 * or the memfd): memory follows the index, not the file; a read faults a
	 * page back in. */
	uint64_t indexed = offset_done & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1);
	if (indexed > ix->unmapped) {
		madvise((void *)(ix->map + ix->unmapped), indexed - ix->unmapped, MADV_DONTNEED);
		ix->unmapped = indexed;
	}
	if (rc < 0)
		fail(ix, rc, offset_done, "out of memory for the index after %llu packets",
		     (unsigned long long)(ix->packets - ix->batched));
	return rc == 0;
}

static bool add_entry(struct file_index *ix, uint64_t offset, const struct rc_store_entry *e)
{
	ix->batch[ix->batched++] = *e;
	ix->packets++;
	ix->indexed_to = offset;
	return ix->batched < PUBLISH_BATCH || publish(ix);
}

/* Declare an interface with its timestamp unit; -1 (failed) when it cannot. */
static int add_interface(struct file_index *ix, uint64_t offset, const char *name, size_t name_len,
			 uint32_t linktype, uint32_t snaplen, struct ts_unit unit)
{
	struct rc_store *s = ix->s;
	pthread_mutex_lock(&s->lock);
	int number = store_add_interface(s, name, name_len, linktype, snaplen);
	pthread_mutex_unlock(&s->lock);
	if (number == -E2BIG) {
		fail(ix, number, offset, "corrupt pcapng at offset %llu: more interfaces than %u",
		     (unsigned long long)offset, 65536u);
		return -1;
	}
	if (number >= 0 && (uint32_t)number >= ix->unit_capacity) {
		uint32_t capacity = ix->unit_capacity ? ix->unit_capacity * 2 : 4;
		void *grown = realloc(ix->units, capacity * sizeof(*ix->units));
		if (!grown)
			number = -ENOMEM;
		else
			ix->units = grown, ix->unit_capacity = capacity;
	}
	if (number < 0) {
		fail(ix, number, offset, "out of memory for the interfaces at offset %llu", (unsigned long long)offset);
		return -1;
	}
	ix->units[number] = unit;
	return number;
}

static uint32_t file_snaplen(uint32_t snaplen)
{
	return snaplen && snaplen <= MAX_SNAPLEN ? snaplen : MAX_SNAPLEN;
}

/* ---- pcap --------------------------------------------------------------- */

static void index_pcap(struct file_index *ix)
{
	const uint8_t *h = ix->map;
	uint32_t fraction_ns = ix->format == RC_STORE_PCAP_NS ? 1u : 1000u;
	if (add_interface(ix, 0, ix->name, strlen(ix->name), rd32(ix->swap, h + 20) & LINKTYPE_MASK,
			  file_snaplen(rd32(ix->swap, h + 16)),
			  (struct ts_unit){ NS_PER_S / fraction_ns, fraction_ns, 0 }) < 0)
		return;
	for (uint64_t at = PCAP_FILE_HEADER; !stopping(ix) && have(ix, at, 1);) {
		if (!have(ix, at, PCAP_RECORD_HEADER)) {
			truncated(ix, at, at, PCAP_RECORD_HEADER, "bytes of a record header");
			return;
		}
		const uint8_t *r = ix->map + at;
		uint32_t caplen = rd32(ix->swap, r + 8);
		if (caplen > MAX_SNAPLEN) {
			fail(ix, -EBADMSG, at, "corrupt pcap at offset %llu: a packet record claims %u bytes, more than %u",
			     (unsigned long long)at, caplen, MAX_SNAPLEN);
			return;
		}
		if (!have(ix, at + PCAP_RECORD_HEADER, caplen)) {
			truncated(ix, at, at + PCAP_RECORD_HEADER, caplen, "captured bytes");
			return;
		}
		struct rc_store_entry e = {
			.data_offset = at + PCAP_RECORD_HEADER,
			/* at most 2^32 s and 2^32 us: no overflow */
			.ts_ns = (int64_t)((uint64_t)rd32(ix->swap, r) * NS_PER_S + (uint64_t)rd32(ix->swap, r + 4) * fraction_ns),
			.caplen = caplen,
			.wirelen = rd32(ix->swap, r + 12),
			.block_back = PCAP_RECORD_HEADER,
		};
		at += PCAP_RECORD_HEADER + caplen;
		if (!add_entry(ix, at, &e))
			return;
	}
}

/* ---- pcapng ------------------------------------------------------------- */

/* The options of a block: at .. end (bounds checked by the caller). */
struct options {
	const uint8_t *at;
	const uint8_t *end;
};

/* The next option: 1 with code/value/length, 0 at the end of the list, -1
 * when it overruns the block (offending code and length left in code and length). */
static int next_option(bool swap, struct options *o, uint16_t *code,
		       const uint8_t **value, uint16_t *length)
{
	if (o->end - o->at < 4)
		return 0;
	*code = rd16(swap, o->at);
	*length = rd16(swap, o->at + 2);
	if (*code == OPT_END)
		return 0;
	if (o->end - o->at - 4 < *length)
		return -1;
	*value = o->at + 4;
	o->at += 4 + pad4(*length);
	if (o->at > o->end)
		o->at = o->end;
	return 1;
}

/* The opt_comment values of a packet block's options, joined by newlines,
 * copied into buf (at most cap bytes); returns their length (0: none).  An
 * option list that overruns its block ends there: comments are not worth
 * refusing a packet for. */
static uint64_t packet_comments(bool swap, struct options o, char *buf, uint64_t cap)
{
	uint64_t length = 0;
	uint16_t code, value_len;
	const uint8_t *value;
	while (next_option(swap, &o, &code, &value, &value_len) == 1) {
		if (code != OPT_COMMENT)
			continue;
		if (length) {
			if (length < cap)
				buf[length] = '\n';
			length++;
		}
		if (length < cap)
			memcpy(buf + length, value, cap - length < value_len ? cap - length : value_len);
		length += value_len;
	}
	return length;
}

static bool timestamp_unit(struct file_index *ix, uint64_t offset, const uint8_t *value, uint16_t length,
			   struct ts_unit *unit)
{
	if (length != 1) {
		fail(ix, -EBADMSG, offset, "corrupt pcapng at offset %llu: if_tsresol is %u bytes, not 1",
		     (unsigned long long)offset, length);
		return false;
	}
	bool binary = value[0] & 0x80; /* high bit: 2^-n seconds per tick, else 10^-n */
	unsigned exponent = value[0] & 0x7f, limit = binary ? MAX_TSRESOL_BINARY : MAX_TSRESOL_DECIMAL;
	if (exponent > limit) {
		fail(ix, -EBADMSG, offset, "corrupt pcapng at offset %llu: if_tsresol %u^-%u s is finer than %u^-%u",
		     (unsigned long long)offset, binary ? 2u : 10u, exponent, binary ? 2u : 10u, limit);
		return false;
	}
	uint64_t ticks = 1;
	for (unsigned i = 0; i < exponent; i++)
		ticks *= binary ? 2 : 10;
	unit->ticks_per_s = ticks;
	unit->ns_per_tick = NS_PER_S % ticks == 0 ? NS_PER_S / ticks : 0;
	return true;
}

static void interface_block(struct file_index *ix, uint64_t at, const uint8_t *body, uint32_t body_len)
{
	uint32_t local = ix->section_count;
	char name[RC_STORE_INTERFACE_NAME_MAX];
	size_t name_len = (size_t)snprintf(name, sizeof(name), "if%u", local);
	const uint8_t *name_value = (const uint8_t *)name;
	struct ts_unit unit = { 1000000, 1000, 0 }; /* microseconds unless the block says otherwise */
	struct options o = { body + 8, body + body_len };
	uint16_t code, length;
	const uint8_t *value;
	int more;
	/* options this reader does not use (descriptions, comments) are skipped whatever their bytes */
	while ((more = next_option(ix->swap, &o, &code, &value, &length)) == 1) {
		if (code == OPT_IF_NAME) {
			name_value = value;
			name_len = length;
			while (name_len && !name_value[name_len - 1])
				name_len--;
		} else if (code == OPT_IF_TSRESOL) {
			if (!timestamp_unit(ix, at, value, length, &unit))
				return;
		} else if (code == OPT_IF_TSOFFSET) {
			if (length != 8) {
				fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: if_tsoffset of interface %u is %u bytes, not 8",
				     (unsigned long long)at, local, length);
				return;
			}
			uint64_t v;
			memcpy(&v, value, 8);
			unit.offset_s = (int64_t)(ix->swap ? __builtin_bswap64(v) : v);
		}
	}
	if (more < 0) {
		fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: option %u of %u bytes overruns its block",
		     (unsigned long long)at, code, length);
		return;
	}
	int number = add_interface(ix, at, (const char *)name_value, name_len, rd16(ix->swap, body),
				   file_snaplen(rd32(ix->swap, body + 4)), unit);
	if (number < 0)
		return;
	if (local == 0)
		ix->section_first = (uint32_t)number;
	ix->section_count++;
}

/* ns since the epoch of `ticks` of an interface, clamped to what int64 holds
 * (years 1677 to 2262); *clamped says so. */
static int64_t pcapng_ts_ns(const struct ts_unit *unit, uint64_t ticks, bool *clamped)
{
	__int128 ns = unit->ns_per_tick ? (__int128)ticks * unit->ns_per_tick
					: (__int128)ticks * NS_PER_S / unit->ticks_per_s;
	ns += (__int128)unit->offset_s * (__int128)NS_PER_S;
	*clamped = ns > INT64_MAX || ns < INT64_MIN;
	return ns > INT64_MAX ? INT64_MAX : ns < INT64_MIN ? INT64_MIN : (int64_t)ns;
}

/* A packet block (EPB, SPB, PB) as an entry; false when it is corrupt. */
static bool packet_block(struct file_index *ix, uint64_t at, uint32_t type, const uint8_t *body,
			 uint32_t body_len, struct rc_store_entry *e)
{
	uint32_t ifid, caplen, wirelen, data_at;
	uint64_t ticks;
	if (type == PCAPNG_SPB) {
		/* no captured length: the block holds min(wire length, snap length), padded */
		wirelen = rd32(ix->swap, body);
		ifid = 0;
		ticks = 0; /* unused: the entry is flagged RC_STORED_NO_TIME */
		data_at = 4;
		caplen = body_len - data_at < wirelen ? body_len - data_at : wirelen;
		if (ix->section_count && caplen > ix->s->interfaces[ix->section_first].snaplen)
			caplen = ix->s->interfaces[ix->section_first].snaplen;
	} else {
		ifid = type == PCAPNG_EPB ? rd32(ix->swap, body) : rd16(ix->swap, body);
		ticks = (uint64_t)rd32(ix->swap, body + 4) << 32 | rd32(ix->swap, body + 8);
		caplen = rd32(ix->swap, body + 12);
		wirelen = rd32(ix->swap, body + 16);
		data_at = 20;
	}
	if (ifid >= ix->section_count) {
		fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: a packet on interface %u, which no interface block declared",
		     (unsigned long long)at, ifid);
		return false;
	}
	if (caplen > MAX_SNAPLEN || caplen > body_len - data_at) {
		fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: a packet of %u bytes overruns its %u-byte block",
		     (unsigned long long)at, caplen, body_len + PCAPNG_BLOCK_FRAMING);
		return false;
	}
	uint32_t number = ix->section_first + ifid;
	bool clamped = false;
	*e = (struct rc_store_entry){
		.data_offset = at + 8 + data_at,
		/* a simple packet block has no time: flagged, not the interface's offset or the epoch */
		.ts_ns = type == PCAPNG_SPB ? 0 : pcapng_ts_ns(&ix->units[number], ticks, &clamped),
		.caplen = caplen,
		.wirelen = wirelen,
		.interface = (uint16_t)number,
		.flags = type == PCAPNG_SPB ? RC_STORED_NO_TIME : clamped ? RC_STORED_TS_CLAMPED : 0,
		.block_back = 8 + data_at,
	};
	if (type != PCAPNG_SPB && pad4(caplen) <= body_len - data_at) {
		struct options o = { body + data_at + pad4(caplen), body + body_len };
		if (packet_comments(ix->swap, o, NULL, 0))
			e->flags |= RC_STORED_COMMENT;
	}
	return true;
}

static uint32_t min_body(uint32_t type)
{
	switch (type) {
	case PCAPNG_SHB: return PCAPNG_MIN_SHB - PCAPNG_BLOCK_FRAMING;
	case PCAPNG_IDB: return 8;
	case PCAPNG_EPB: return 20;
	case PCAPNG_PB: return 20;
	case PCAPNG_SPB: return 4;
	default: return 0;
	}
}

static void index_pcapng(struct file_index *ix)
{
	for (uint64_t at = 0; !stopping(ix) && have(ix, at, 1);) {
		if (!have(ix, at, 8)) {
			truncated(ix, at, at, 8, "bytes of a block header");
			return;
		}
		const uint8_t *b = ix->map + at;
		if (rd32_native(b) == PCAPNG_SHB) {
			/* a section says its own byte order, after its length */
			if (!have(ix, at, 12)) {
				truncated(ix, at, at, 12, "bytes of a section header");
				return;
			}
			uint32_t bom = rd32_native(b + 8);
			if (bom != PCAPNG_BYTE_ORDER_MAGIC && bom != __builtin_bswap32(PCAPNG_BYTE_ORDER_MAGIC)) {
				fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: bad byte-order magic 0x%02x%02x%02x%02x",
				     (unsigned long long)at, b[8], b[9], b[10], b[11]);
				return;
			}
			ix->swap = bom != PCAPNG_BYTE_ORDER_MAGIC;
			ix->section_count = 0; /* interface ids start again in each section */
		}
		uint32_t type = rd32(ix->swap, b), total = rd32(ix->swap, b + 4);
		uint32_t minimum = PCAPNG_BLOCK_FRAMING + min_body(type);
		if (total < minimum || total % 4 || total > PCAPNG_MAX_BLOCK) {
			fail(ix, -EBADMSG, at,
			     "corrupt pcapng at offset %llu: block type 0x%08x claims %u bytes (a multiple of 4 from %u to %u)",
			     (unsigned long long)at, type, total, minimum, PCAPNG_MAX_BLOCK);
			return;
		}
		if (!have(ix, at, total)) {
			truncated(ix, at, at, total, "bytes of a block");
			return;
		}
		b = ix->map + at; /* a stream's mapping does not move, but say so where it is read */
		uint32_t trailing = rd32(ix->swap, b + total - 4);
		if (trailing != total) {
			fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: block length %u at its start but %u at its end",
			     (unsigned long long)at, total, trailing);
			return;
		}
		const uint8_t *body = b + 8;
		uint32_t body_len = total - PCAPNG_BLOCK_FRAMING;
		uint64_t next = at + total;
		if (type == PCAPNG_SHB) {
			uint16_t major = rd16(ix->swap, body + 4), minor = rd16(ix->swap, body + 6);
			if (major != PCAPNG_MAJOR_VERSION) {
				fail(ix, -EBADMSG, at, "corrupt pcapng at offset %llu: pcapng version %u.%u, this reader knows %u.x",
				     (unsigned long long)at, major, minor, PCAPNG_MAJOR_VERSION);
				return;
			}
		} else if (type == PCAPNG_IDB) {
			interface_block(ix, at, body, body_len);
			if (ix->error)
				return;
		} else if (type == PCAPNG_EPB || type == PCAPNG_SPB || type == PCAPNG_PB) {
			struct rc_store_entry e;
			if (!packet_block(ix, at, type, body, body_len, &e) || !add_entry(ix, next, &e))
				return;
		}
		at = next;
	}
}

/* ---- the thread, and the backend ------------------------------------------ */

static void *index_main(void *arg)
{
	struct file_index *ix = arg;
	struct rc_store *s = ix->s;
	if (ix->format == RC_STORE_PCAPNG)
		index_pcapng(ix);
	else
		index_pcap(ix);
	uint64_t done_at = ix->error ? ix->error_offset : ix->avail;
	if (ix->batched)
		publish(ix);
	if (ix->stream_fd < 0)
		madvise((void *)ix->map, ix->map_size, MADV_NORMAL); /* the list reads where a person looks */
	pthread_mutex_lock(&s->lock);
	if (ix->error)
		store_fail(s, ix->error, ix->error_offset, "%s", ix->message);
	s->bytes_total = ix->avail;
	s->data_size = ix->avail;
	atomic_store(&s->bytes_done, done_at);
	atomic_store(&s->done, 1);
	pthread_cond_broadcast(&ix->done_cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void free_index(struct file_index *ix)
{
	if (ix->map && ix->map != MAP_FAILED)
		munmap((void *)ix->map, ix->map_size);
	if (ix->fd >= 0)
		close(ix->fd);
	if (ix->stream_fd >= 0)
		close(ix->stream_fd);
	if (ix->stop_fd >= 0)
		close(ix->stop_fd);
	pthread_cond_destroy(&ix->done_cond);
	free(ix->units);
	free(ix);
}

static void file_close(struct rc_store *s)
{
	struct file_index *ix = s->backend_state;
	atomic_store(&ix->stop, 1);
	uint64_t one = 1;
	ssize_t ignored = write(ix->stop_fd, &one, sizeof(one));
	(void)ignored;
	pthread_join(ix->thread, NULL);
	free_index(ix);
}

static const struct rc_store_backend file_backend = { .close = file_close, .read = NULL };

/* The capture format its first four bytes say, or -1. */
static int32_t format_of(const uint8_t magic[4])
{
	uint32_t m = rd32_native(magic);
	if (m == PCAP_MAGIC_US || m == __builtin_bswap32(PCAP_MAGIC_US))
		return RC_STORE_PCAP_US;
	if (m == PCAP_MAGIC_NS || m == __builtin_bswap32(PCAP_MAGIC_NS))
		return RC_STORE_PCAP_NS;
	if (m == PCAPNG_SHB)
		return RC_STORE_PCAPNG;
	return -1;
}

/* A stream's first bytes, after the `have_bytes` in buf already (blocking):
 * how many of `want` there were, or a negative errno. */
static ssize_t read_first(int fd, uint8_t *buf, ssize_t have_bytes, ssize_t want)
{
	while (have_bytes < want) {
		ssize_t n = read(fd, buf + have_bytes, (size_t)(want - have_bytes));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have_bytes += n;
	}
	return have_bytes;
}

/* The bytes a file of this format needs for its own header: a pcap file
 * header, or the section header block that starts a pcapng (its declared
 * length when the whole file is there to check it against; a length out of
 * range is the indexer's to report as corrupt). */
static uint64_t file_header_bytes(const struct file_index *ix)
{
	if (ix->format != RC_STORE_PCAPNG)
		return PCAP_FILE_HEADER;
	uint32_t need = PCAPNG_MIN_SHB;
	if (ix->stream_fd < 0 && ix->avail >= 12) {
		uint32_t bom = rd32_native(ix->map + 8);
		uint32_t total = rd32(bom != PCAPNG_BYTE_ORDER_MAGIC, ix->map + 4);
		if ((bom == PCAPNG_BYTE_ORDER_MAGIC || bom == __builtin_bswap32(PCAPNG_BYTE_ORDER_MAGIC)) &&
		    total > need && total % 4 == 0 && total <= PCAPNG_MAX_BLOCK)
			need = total;
	}
	return need;
}

static int open_failed(struct file_index *ix, int rc, char *err, size_t errlen, const char *path, const char *fmt)
{
	snprintf(err, errlen, fmt, path, strerror(-rc));
	free_index(ix);
	return rc;
}

int rc_store_open_file(const char *path, struct rc_store **out, char *err, size_t errlen)
{
	*out = NULL;
	struct file_index *ix = calloc(1, sizeof(*ix));
	if (!ix) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	ix->fd = ix->stream_fd = -1;
	ix->stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ix->done_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ix->stop_fd < 0)
		return open_failed(ix, -errno, err, errlen, path, "%s: cannot open: %s");
	const char *slash = strrchr(path, '/');
	size_t base = slash && slash[1] ? (size_t)(slash + 1 - path) : 0;
	memcpy(ix->name, path + base, strnlen(path + base, sizeof(ix->name) - 1)); /* calloc'ed: NUL-terminated */
	int fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return open_failed(ix, -errno, err, errlen, path, "%s: cannot open: %s");
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return open_failed(ix, -errno, err, errlen, path, "%s: cannot open: %s");
	}
	uint8_t first[PCAPNG_MIN_SHB] = { 0 }; /* the magic, and a stream's header */
	ssize_t first_len;
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return open_failed(ix, -EISDIR, err, errlen, path, "%s: cannot open: %s");
	} else if (S_ISREG(st.st_mode)) {
		ix->fd = fd;
		ix->avail = (uint64_t)st.st_size;
		ix->eof = true;
		first_len = st.st_size < 4 ? st.st_size : 4;
		if (st.st_size > 0) {
			ix->map_size = (uint64_t)st.st_size;
			ix->map = mmap(NULL, ix->map_size, PROT_READ, MAP_SHARED, fd, 0);
			if (ix->map == MAP_FAILED)
				return open_failed(ix, -errno, err, errlen, path, "%s: cannot map: %s");
			madvise((void *)ix->map, ix->map_size, MADV_SEQUENTIAL); /* the index reads it once, in order */
			memcpy(first, ix->map, (size_t)first_len);
		}
	} else {
		ix->stream_fd = fd;
		first_len = read_first(fd, first, 0, 4);
		if (first_len == 4 && format_of(first) >= 0) /* its header, checked below as a file's */
			first_len = read_first(fd, first, 4, format_of(first) == RC_STORE_PCAPNG ? PCAPNG_MIN_SHB
												   : PCAP_FILE_HEADER);
		if (first_len < 0)
			return open_failed(ix, (int)first_len, err, errlen, path, "%s: cannot read: %s");
		ix->fd = memfd_create("ringmon-stream", MFD_CLOEXEC);
		if (ix->fd < 0)
			return open_failed(ix, -errno, err, errlen, path, "%s: cannot keep the stream in memory: %s");
		if (pwrite(ix->fd, first, (size_t)first_len, 0) != first_len)
			return open_failed(ix, -EIO, err, errlen, path, "%s: cannot keep the stream in memory: %s");
		ix->avail = (uint64_t)first_len;
		ix->map_size = STREAM_RESERVE;
		ix->map = mmap(NULL, ix->map_size, PROT_READ, MAP_SHARED | MAP_NORESERVE, ix->fd, 0);
		while (ix->map == MAP_FAILED && ix->map_size > STREAM_RESERVE_MIN) {
			ix->map_size /= 4;
			ix->map = mmap(NULL, ix->map_size, PROT_READ, MAP_SHARED | MAP_NORESERVE, ix->fd, 0);
		}
		if (ix->map == MAP_FAILED)
			return open_failed(ix, -errno, err, errlen, path, "%s: cannot map: %s");
	}
	if (first_len == 0) {
		snprintf(err, errlen, "%s: the file is empty, not a capture", path);
		free_index(ix);
		return -ENODATA;
	}
	ix->format = first_len >= 4 ? format_of(first) : -1;
	if (ix->format < 0) {
		snprintf(err, errlen, "%s: not a capture file (neither pcap nor pcapng)", path);
		free_index(ix);
		return -EINVAL;
	}
	/* too short for its own header: refused as an empty file is (tcpdump refuses both) */
	uint64_t header = file_header_bytes(ix);
	if (ix->avail < header) {
		snprintf(err, errlen, "%s: truncated at offset 0: tried to read %llu bytes of the %s, only got %llu", path,
			 (unsigned long long)header, ix->format == RC_STORE_PCAPNG ? "section header" : "pcap file header",
			 (unsigned long long)ix->avail);
		free_index(ix);
		return -ENODATA;
	}
	if (ix->format != RC_STORE_PCAPNG)
		ix->swap = rd32_native(first) != PCAP_MAGIC_US && rd32_native(first) != PCAP_MAGIC_NS;
	struct rc_store *s = store_new(ix->format, &file_backend);
	if (!s)
		return open_failed(ix, -ENOMEM, err, errlen, path, "%s: cannot open: %s");
	s->data = ix->map;
	s->bytes_total = ix->stream_fd < 0 ? ix->avail : 0;
	ix->s = s;
	int rc = pthread_create(&ix->thread, NULL, index_main, ix);
	if (rc != 0) {
		s->backend = NULL;
		rc_store_close(s);
		return open_failed(ix, -rc, err, errlen, path, "%s: cannot start indexing: %s");
	}
	s->backend_state = ix;
	*out = s;
	return 0;
}

int rc_store_wait(struct rc_store *s, uint32_t timeout_ms)
{
	pthread_mutex_lock(&s->lock);
	if (s->backend == &file_backend && !atomic_load(&s->done)) {
		struct file_index *ix = s->backend_state;
		struct timespec deadline;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L)
			deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
		while (!atomic_load(&s->done) &&
		       pthread_cond_timedwait(&ix->done_cond, &s->lock, &deadline) != ETIMEDOUT)
			;
	}
	int done = atomic_load(&s->done);
	pthread_mutex_unlock(&s->lock);
	return done;
}

int64_t store_comment_locked(struct rc_store *s, const struct rc_store_entry *e, char *buf, uint64_t cap)
{
	/* the block is read again: check its framing against the mapping once more */
	if (s->backend != &file_backend || !(e->flags & RC_STORED_COMMENT) || e->data_offset < e->block_back ||
	    e->data_offset > s->data_size || s->data_size - e->data_offset < (uint64_t)pad4(e->caplen) + 4)
		return 0;
	const uint8_t *block = s->data + e->data_offset - e->block_back;
	uint64_t block_at = e->data_offset - e->block_back;
	/* a packet block's type says its section's byte order */
	bool swap = rd32_native(block) != PCAPNG_EPB && rd32_native(block) != PCAPNG_PB;
	uint32_t total = rd32(swap, block + 4);
	uint64_t options_at = e->block_back + (uint64_t)pad4(e->caplen);
	if (total > s->data_size - block_at || options_at + 4 > total)
		return 0;
	struct options o = { block + options_at, block + total - 4 };
	return (int64_t)packet_comments(swap, o, buf, cap);
}

int64_t rc_store_comment(struct rc_store *s, uint64_t number, char *buf, uint64_t cap)
{
	int64_t length = -ENOENT;
	pthread_mutex_lock(&s->lock);
	if (number >= s->first && number < s->count)
		length = store_comment_locked(s, store_entry(s, number), buf, cap);
	pthread_mutex_unlock(&s->lock);
	return length;
}
