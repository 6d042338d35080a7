/* store_internal.h — what the store's core (store.c) shares with its two
 * backends: the file indexer (store_file.c) and the live spool
 * (store_spool.c). */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "ring_internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* Each backend says how to stop and free what it owns (the core frees the
 * index and the interfaces after it), and may say how a packet's bytes are
 * read (lock held; NULL: copied from the mapping at data + data_offset). */
struct rc_store_backend {
	void (*close)(struct rc_store *s);
	int64_t (*read)(struct rc_store *s, const struct rc_store_entry *e, uint8_t *buf,
			uint64_t cap);
};

#define STORE_MAX_INTERFACES 65536u /* entry.interface is 16 bits */
#define EVICTED_CHUNK 256u

struct rc_store {
	pthread_mutex_t lock; /* guards everything below but the backend's own fields */
	/* The index is a ring of entries: packet n lives at
	 * entries[n % capacity] (store_entry) while first <= n < count.  A
	 * file's grows by doubling (store_reserve); a spool's is fixed, mapped
	 * once at its full size (store_fix_capacity: entries_mapped), its pages
	 * touched only as packets come. */
	struct rc_store_entry *entries;
	uint64_t capacity;
	int entries_mapped;
	uint64_t first;
	uint64_t count;
	uint64_t bytes_held; /* caplen of first .. count-1 */
	/* the mapping packet bytes are read from (unless the backend reads them):
	 * data_offset is relative to it */
	const uint8_t *data;
	uint64_t data_size;
	struct rc_store_interface_info *interfaces; /* .evicted unused: see below */
	/* each interface's evicted count, in blocks that never move, so a
	 * drain reads its own without the lock (store_interface_evicted);
	 * written under the lock */
	_Atomic uint64_t *evicted[STORE_MAX_INTERFACES / EVICTED_CHUNK];
	uint32_t interface_count;
	uint32_t interface_capacity;
	/* progress and the error indexing ended with (file) */
	int32_t format;
	_Atomic uint64_t bytes_done;
	uint64_t bytes_total;
	_Atomic int32_t done;
	int32_t error;
	uint64_t error_offset;
	char error_message[RC_STORE_MESSAGE_MAX];
	const struct rc_store_backend *backend;
	void *backend_state;
};

static inline struct rc_store_entry *store_entry(const struct rc_store *s, uint64_t n)
{
	return &s->entries[n % s->capacity];
}

/* A zeroed store with its lock, or NULL. */
struct rc_store *store_new(int32_t format, const struct rc_store_backend *backend);
/* Give the (empty) store an index of exactly capacity entries that never
 * grows: mapped at once, with no memory behind it until used; -ENOMEM. */
int store_fix_capacity(struct rc_store *s, uint64_t capacity);
/* Room for `more` entries beyond count, growing the index; caller holds the
 * lock; -ENOMEM when it cannot grow (or a fixed index is full). */
int store_reserve(struct rc_store *s, uint64_t more);
/* Append entries (room reserved, lock held); they become readable when the
 * caller unlocks. */
void store_append(struct rc_store *s, const struct rc_store_entry *e, uint32_t n);
/* Drop the oldest n entries (lock held), counting them evicted by interface. */
void store_evict(struct rc_store *s, uint64_t n);
/* Declare an interface (lock held); returns its number or -ENOMEM / -E2BIG
 * beyond 65536 interfaces.  name may be NULL ("" is stored). */
int store_add_interface(struct rc_store *s, const char *name, size_t name_len,
			uint32_t linktype, uint32_t snaplen);
/* Where interface number's evicted count lives for the store's life (read it
 * with a relaxed load, no lock needed), and in *packets how many it has
 * stored so far; NULL when there is no such interface. */
const _Atomic uint64_t *store_interface_evicted(struct rc_store *s, uint32_t number,
						uint64_t *packets);
/* Copy a held packet's bytes (at most cap) into buf (lock held); its
 * caplen or a negative errno from the backend. */
int64_t store_read_locked(struct rc_store *s, const struct rc_store_entry *e, uint8_t *buf,
			  uint64_t cap);
/* A packet's comments joined by newlines, at most cap bytes into buf (lock
 * held); their whole length, 0 when it has none (store_file.c). */
int64_t store_comment_locked(struct rc_store *s, const struct rc_store_entry *e, char *buf, uint64_t cap);
/* Record why indexing ended early (lock held), printf-style, one line. */
void store_fail(struct rc_store *s, int error, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
