/* writer.c — pcap and pcapng files written in batches, atomically and durably
 * (an exclusive temp file, fsync'ed and renamed into place), cut back to the
 * last whole packet on a write error; the batches of several interfaces are
 * merged in time order; rotated at a packet boundary by size or time (as
 * tcpdump's -C, -G, -W), each file complete under its name. */
#define _GNU_SOURCE
#include "ring_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BUFFER_BYTES (1u << 20)
/* The smallest unit appended (a pcap record header) bounds how many unit
 * boundaries one buffer can hold. */
#define MIN_UNIT_BYTES 16u
#define WRITE_PREFETCH_AHEAD 8
/* unit_ends entries: the end offset (<= 2^20) in the low 21 bits; packet
 * records have UNIT_IS_PACKET and their interface id above the offset, so a
 * cut takes each lost packet off its interface's count */
#define UNIT_END_MASK 0x001fffffu
#define UNIT_IFID_SHIFT 21
#define UNIT_IS_PACKET 0x80000000u

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_BYTE_ORDER 0x1a2b3c4du
#define PCAPNG_OPT_COMMENT 1
#define PCAPNG_OPT_IF_NAME 2
#define PCAPNG_OPT_IF_TSRESOL 9

/* Capture files hold other people's traffic: readable by their owner only,
 * as dumpcap makes them. */
#define NEW_FILE_MODE 0600
/* A FIFO's reader is often started after the writer (`wireshark -k -i
 * FIFO`): wait this long for one, then give up rather than hang. */
#define FIFO_READER_WAIT_MS 10000
#define FIFO_READER_POLL_MS 50
/* Several interfaces: each one's packets wait in a queue of at most this
 * many bytes (allocated with its first packet) ... */
#define MERGE_QUEUE_BYTES (4u << 20)
/* ... and leave oldest first, once every interface has one queued or the
 * oldest has waited this long: a packet of another interface stamped before
 * it has reached the writer by then (the kernel hands a block over within its
 * 20 ms timeout, a drain takes it within its wait).  A full queue lets its
 * oldest out at once. */
#define MERGE_HOLD_NS 100000000ull

/* A packet waiting in a merge queue: its slot header and data, copied. */
struct queued_packet {
	uint64_t queued_ns; /* rc_coarse_ns when it reached the writer */
	uint64_t reserved;  /* keeps slot and its data 16-byte aligned */
	struct rc_slot_hdr slot;
};

struct merge_queue {
	uint8_t *buf;        /* MERGE_QUEUE_BYTES */
	uint32_t start, end; /* the packets queued: [start, end) */
};

/* What a new file repeats of the first: the interface blocks (pcapng) or
 * the file header (pcap, the first interface's). */
struct interface_desc {
	char name[256];
	uint32_t linktype, snaplen;
};

struct rc_writer {
	pthread_mutex_t lock;
	int32_t format;
	int fd;
	int stream;           /* stdout, a device or FIFO: no temp file, no rename */
	int flush_each_batch; /* stdout or -U: a reader on a pipe wants packets now */
	int in_order;         /* writer_set_export: never merged by time */
	int whole_or_nothing; /* writer_set_export: an error removes the file */
	char *path;
	char *tmp_path;
	uint8_t *buf;
	uint32_t buf_used;
	/* ends of the whole units (headers, blocks, records) in buf, so a
	 * partial write can be cut back to the last whole one */
	uint32_t *unit_ends;
	uint32_t unit_count;
	uint64_t file_bytes; /* whole units on disk */
	uint64_t packets;
	uint64_t interface_packets[RC_WRITER_MAX_INTERFACES];
	uint64_t bytes;  /* file size including what is buffered */
	int interfaces;
	uint32_t pcap_linktype;
	struct merge_queue queues[RC_WRITER_MAX_INTERFACES];
	int error; /* first write error, negative errno */
	char error_msg[RC_ERRBUF_SIZE];
	/* rotation (rotation.file_bytes_max or .seconds not 0) */
	struct rc_rotation rotation;
	char *pattern;           /* the name given: strftime'd with -G, numbered with -C */
	uint32_t name_digits;    /* -C with -W: FILE0 .. FILE<W-1>, zero-padded, as tcpdump */
	uint32_t size_index;     /* -C: files begun in this -G period (the name's number) */
	uint64_t period_start_ns; /* -G: the current file's period began (wall clock) */
	uint64_t file_packets;   /* in the current file, buffered ones included */
	uint64_t file_interface_packets[RC_WRITER_MAX_INTERFACES];
	char **kept_names;       /* -W: the newest files' names, oldest at kept_first */
	uint32_t kept_count, kept_first;
	struct rc_writer_files files;
	struct interface_desc *descs; /* RC_WRITER_MAX_INTERFACES, when rotating */
};

static void set_error(struct rc_writer *w, int err, const char *what)
{
	if (w->error)
		return;
	w->error = -err;
	if (err == ENOSPC && w->whole_or_nothing)
		rc_err(w->error_msg, sizeof(w->error_msg),
		       "%s: the disk is full: no file written", w->path);
	else if (err == ENOSPC)
		rc_err(w->error_msg, sizeof(w->error_msg),
		       "%s: the disk is full; the file keeps the %llu packets written before",
		       w->path, (unsigned long long)w->packets);
	else if (err == EPIPE)
		rc_err(w->error_msg, sizeof(w->error_msg),
		       "%s: the reader went away after %llu packets", w->path,
		       (unsigned long long)w->packets);
	else
		rc_err(w->error_msg, sizeof(w->error_msg), "%s: %s failed: %s",
		       w->path, what, strerror(err));
}

/* Write the buffer out.  On a short write, cut the file back to the last
 * whole unit so that what is on disk stays a valid capture. */
static int flush_locked(struct rc_writer *w)
{
	uint32_t done = 0;
	while (done < w->buf_used) {
		ssize_t n = write(w->fd, w->buf + done, w->buf_used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : ENOSPC;
			uint32_t whole = 0;
			for (uint32_t i = 0; i < w->unit_count; i++) {
				uint32_t unit = w->unit_ends[i];
				uint32_t end = unit & UNIT_END_MASK;
				if (end <= done) {
					whole = end;
				} else if (unit & UNIT_IS_PACKET) { /* lost with its unit */
					uint32_t ifid = (unit & ~UNIT_IS_PACKET) >> UNIT_IFID_SHIFT;
					w->packets--;
					w->interface_packets[ifid]--;
					w->file_packets--;
					w->file_interface_packets[ifid]--;
				}
			}
			if (!w->stream && ftruncate(w->fd, (off_t)(w->file_bytes + whole)) != 0) {
				/* keep the first error: it is the one the user must see */
			}
			w->file_bytes += whole;
			w->bytes -= w->buf_used - whole; /* packets queued to merge stay counted */
			w->buf_used = 0;
			w->unit_count = 0;
			set_error(w, err, "writing");
			return -err;
		}
		done += (uint32_t)n;
	}
	w->file_bytes += w->buf_used;
	w->buf_used = 0;
	w->unit_count = 0;
	return 0;
}

/* Room for len more bytes as one unit; flushes when needed. */
static int reserve_locked(struct rc_writer *w, uint32_t len)
{
	if (w->error)
		return w->error;
	if (len > WRITE_BUFFER_BYTES)
		return -EMSGSIZE;
	if (w->buf_used + len > WRITE_BUFFER_BYTES ||
	    w->unit_count == WRITE_BUFFER_BYTES / MIN_UNIT_BYTES)
		return flush_locked(w);
	return 0;
}

/* packet_mark: 0 for headers and blocks, packet_unit(ifid) for a packet */
static void end_unit_locked(struct rc_writer *w, uint32_t packet_mark)
{
	w->unit_ends[w->unit_count++] = w->buf_used | packet_mark;
}

static uint32_t packet_unit(int32_t ifid)
{
	return UNIT_IS_PACKET | (uint32_t)ifid << UNIT_IFID_SHIFT;
}

static void put(struct rc_writer *w, const void *data, uint32_t len)
{
	memcpy(w->buf + w->buf_used, data, len);
	w->buf_used += len;
	w->bytes += len;
}

static void put_u32(struct rc_writer *w, uint32_t v)
{
	put(w, &v, 4);
}

static void put_pad(struct rc_writer *w, uint32_t len)
{
	static const uint8_t zeros[4];
	put(w, zeros, (4 - (len & 3)) & 3);
}

static uint32_t pad4(uint32_t len)
{
	return (len + 3) & ~3u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec pause = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&pause, NULL);
}

/* A plain open of a FIFO blocks until a reader comes, forever if none does:
 * open without blocking and wait a bounded time for the reader instead.
 * Returns the fd, blocking again (a slow reader slows the writes, as with
 * tcpdump), or a negative errno: -ENXIO when no reader came. */
static int open_fifo(const char *path)
{
	for (unsigned waited_ms = 0;; waited_ms += FIFO_READER_POLL_MS) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			int flags = fcntl(fd, F_GETFL);
			if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
				return fd;
			int err = errno;
			close(fd);
			return -err;
		}
		if (errno != ENXIO || waited_ms >= FIFO_READER_WAIT_MS)
			return -errno;
		sleep_ms(FIFO_READER_POLL_MS);
	}
}

/* Standard output ("-"), a device or a FIFO: written in place, as a stream;
 * renaming a temp file over them would replace the device.  st is NULL for
 * standard output. */
static int open_stream(struct rc_writer *w, const char *path, const struct stat *st,
		       char *errbuf, size_t errlen)
{
	w->stream = 1;
	int fd = STDOUT_FILENO;
	if (st == NULL)
		w->flush_each_batch = 1; /* a reader on a pipe wants packets now */
	else if (S_ISFIFO(st->st_mode))
		fd = open_fifo(path);
	else if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		fd = -errno;
	if (fd == -ENXIO) {
		rc_err(errbuf, errlen, "%s: no reader on the FIFO after %d s (start the reader, "
		       "e.g. tshark -r %s, before or within %d s)", path, FIFO_READER_WAIT_MS / 1000,
		       path, FIFO_READER_WAIT_MS / 1000);
		return fd;
	}
	if (fd < 0) {
		rc_err(errbuf, errlen, "%s: cannot open for writing: %s", path, strerror(-fd));
		return fd;
	}
	w->fd = fd;
	if (isatty(fd)) {
		rc_err(errbuf, errlen, "%s is a terminal: packet bytes would garble it; write to a "
		       "file or a pipe (-w - | tshark -r -)", st ? path : "standard output");
		return -ENOTTY;
	}
	return 0;
}

/* A regular file: written as a temp file with an unpredictable name beside
 * it, created exclusively (a name that exists, a planted symlink included, is
 * never opened), then renamed over it on close.  mode: an existing file's
 * permissions are kept, a new one's are NEW_FILE_MODE. */
static int open_temp(struct rc_writer *w, const char *path, mode_t mode,
		     char *errbuf, size_t errlen)
{
	if (asprintf(&w->tmp_path, "%s.tmp-XXXXXX", path) < 0) {
		w->tmp_path = NULL;
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	int fd = mkostemp(w->tmp_path, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int err = errno;
		rc_err(errbuf, errlen, "%s: cannot create the file: %s", path, strerror(err));
		return -err;
	}
	w->fd = fd;
	/* exact, whatever the umask: a replaced file keeps who may read it */
	if (fchmod(fd, mode) != 0) {
		int err = errno;
		rc_err(errbuf, errlen, "%s: cannot set the file's mode: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

static void put_section_header(struct rc_writer *w)
{
	if (w->format != RC_FORMAT_PCAPNG)
		return; /* pcap's header comes with the first interface */
	/* Section header: no options, section length unknown (-1). */
	put_u32(w, PCAPNG_SHB);
	put_u32(w, 28);
	put_u32(w, PCAPNG_BYTE_ORDER);
	uint16_t version[2] = { 1, 0 };
	put(w, version, 4);
	uint64_t section_len = UINT64_MAX;
	put(w, &section_len, 8);
	put_u32(w, 28);
	end_unit_locked(w, 0);
}

/* Open path (a new name, or one to replace) and begin it with its section
 * header.  rotating: a stream is refused, rotation makes files. */
static int open_path(struct rc_writer *w, const char *path, int rotating,
		     char *errbuf, size_t errlen)
{
	struct stat st;
	int rc;
	if (rotating && (strcmp(path, "-") == 0 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode)))) {
		rc_err(errbuf, errlen, "%s: rotation (-C, -G) writes regular files: not standard output, "
		       "a FIFO, a device or a directory", path);
		return -EINVAL;
	}
	if (strcmp(path, "-") == 0)
		rc = open_stream(w, path, NULL, errbuf, errlen);
	else if (stat(path, &st) != 0)
		rc = open_temp(w, path, NEW_FILE_MODE, errbuf, errlen);
	else if (S_ISREG(st.st_mode))
		rc = open_temp(w, path, st.st_mode & 0777, errbuf, errlen);
	else
		rc = open_stream(w, path, &st, errbuf, errlen);
	if (rc == 0)
		put_section_header(w);
	return rc;
}

static int rotating(const struct rc_writer *w)
{
	return w->rotation.file_bytes_max || w->rotation.seconds;
}

static uint64_t realtime_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* The current file's name, as tcpdump makes it: the pattern through
 * strftime at the period's start (-G, local time), then with -C the file's
 * number in the period (none for the first without -W). */
static char *rotated_name(const struct rc_writer *w)
{
	char base[PATH_MAX];
	if (w->rotation.seconds) {
		time_t start_s = (time_t)(w->period_start_ns / 1000000000ull);
		struct tm local;
		if (!localtime_r(&start_s, &local) ||
		    strftime(base, sizeof(base), w->pattern, &local) == 0)
			return NULL;
	} else if ((size_t)snprintf(base, sizeof(base), "%s", w->pattern) >= sizeof(base)) {
		return NULL;
	}
	char *name;
	if (w->rotation.file_bytes_max && (w->size_index || w->name_digits))
		return asprintf(&name, "%s%0*u", base, (int)w->name_digits, w->size_index) < 0 ? NULL : name;
	return strdup(base);
}

/* tcpdump's width of the file number with -W: the digits of COUNT - 1. */
static uint32_t digits_below(uint32_t count)
{
	uint32_t digits = 0;
	for (uint32_t x = count ? count - 1 : 0; x > 0; x /= 10)
		digits++;
	return digits;
}

int rc_writer_open_rotating(const char *path, int32_t format, const struct rc_rotation *rotation,
			    struct rc_writer **out, char *errbuf, size_t errlen)
{
	if (format < RC_FORMAT_PCAP_US || format > RC_FORMAT_PCAPNG) {
		rc_err(errbuf, errlen, "unknown file format %d", format);
		return -EINVAL;
	}
	if (rotation && rotation->files_max && !rotation->file_bytes_max && !rotation->seconds) {
		rc_err(errbuf, errlen, "a count of files to keep needs rotation by size or time");
		return -EINVAL;
	}
	struct rc_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->format = format;
	w->fd = -1;
	if (rotation)
		w->rotation = *rotation;
	w->buf = malloc(WRITE_BUFFER_BYTES);
	w->unit_ends = malloc(sizeof(uint32_t) * (WRITE_BUFFER_BYTES / MIN_UNIT_BYTES));
	int ok = w->buf && w->unit_ends;
	if (rotating(w)) {
		w->pattern = strdup(path);
		w->descs = calloc(RC_WRITER_MAX_INTERFACES, sizeof(*w->descs));
		if (w->rotation.files_max)
			w->kept_names = calloc(w->rotation.files_max, sizeof(char *));
		ok = ok && w->pattern && w->descs && (w->kept_names || !w->rotation.files_max);
		if (w->rotation.file_bytes_max && w->rotation.files_max)
			w->name_digits = digits_below(w->rotation.files_max);
		w->period_start_ns = realtime_ns();
		if (ok && !(w->path = rotated_name(w))) {
			rc_err(errbuf, errlen, "%s: the file name is too long", path);
			rc_writer_abort(w);
			return -ENAMETOOLONG;
		}
	} else {
		w->path = strdup(path);
	}
	if (!ok || !w->path) {
		rc_err(errbuf, errlen, "out of memory");
		rc_writer_abort(w);
		return -ENOMEM;
	}
	int rc = open_path(w, w->path, rotating(w), errbuf, errlen);
	if (rc) {
		rc_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

int rc_writer_open(const char *path, int32_t format, struct rc_writer **out,
		   char *errbuf, size_t errlen)
{
	return rc_writer_open_rotating(path, format, NULL, out, errbuf, errlen);
}

/* The pcap file header (for the first interface) or an interface block;
 * the room for it is reserved. */
static void put_interface(struct rc_writer *w, const char *name, uint32_t linktype,
			  uint32_t snaplen)
{
	if (w->format != RC_FORMAT_PCAPNG) {
		put_u32(w, w->format == RC_FORMAT_PCAP_NS ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
		uint16_t version[2] = { 2, 4 };
		put(w, version, 4);
		put_u32(w, 0); /* thiszone */
		put_u32(w, 0); /* sigfigs */
		put_u32(w, snaplen);
		put_u32(w, linktype);
		end_unit_locked(w, 0);
		return;
	}
	uint32_t name_len = (uint32_t)strnlen(name, 255);
	/* IDB: header 16 + if_name + if_tsresol (4+4) + end of options 4 + 4 */
	uint32_t total = 16 + 4 + pad4(name_len) + 8 + 4 + 4;
	put_u32(w, PCAPNG_IDB);
	put_u32(w, total);
	uint16_t lt[2] = { (uint16_t)linktype, 0 };
	put(w, lt, 4);
	put_u32(w, snaplen);
	uint16_t opt_name[2] = { PCAPNG_OPT_IF_NAME, (uint16_t)name_len };
	put(w, opt_name, 4);
	put(w, name, name_len);
	put_pad(w, name_len);
	uint16_t opt_tsresol[2] = { PCAPNG_OPT_IF_TSRESOL, 1 };
	put(w, opt_tsresol, 4);
	uint8_t tsresol[4] = { 9, 0, 0, 0 }; /* 10^-9 s */
	put(w, tsresol, 4);
	put_u32(w, 0); /* opt_endofopt */
	put_u32(w, total);
	end_unit_locked(w, 0);
}

static uint32_t interface_bytes(const struct rc_writer *w, const char *name)
{
	return w->format == RC_FORMAT_PCAPNG ? 16 + 4 + pad4((uint32_t)strnlen(name, 255)) + 16 : 24;
}

int rc_writer_add_interface(struct rc_writer *w, const char *name,
			    uint32_t linktype, uint32_t snaplen)
{
	pthread_mutex_lock(&w->lock);
	int rc = 0;
	int pcap = w->format != RC_FORMAT_PCAPNG;
	if (pcap && w->interfaces > 0 && linktype != w->pcap_linktype)
		rc = -EINVAL; /* one link type per pcap file: pcapng can mix */
	else if (w->interfaces >= RC_WRITER_MAX_INTERFACES)
		rc = -EMFILE;
	else if (!pcap || w->interfaces == 0) {
		rc = reserve_locked(w, interface_bytes(w, name));
		if (rc == 0)
			put_interface(w, name, linktype, snaplen);
	}
	if (rc == 0) {
		if (w->descs) {
			struct interface_desc *desc = &w->descs[w->interfaces];
			snprintf(desc->name, sizeof(desc->name), "%s", name);
			desc->linktype = linktype;
			desc->snaplen = snaplen;
		}
		w->pcap_linktype = w->interfaces ? w->pcap_linktype : linktype;
		rc = w->interfaces++;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Bytes a packet takes in the file: an enhanced packet block or a record. */
static uint32_t record_bytes(const struct rc_writer *w, uint32_t caplen)
{
	return w->format == RC_FORMAT_PCAPNG ? 28 + pad4(caplen) + 4 : 16 + caplen;
}

static int rotate_if_due_locked(struct rc_writer *w, const struct rc_slot_hdr *slot,
				uint32_t record);

/* comment (pcapng only; NULL: none): an opt_comment of comment_len bytes. */
static int write_one_locked(struct rc_writer *w, int32_t ifid, const struct rc_slot_hdr *slot,
			    const char *comment, uint16_t comment_len)
{
	const uint8_t *data = (const uint8_t *)(slot + 1);
	uint32_t total = record_bytes(w, slot->caplen);
	if (comment)
		total += 4 + pad4(comment_len) + 4; /* the option, then opt_endofopt */
	int rc = rotating(w) ? rotate_if_due_locked(w, slot, total) : 0;
	if (rc == 0)
		rc = reserve_locked(w, total);
	if (rc)
		return rc;
	if (w->format == RC_FORMAT_PCAPNG) {
		put_u32(w, PCAPNG_EPB);
		put_u32(w, total);
		put_u32(w, (uint32_t)ifid);
		put_u32(w, (uint32_t)(slot->ts_ns >> 32));
		put_u32(w, (uint32_t)slot->ts_ns);
		put_u32(w, slot->caplen);
		put_u32(w, slot->wirelen);
		put(w, data, slot->caplen);
		put_pad(w, slot->caplen);
		if (comment) {
			uint16_t opt[2] = { PCAPNG_OPT_COMMENT, comment_len };
			put(w, opt, 4);
			put(w, comment, comment_len);
			put_pad(w, comment_len);
			put_u32(w, 0); /* opt_endofopt */
		}
		put_u32(w, total);
	} else {
		uint32_t frac = w->format == RC_FORMAT_PCAP_NS ?
					(uint32_t)(slot->ts_ns % 1000000000ull) :
					(uint32_t)(slot->ts_ns % 1000000000ull / 1000);
		put_u32(w, (uint32_t)(slot->ts_ns / 1000000000ull));
		put_u32(w, frac);
		put_u32(w, slot->caplen);
		put_u32(w, slot->wirelen);
		put(w, data, slot->caplen);
	}
	end_unit_locked(w, packet_unit(ifid));
	w->file_packets++;
	w->file_interface_packets[ifid]++;
	return 0;
}

/* A packet is counted once the writer has it, queued or written: a write
 * error takes the ones it loses off again. */
static void count_packet_locked(struct rc_writer *w, int32_t ifid, int64_t change)
{
	w->packets += (uint64_t)change;
	w->interface_packets[ifid] += (uint64_t)change;
}

/* A queued packet's bytes are counted as the file's (w->bytes) while it
 * waits; put() counts them again when it is written. */
static void count_queued_bytes_locked(struct rc_writer *w, const struct rc_slot_hdr *slot,
				      int64_t sign)
{
	w->bytes += (uint64_t)(sign * record_bytes(w, slot->caplen));
}

static uint32_t queued_size(const struct rc_slot_hdr *slot)
{
	return (uint32_t)(sizeof(struct queued_packet) + slot->caplen + 15) & ~15u;
}

static struct queued_packet *queue_head(struct merge_queue *q)
{
	return q->start == q->end ? NULL : (struct queued_packet *)(q->buf + q->start);
}

/* The interface whose first queued packet is the oldest, -1 when nothing
 * is queued; *some_empty says whether an interface has nothing queued. */
static int oldest_queue_locked(struct rc_writer *w, int *some_empty)
{
	int oldest = -1;
	uint64_t oldest_ts = 0;
	*some_empty = 0;
	for (int i = 0; i < w->interfaces; i++) {
		struct queued_packet *qp = queue_head(&w->queues[i]);
		if (!qp)
			*some_empty = 1;
		else if (oldest < 0 || qp->slot.ts_ns < oldest_ts) {
			oldest = i;
			oldest_ts = qp->slot.ts_ns;
		}
	}
	return oldest;
}

static int write_queue_head_locked(struct rc_writer *w, int ifid)
{
	struct merge_queue *q = &w->queues[ifid];
	struct queued_packet *qp = queue_head(q);
	count_queued_bytes_locked(w, &qp->slot, -1);
	int rc = write_one_locked(w, ifid, &qp->slot, NULL, 0);
	if (rc) {
		count_queued_bytes_locked(w, &qp->slot, 1); /* still queued */
		return rc;
	}
	q->start += queued_size(&qp->slot);
	if (q->start == q->end)
		q->start = q->end = 0;
	return 0;
}

/* Write the queued packets oldest first, as long as every interface has
 * one queued, or the oldest waited MERGE_HOLD_NS; everything when closing. */
static int merge_locked(struct rc_writer *w, int everything)
{
	uint64_t now = rc_coarse_ns();
	for (;;) {
		int some_empty;
		int oldest = oldest_queue_locked(w, &some_empty);
		if (oldest < 0)
			return 0;
		if (some_empty && !everything &&
		    now - queue_head(&w->queues[oldest])->queued_ns < MERGE_HOLD_NS)
			return 0;
		int rc = write_queue_head_locked(w, oldest);
		if (rc)
			return rc;
	}
}

/* Copy a packet into its interface's queue; a full queue first lets the
 * oldest packets out (the merge is then only as good as the queue is long). */
static int enqueue_locked(struct rc_writer *w, int32_t ifid,
			  const struct rc_slot_hdr *slot, uint64_t now)
{
	struct merge_queue *q = &w->queues[ifid];
	if (!q->buf && !(q->buf = malloc(MERGE_QUEUE_BYTES))) {
		int rc = write_one_locked(w, ifid, slot, NULL, 0); /* in order as it came */
		if (rc == 0)
			count_packet_locked(w, ifid, 1);
		return rc;
	}
	uint32_t size = queued_size(slot);
	while (q->end + size > MERGE_QUEUE_BYTES) {
		if (q->start >= MERGE_QUEUE_BYTES / 2) {
			/* moves at most half the queue, after at least half of
			 * it was written: one more copy per byte at worst */
			memmove(q->buf, q->buf + q->start, q->end - q->start);
			q->end -= q->start;
			q->start = 0;
			continue;
		}
		int some_empty;
		int rc = write_queue_head_locked(w, oldest_queue_locked(w, &some_empty));
		if (rc)
			return rc;
	}
	struct queued_packet *qp = (struct queued_packet *)(q->buf + q->end);
	qp->queued_ns = now;
	memcpy(&qp->slot, slot, sizeof(*slot) + slot->caplen);
	q->end += size;
	count_packet_locked(w, ifid, 1);
	count_queued_bytes_locked(w, slot, 1);
	return 0;
}

/* After a write error: what is still queued will never be written. */
static void drop_queued_locked(struct rc_writer *w)
{
	for (int i = 0; i < w->interfaces; i++) {
		struct merge_queue *q = &w->queues[i];
		for (struct queued_packet *qp; (qp = queue_head(q)); q->start += queued_size(&qp->slot)) {
			count_packet_locked(w, i, -1);
			count_queued_bytes_locked(w, &qp->slot, -1);
		}
		q->start = q->end = 0;
	}
}

int rc_writer_write(struct rc_writer *w, int32_t ifid,
		    const struct rc_slot_hdr *const *slots, uint32_t n)
{
	pthread_mutex_lock(&w->lock);
	int rc = w->error;
	if (ifid < 0 || ifid >= w->interfaces)
		rc = -EINVAL;
	/* one interface has its packets in order already: no queue, no copy */
	int merging = w->interfaces > 1 && !w->in_order;
	uint64_t now = merging ? rc_coarse_ns() : 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		/* slots lie a page apart, beyond what the hardware prefetcher
		 * guesses: ask for the ones a few packets ahead */
		if (i + WRITE_PREFETCH_AHEAD < n)
			__builtin_prefetch(slots[i + WRITE_PREFETCH_AHEAD]);
		/* refused before it is queued, so a merge never meets it (and
		 * before record_bytes() could wrap on a caplen near 2^32);
		 * no ring holds one: the snap length is far below the buffer */
		if (slots[i]->caplen > WRITE_BUFFER_BYTES ||
		    record_bytes(w, slots[i]->caplen) > WRITE_BUFFER_BYTES) {
			rc = -EMSGSIZE;
		} else if (merging) {
			rc = enqueue_locked(w, ifid, slots[i], now);
		} else if ((rc = write_one_locked(w, ifid, slots[i], NULL, 0)) == 0) {
			count_packet_locked(w, ifid, 1);
		}
	}
	if (rc == 0 && merging)
		rc = merge_locked(w, 0);
	if (rc == 0 && w->flush_each_batch)
		rc = flush_locked(w);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void rc_writer_set_packet_buffered(struct rc_writer *w, int on)
{
	pthread_mutex_lock(&w->lock);
	w->flush_each_batch = on || (w->stream && w->fd == STDOUT_FILENO);
	pthread_mutex_unlock(&w->lock);
}

int rc_writer_release_held(struct rc_writer *w)
{
	pthread_mutex_lock(&w->lock);
	int rc = w->error;
	if (rc == 0 && w->interfaces > 1) {
		uint32_t buffered = w->buf_used;
		rc = merge_locked(w, 0);
		if (rc == 0 && w->flush_each_batch && w->buf_used != buffered)
			rc = flush_locked(w);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

uint64_t rc_writer_packets(struct rc_writer *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t v = w->packets;
	pthread_mutex_unlock(&w->lock);
	return v;
}

uint64_t rc_writer_interface_packets(struct rc_writer *w, int32_t ifid)
{
	pthread_mutex_lock(&w->lock);
	uint64_t v = ifid >= 0 && ifid < w->interfaces ? w->interface_packets[ifid] : 0;
	pthread_mutex_unlock(&w->lock);
	return v;
}

uint64_t rc_writer_bytes(struct rc_writer *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t v = w->bytes;
	pthread_mutex_unlock(&w->lock);
	return v;
}

void rc_writer_files(struct rc_writer *w, struct rc_writer_files *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->files;
	pthread_mutex_unlock(&w->lock);
}

int rc_writer_chown(struct rc_writer *w, uint32_t uid, uint32_t gid)
{
	if (w->stream)
		return 0; /* not ours: stdout, a FIFO or a device keeps its owner */
	return fchown(w->fd, (uid_t)uid, (gid_t)gid) == 0 ? 0 : -errno;
}

int rc_writer_error(struct rc_writer *w, char *errbuf, size_t errlen)
{
	pthread_mutex_lock(&w->lock);
	int err = w->error;
	if (err)
		rc_err(errbuf, errlen, "%s", w->error_msg);
	pthread_mutex_unlock(&w->lock);
	return err;
}

static void free_writer(struct rc_writer *w)
{
	pthread_mutex_destroy(&w->lock);
	free(w->path);
	free(w->tmp_path);
	free(w->buf);
	free(w->unit_ends);
	free(w->pattern);
	free(w->descs);
	for (uint32_t i = 0; w->kept_names && i < w->rotation.files_max; i++)
		free(w->kept_names[i]);
	free(w->kept_names);
	for (int i = 0; i < RC_WRITER_MAX_INTERFACES; i++)
		free(w->queues[i].buf);
	free(w);
}

static int sync_directory_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = errno;
	free(copy);
	if (fd < 0)
		return -err;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* -W: the file just renamed into place joins the newest; the oldest beyond
 * the count is removed (unless the new one replaced it under its name). */
static void keep_newest_locked(struct rc_writer *w)
{
	uint32_t max = w->rotation.files_max;
	if (w->kept_count == max) {
		char *oldest = w->kept_names[w->kept_first];
		int still_kept = 0;
		for (uint32_t i = 1; i < max; i++)
			still_kept |= strcmp(w->kept_names[(w->kept_first + i) % max], oldest) == 0;
		if (strcmp(oldest, w->path) != 0 && !still_kept && unlink(oldest) != 0 && errno != ENOENT)
			set_error(w, errno, "removing the oldest file");
		w->files.removed++;
		free(oldest);
		w->kept_names[w->kept_first] = NULL;
		w->kept_first = (w->kept_first + 1) % max;
		w->kept_count--;
	}
	char *name = strdup(w->path);
	if (!name) {
		set_error(w, ENOMEM, "keeping the file's name");
		return;
	}
	w->kept_names[(w->kept_first + w->kept_count++) % max] = name;
}

/* The temp file, synced, renamed into place, and the rename synced in the
 * directory: once this returns the file is under its name, whole, and stays
 * there across a crash.  A file without even its header is removed. */
static void commit_file_locked(struct rc_writer *w)
{
	/* also after a write error: the whole packets kept must be durable too */
	if (fsync(w->fd) != 0)
		set_error(w, errno, "syncing");
	if (close(w->fd) != 0)
		set_error(w, errno, "closing");
	w->fd = -1;
	if (w->file_bytes == 0) {
		unlink(w->tmp_path);
		if (!w->error) {
			w->error = -ENODATA;
			rc_err(w->error_msg, sizeof(w->error_msg),
			       "%s: nothing was captured, no file written", w->path);
		}
		return;
	}
	if (rename(w->tmp_path, w->path) != 0) {
		int err = errno;
		unlink(w->tmp_path);
		w->packets -= w->file_packets; /* earlier rotated files keep theirs */
		for (int i = 0; i < RC_WRITER_MAX_INTERFACES; i++)
			w->interface_packets[i] -= w->file_interface_packets[i];
		w->file_bytes = 0;
		w->error = 0; /* this one decides the outcome: no file at all */
		set_error(w, err, "renaming into place");
		return;
	}
	w->files.written++;
	int rc = sync_directory_of(w->path);
	if (rc)
		set_error(w, -rc, "syncing its directory");
	if (w->kept_names)
		keep_newest_locked(w);
}

/* Time for a new file before a record of record bytes: -C when it would
 * take the file past the size (a file holds one packet at least), -G when
 * the packet's timestamp is past the period.  The current file is committed
 * whole and the next one begun with the same section and interfaces, at this
 * packet boundary: no packet is in two files or none. */
static int rotate_if_due_locked(struct rc_writer *w, const struct rc_slot_hdr *slot,
				uint32_t record)
{
	if (w->file_packets == 0)
		return 0;
	int by_time = w->rotation.seconds &&
		      slot->ts_ns >= w->period_start_ns + w->rotation.seconds * 1000000000ull;
	int by_size = w->rotation.file_bytes_max &&
		      w->file_bytes + w->buf_used + record > w->rotation.file_bytes_max;
	if (!by_time && !by_size)
		return 0;
	int rc = flush_locked(w);
	if (rc)
		return rc;
	commit_file_locked(w);
	if (w->error)
		return w->error;
	if (by_time) { /* a new period: its files numbered from 0 again */
		w->period_start_ns = slot->ts_ns;
		w->size_index = 0;
	} else {
		w->size_index++;
		if (w->rotation.files_max && w->size_index >= w->rotation.files_max)
			w->size_index = 0; /* tcpdump's ring: FILE0 replaced */
	}
	char *name = rotated_name(w);
	if (!name) {
		set_error(w, ENAMETOOLONG, "naming the next file");
		return w->error;
	}
	if (by_time && strcmp(name, w->path) == 0) {
		/* tcpdump would replace the period's file with the next: stop instead,
		 * the packets not written counted as such */
		free(name);
		w->error = -EEXIST;
		rc_err(w->error_msg, sizeof(w->error_msg),
		       "%s: the next period's file has the same name; give -w a pattern that changes "
		       "every %u s (e.g. %%Y%%m%%d-%%H%%M%%S)", w->path, w->rotation.seconds);
		return w->error;
	}
	free(w->path);
	free(w->tmp_path);
	w->path = name;
	w->tmp_path = NULL;
	w->bytes -= w->file_bytes; /* what waits to be merged stays counted */
	w->file_bytes = 0;
	w->file_packets = 0;
	memset(w->file_interface_packets, 0, sizeof(w->file_interface_packets));
	char errbuf[RC_ERRBUF_SIZE];
	rc = open_path(w, name, 1, errbuf, sizeof(errbuf));
	if (rc) {
		w->error = rc;
		rc_err(w->error_msg, sizeof(w->error_msg), "%s", errbuf);
		return rc;
	}
	int pcap = w->format != RC_FORMAT_PCAPNG;
	for (int i = 0; i < (pcap && w->interfaces ? 1 : w->interfaces); i++)
		put_interface(w, w->descs[i].name, w->descs[i].linktype, w->descs[i].snaplen);
	return 0;
}

int rc_writer_close(struct rc_writer *w, struct rc_writer_totals *kept,
		    char *errbuf, size_t errlen)
{
	pthread_mutex_lock(&w->lock);
	if (!w->error && merge_locked(w, 1) == 0)
		flush_locked(w);
	drop_queued_locked(w); /* left only by a write error */
	if (w->stream) {
		if (w->fd > STDERR_FILENO)
			close(w->fd);
		w->fd = -1;
	} else if (w->whole_or_nothing && w->error) {
		close(w->fd);
		w->fd = -1;
		unlink(w->tmp_path);
		w->packets = 0;
		memset(w->interface_packets, 0, sizeof(w->interface_packets));
		w->file_bytes = 0;
	} else if (w->fd >= 0) { /* not when the next rotated file could not be made */
		commit_file_locked(w);
	}
	/* a reader that stops reading ends the stream, as it ends tcpdump */
	int rc = w->stream && w->error == -EPIPE ? 0 : w->error;
	if (rc)
		rc_err(errbuf, errlen, "%s", w->error_msg);
	if (kept) {
		kept->packets = w->packets;
		kept->bytes = w->file_bytes;
		memcpy(kept->interface_packets, w->interface_packets, sizeof(kept->interface_packets));
		kept->files = w->files;
	}
	pthread_mutex_unlock(&w->lock);
	free_writer(w);
	return rc;
}

int writer_write_commented(struct rc_writer *w, int32_t ifid, const struct rc_slot_hdr *slot,
			   const char *comment, uint16_t comment_len)
{
	if (w->format != RC_FORMAT_PCAPNG)
		return rc_writer_write(w, ifid, &slot, 1); /* pcap has no room for it */
	pthread_mutex_lock(&w->lock);
	int rc = w->error;
	if (ifid < 0 || ifid >= w->interfaces || (w->interfaces > 1 && !w->in_order))
		rc = -EINVAL;
	else if (slot->caplen > WRITE_BUFFER_BYTES ||
		 record_bytes(w, slot->caplen) + 8 + pad4(comment_len) > WRITE_BUFFER_BYTES)
		rc = -EMSGSIZE;
	if (rc == 0 && (rc = write_one_locked(w, ifid, slot, comment, comment_len)) == 0)
		count_packet_locked(w, ifid, 1);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void writer_set_export(struct rc_writer *w, int whole_or_nothing)
{
	pthread_mutex_lock(&w->lock);
	w->in_order = 1;
	w->whole_or_nothing = whole_or_nothing;
	pthread_mutex_unlock(&w->lock);
}

void rc_writer_abort(struct rc_writer *w)
{
	if (!w)
		return;
	if (!w->stream && w->fd >= 0) {
		close(w->fd);
		unlink(w->tmp_path);
	} else if (w->stream && w->fd > STDERR_FILENO) {
		close(w->fd);
	}
	free_writer(w);
}
