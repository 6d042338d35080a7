/* store_save.c — a store's packets (all, or a selection's) written to a
 * capture file by the writer (exclusive temp file, renamed into place once
 * complete, removed on an error), in chunks copied out under the store's
 * lock so appending drains wait for one chunk at most. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Packet bytes copied out per lock hold (a larger packet gets a chunk of its own). */
#define SAVE_CHUNK_BYTES (1u << 20)
#define SAVE_CHUNK_PACKETS 1024u

/* A pcapng option holds at most this much of a packet's comments. */
#define COMMENT_MAX 65535u

/* A chunk: records as the writer takes them (a slot header, then the
 * packet, then its comment if kept), 16-byte aligned in buf, with the
 * store's interface of each. */
struct chunk {
	uint8_t *buf;
	size_t cap;
	int keep_comments; /* pcapng */
	const struct rc_slot_hdr *slots[SAVE_CHUNK_PACKETS];
	uint16_t interface[SAVE_CHUNK_PACKETS];
	uint16_t comment_len[SAVE_CHUNK_PACKETS]; /* 0: none */
	uint32_t n;
};

static size_t record_size(uint32_t caplen)
{
	return (sizeof(struct rc_slot_hdr) + caplen + 15) & ~(size_t)15;
}

/* The packets to save: every one held when the save began, or a selection's. */
struct source {
	struct rc_selection *sel; /* NULL: packets next .. end-1 */
	uint64_t next;            /* the next packet number, or position in sel */
	uint64_t end;
	uint64_t done;            /* packets taken so far */
	uint64_t total;           /* packets asked for */
};

/* The next packet number to save that is still held (store lock held);
 * 0 when there is none left. */
static int source_next(struct rc_store *s, struct source *src, uint64_t *number)
{
	if (!src->sel) {
		if (src->next < s->first)
			src->next = s->first; /* evicted since the save began */
		*number = src->next;
		return src->next < src->end && src->next < s->count;
	}
	/* a number evicted since, or never stored, is left out */
	while (rc_selection_numbers(src->sel, src->next, number, 1) == 1) {
		if (*number >= s->first && *number < s->count)
			return 1;
		src->next++;
	}
	return 0;
}

/* Copy the next packets of src into the chunk.  0, or a negative errno. */
static int copy_chunk(struct rc_store *s, struct source *src, struct chunk *c)
{
	int rc = 0;
	size_t used = 0;
	uint64_t number;
	c->n = 0;
	pthread_mutex_lock(&s->lock);
	for (; c->n < SAVE_CHUNK_PACKETS && source_next(s, src, &number); src->next++) {
		const struct rc_store_entry *e = store_entry(s, number);
		int64_t comment_len = c->keep_comments ? store_comment_locked(s, e, NULL, 0) : 0;
		if (comment_len > COMMENT_MAX)
			comment_len = COMMENT_MAX; /* cut: one option's most */
		size_t size = record_size(e->caplen) + (((size_t)comment_len + 15) & ~(size_t)15);
		if (used + size > c->cap) {
			if (c->n)
				break; /* the next chunk */
			uint8_t *grown = realloc(c->buf, size);
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			c->buf = grown;
			c->cap = size;
		}
		struct rc_slot_hdr *slot = (struct rc_slot_hdr *)(c->buf + used);
		int64_t got = store_read_locked(s, e, (uint8_t *)(slot + 1), e->caplen);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		/* A packet without a time (RC_STORED_NO_TIME, read from a pcapng
		 * simple packet block) is written as any other, time 0: an EPB in
		 * pcapng, not an SPB, which could only stand for interface 0, a
		 * captured length of min(wire length, snap length) and no comment;
		 * tcpdump and tshark read time 0 as 1970-01-01. */
		*slot = (struct rc_slot_hdr){
			.caplen = e->caplen,
			.wirelen = e->wirelen,
			.ts_ns = (uint64_t)e->ts_ns,
			.flags = (e->flags & RC_STORED_OUTGOING ? RC_SLOT_OUTGOING : 0) |
				 (e->flags & RC_STORED_TRUNCATED ? RC_SLOT_TRUNCATED : 0),
			.slots = 1,
		};
		if (comment_len > 0)
			store_comment_locked(s, e, (char *)c->buf + used + record_size(e->caplen), (uint64_t)comment_len);
		c->slots[c->n] = slot;
		c->interface[c->n] = e->interface;
		c->comment_len[c->n] = (uint16_t)comment_len;
		c->n++;
		used += size;
	}
	pthread_mutex_unlock(&s->lock);
	src->done += c->n;
	return rc;
}

/* The chunk to the writer, one call per run of one interface's packets
 * without comments, one per packet with its comment. */
static int write_chunk(struct rc_writer *w, const struct chunk *c)
{
	for (uint32_t i = 0, j; i < c->n; i = j) {
		int rc;
		if (c->comment_len[i]) {
			const char *comment = (const char *)c->slots[i] + record_size(c->slots[i]->caplen);
			rc = writer_write_commented(w, c->interface[i], c->slots[i], comment, c->comment_len[i]);
			j = i + 1;
		} else {
			for (j = i + 1; j < c->n && c->interface[j] == c->interface[i] && !c->comment_len[j]; j++)
				;
			rc = rc_writer_write(w, c->interface[i], &c->slots[i], j - i);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int add_interfaces(struct rc_store *s, struct rc_writer *w, char *errbuf, size_t errlen)
{
	for (uint32_t i = 0;; i++) {
		struct rc_store_interface_info info;
		if (rc_store_interface(s, i, &info) != 0)
			return 0;
		int id = rc_writer_add_interface(w, info.name, info.linktype, info.snaplen);
		if (id != (int)i) {
			rc_err(errbuf, errlen, "interface %s cannot be written to this file%s", info.name,
			       id == -EINVAL ? ": a pcap file holds one link type, pcapng mixes them" : "");
			return id < 0 ? id : -EINVAL;
		}
	}
}

int rc_store_save(struct rc_store *s, const char *path, int32_t format, uint32_t flags,
		  struct rc_selection *sel, rc_progress_fn progress, void *ctx,
		  uint64_t *packets, uint64_t *bytes, char *errbuf, size_t errlen)
{
	struct rc_writer *w;
	int rc = rc_writer_open(path, format, &w, errbuf, errlen);
	if (rc)
		return rc;
	writer_set_export(w, !(flags & RC_SAVE_KEEP_PARTIAL));
	struct source src = { .sel = sel };
	pthread_mutex_lock(&s->lock);
	src.next = sel ? 0 : s->first;
	src.end = s->count;
	src.total = sel ? 0 : s->count - s->first;
	pthread_mutex_unlock(&s->lock);
	if (sel)
		src.total = rc_selection_count(sel);
	struct rc_writer_totals *kept = malloc(sizeof(*kept));
	struct chunk *c = calloc(1, sizeof(*c));
	if (c) {
		c->buf = malloc(c->cap = SAVE_CHUNK_BYTES);
		c->keep_comments = format == RC_FORMAT_PCAPNG;
	}
	if (!kept || !c || !c->buf) {
		rc = -ENOMEM;
		rc_err(errbuf, errlen, "out of memory");
	} else {
		rc = add_interfaces(s, w, errbuf, errlen);
	}
	int write_failed = 0;
	while (rc == 0) {
		rc = copy_chunk(s, &src, c);
		if (rc)
			rc_err(errbuf, errlen, "%s: reading the stored packets failed: %s", path,
			       strerror(-rc));
		else if (c->n == 0)
			break;
		else if ((rc = write_chunk(w, c)) != 0)
			write_failed = 1;
		else if (progress && progress(ctx, src.done, src.total)) {
			rc = -ECANCELED;
			rc_err(errbuf, errlen, "%s: export cancelled, no file written", path);
		}
	}
	if (c)
		free(c->buf);
	free(c);
	if (write_failed && rc_writer_error(w, errbuf, errlen) == 0) {
		/* refused without a write error: not expected of a store's packets */
		rc_err(errbuf, errlen, "%s: the writer refused a stored packet: %s", path, strerror(-rc));
		write_failed = 0;
	}
	if (rc && !write_failed) {
		rc_writer_abort(w);
		free(kept);
		return rc;
	}
	/* a write error (a full disk): close removes the file (or keeps the
	 * whole packets written), and says why */
	rc = rc_writer_close(w, kept, errbuf, errlen);
	if (packets)
		*packets = rc ? 0 : kept->packets;
	if (bytes)
		*bytes = rc ? 0 : kept->bytes;
	free(kept);
	return rc;
}
