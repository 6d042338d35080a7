/* store_save.c — a store's packets written to a capture file by the writer
 * (exclusive temp file, renamed into place once complete), in chunks copied
 * out under the store's lock so appending drains wait for one chunk at most. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Packet bytes copied out per lock hold (a larger packet gets a chunk of its own). */
#define SAVE_CHUNK_BYTES (1u << 20)
#define SAVE_CHUNK_PACKETS 1024u

/* A chunk: records as the writer takes them (a slot header, then the
 * packet), 16-byte aligned in buf, with the store's interface of each. */
struct chunk {
	uint8_t *buf;
	size_t cap;
	const struct rc_slot_hdr *slots[SAVE_CHUNK_PACKETS];
	uint16_t interface[SAVE_CHUNK_PACKETS];
	uint32_t n;
};

static size_t record_size(uint32_t caplen)
{
	return (sizeof(struct rc_slot_hdr) + caplen + 15) & ~(size_t)15;
}

/* Copy the packets from *next on (the oldest held, if *next was evicted)
 * into the chunk; moves *next past them.  0, or a negative errno. */
static int copy_chunk(struct rc_store *s, uint64_t *next, struct chunk *c)
{
	int rc = 0;
	size_t used = 0;
	c->n = 0;
	pthread_mutex_lock(&s->lock);
	if (*next < s->first)
		*next = s->first;
	for (; *next < s->count && c->n < SAVE_CHUNK_PACKETS; ++*next) {
		const struct rc_store_entry *e = &s->entries[*next & (s->capacity - 1)];
		size_t size = record_size(e->caplen);
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
		*slot = (struct rc_slot_hdr){
			.caplen = e->caplen,
			.wirelen = e->wirelen,
			.ts_ns = (uint64_t)e->ts_ns,
			.flags = (e->flags & RC_STORED_OUTGOING ? RC_SLOT_OUTGOING : 0) |
				 (e->flags & RC_STORED_TRUNCATED ? RC_SLOT_TRUNCATED : 0),
			.slots = 1,
		};
		c->slots[c->n] = slot;
		c->interface[c->n] = e->interface;
		c->n++;
		used += size;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The chunk to the writer, one call per run of one interface's packets. */
static int write_chunk(struct rc_writer *w, const struct chunk *c)
{
	for (uint32_t i = 0, j; i < c->n; i = j) {
		for (j = i + 1; j < c->n && c->interface[j] == c->interface[i]; j++)
			;
		int rc = rc_writer_write(w, c->interface[i], &c->slots[i], j - i);
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

/* A write error (a full disk) closes the file as the writer does: cut back
 * to the last whole packet, renamed into place, the error returned; any
 * other error removes it. */
int rc_store_save(struct rc_store *s, const char *path, int32_t format, uint64_t *saved,
		  char *errbuf, size_t errlen)
{
	struct rc_writer *w;
	int rc = rc_writer_open(path, format, &w, errbuf, errlen);
	if (rc)
		return rc;
	struct rc_writer_totals *kept = malloc(sizeof(*kept));
	struct chunk *c = calloc(1, sizeof(*c));
	if (c)
		c->buf = malloc(c->cap = SAVE_CHUNK_BYTES);
	if (!kept || !c || !c->buf) {
		rc = -ENOMEM;
		rc_err(errbuf, errlen, "out of memory");
	} else {
		rc = add_interfaces(s, w, errbuf, errlen);
	}
	uint64_t next = 0;
	int write_failed = 0;
	while (rc == 0) {
		rc = copy_chunk(s, &next, c);
		if (rc)
			rc_err(errbuf, errlen, "%s: reading the stored packets failed: %s", path,
			       strerror(-rc));
		else if (c->n == 0)
			break;
		else
			write_failed = (rc = write_chunk(w, c)) != 0;
	}
	if (c)
		free(c->buf);
	free(c);
	if (rc && !write_failed) {
		rc_writer_abort(w);
		free(kept);
		return rc;
	}
	rc = rc_writer_close(w, kept, errbuf, errlen);
	if (rc == 0 && write_failed) {
		rc = -EIO; /* refused without a write error: not expected of a store's packets */
		rc_err(errbuf, errlen, "%s: the writer refused a stored packet", path);
	}
	if (saved)
		*saved = kept->packets;
	free(kept);
	return rc;
}
