/* store.c — the packet store's core: the index of packets (a ring of 32-byte
 * entries), its interfaces, and the read side every backend shares. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

_Static_assert(sizeof(struct rc_store_entry) == 32, "an index entry is 32 bytes");

#define INITIAL_CAPACITY 4096u
/* A fixed index gives back its pages in blocks of this many entries (64 KiB) */
#define RELEASE_ENTRIES 2048u
/* rc_store_read_batch holds the lock for at most this many packets at a time */
#define READ_BATCH_STEP 1024u

struct rc_store *store_new(int32_t format, const struct rc_store_backend *backend)
{
	struct rc_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->format = format;
	s->backend = backend;
	return s;
}

static _Atomic uint64_t *evicted_of(const struct rc_store *s, uint32_t number)
{
	return &s->evicted[number / EVICTED_CHUNK][number % EVICTED_CHUNK];
}

int store_fix_capacity(struct rc_store *s, uint64_t capacity)
{
	if (capacity == 0 || capacity > SIZE_MAX / sizeof(struct rc_store_entry))
		return -ENOMEM;
	/* MAP_NORESERVE: the index costs what it holds, up to its whole size */
	void *map = mmap(NULL, capacity * sizeof(struct rc_store_entry), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -ENOMEM;
	s->entries = map;
	s->capacity = capacity;
	s->entries_mapped = 1;
	return 0;
}

int store_reserve(struct rc_store *s, uint64_t more)
{
	uint64_t held = s->count - s->first;
	if (held + more <= s->capacity)
		return 0;
	if (s->entries_mapped)
		return -ENOMEM;
	uint64_t capacity = s->capacity ? s->capacity : INITIAL_CAPACITY;
	while (capacity < held + more) {
		if (capacity > UINT64_MAX / 2 / sizeof(struct rc_store_entry))
			return -ENOMEM;
		capacity *= 2;
	}
	struct rc_store_entry *grown;
	if (s->count <= s->capacity) {
		/* no entry has wrapped yet: each keeps its place under the new
		 * capacity, and a large block grows in place (mremap), with no copy
		 * for a drain to wait on while it holds the lock */
		grown = realloc(s->entries, capacity * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->entries = grown;
		s->capacity = capacity;
		return 0;
	}
	grown = malloc(capacity * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	/* lay the held entries out again at their place for the new capacity */
	for (uint64_t n = s->first; n < s->count; n++)
		grown[n % capacity] = *store_entry(s, n);
	free(s->entries);
	s->entries = grown;
	s->capacity = capacity;
	return 0;
}

void store_append(struct rc_store *s, const struct rc_store_entry *e, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		*store_entry(s, s->count) = e[i];
		s->bytes_held += e[i].caplen;
		s->count++;
		if (e[i].interface < s->interface_count)
			s->interfaces[e[i].interface].packets++;
	}
}

/* A fixed index gives back the pages of each block of entries that packets
 * old_first .. first-1 left, once no packet held has its entry there: it
 * costs about what it holds, not what it once held (the next lap faults
 * them in again, zeroed).  The entries free are those of the numbers count
 * .. first+capacity-1, the next lap's. */
static void release_evicted(struct rc_store *s, uint64_t old_first)
{
	uint64_t n = old_first;
	for (;;) {
		uint64_t at = n % s->capacity;
		uint64_t block = at - at % RELEASE_ENTRIES;
		uint64_t block_end = block + RELEASE_ENTRIES < s->capacity ? block + RELEASE_ENTRIES
									   : s->capacity;
		n += block_end - at; /* the number after the block's last entry */
		if (n > s->first)
			return;
		/* its first entry's next number: not stored yet */
		if (n - (block_end - block) + s->capacity >= s->count)
			madvise(&s->entries[block], (block_end - block) * sizeof(*s->entries),
				MADV_DONTNEED);
	}
}

void store_evict(struct rc_store *s, uint64_t n)
{
	uint64_t old_first = s->first;
	for (; n > 0 && s->first < s->count; n--) {
		const struct rc_store_entry *e = store_entry(s, s->first);
		s->bytes_held -= e->caplen;
		if (e->interface < s->interface_count) {
			/* one writer (the lock's holder): no locked add */
			_Atomic uint64_t *evicted = evicted_of(s, e->interface);
			atomic_store_explicit(evicted,
					      atomic_load_explicit(evicted, memory_order_relaxed) + 1,
					      memory_order_relaxed);
		}
		s->first++;
	}
	if (s->entries_mapped)
		release_evicted(s, old_first);
}

int store_add_interface(struct rc_store *s, const char *name, size_t name_len,
			uint32_t linktype, uint32_t snaplen)
{
	if (s->interface_count >= STORE_MAX_INTERFACES)
		return -E2BIG;
	_Atomic uint64_t **chunk = &s->evicted[s->interface_count / EVICTED_CHUNK];
	if (!*chunk && !(*chunk = calloc(EVICTED_CHUNK, sizeof(**chunk))))
		return -ENOMEM;
	if (s->interface_count == s->interface_capacity) {
		uint32_t capacity = s->interface_capacity ? s->interface_capacity * 2 : 4;
		void *grown = realloc(s->interfaces, capacity * sizeof(*s->interfaces));
		if (!grown)
			return -ENOMEM;
		s->interfaces = grown;
		s->interface_capacity = capacity;
	}
	struct rc_store_interface_info *info = &s->interfaces[s->interface_count];
	memset(info, 0, sizeof(*info));
	if (name) {
		size_t n = name_len < sizeof(info->name) - 1 ? name_len : sizeof(info->name) - 1;
		memcpy(info->name, name, n);
		/* a name cut at an embedded NUL is what C readers would show anyway */
	}
	info->linktype = linktype;
	info->snaplen = snaplen;
	return (int)s->interface_count++;
}

void store_fail(struct rc_store *s, int error, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error_message, sizeof(s->error_message), fmt, ap);
	va_end(ap);
	s->error = error;
	s->error_offset = offset;
}

void rc_store_info(struct rc_store *s, struct rc_store_info *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	out->first = s->first;
	out->count = s->count;
	out->bytes_done = atomic_load(&s->bytes_done);
	out->bytes_total = s->bytes_total;
	out->bytes_held = s->bytes_held;
	out->error_offset = s->error_offset;
	out->format = s->format;
	out->done = atomic_load(&s->done);
	out->error = s->error;
	out->interface_count = s->interface_count;
	memcpy(out->error_message, s->error_message, sizeof(out->error_message));
	pthread_mutex_unlock(&s->lock);
}

uint32_t rc_store_entries(struct rc_store *s, uint64_t start, struct rc_store_entry *out,
			  uint32_t max)
{
	uint32_t copied = 0;
	pthread_mutex_lock(&s->lock);
	if (start >= s->first)
		for (uint64_t n = start; n < s->count && copied < max; n++)
			out[copied++] = *store_entry(s, n);
	pthread_mutex_unlock(&s->lock);
	return copied;
}

int64_t store_read_locked(struct rc_store *s, const struct rc_store_entry *e, uint8_t *buf,
			  uint64_t cap)
{
	if (s->backend && s->backend->read)
		return s->backend->read(s, e, buf, cap);
	memcpy(buf, s->data + e->data_offset, e->caplen < cap ? e->caplen : cap);
	return e->caplen;
}

int64_t rc_store_read(struct rc_store *s, uint64_t number, uint8_t *buf, uint64_t cap)
{
	int64_t caplen = -ENOENT;
	pthread_mutex_lock(&s->lock);
	if (number >= s->first && number < s->count)
		caplen = store_read_locked(s, store_entry(s, number), buf, cap);
	pthread_mutex_unlock(&s->lock);
	return caplen;
}

int64_t rc_store_read_batch(struct rc_store *s, uint64_t start, uint32_t max,
			    struct rc_store_entry *out, uint8_t *buf, uint64_t cap)
{
	uint32_t copied = 0;
	uint64_t used = 0;
	int64_t failed = 0;
	while (copied < max && !failed) {
		/* let go of the lock between steps: a spool's packets are read with
		 * pread, and a drain appending waits for the lock meanwhile */
		uint32_t step_end = max - copied > READ_BATCH_STEP ? copied + READ_BATCH_STEP : max;
		pthread_mutex_lock(&s->lock);
		uint64_t n = start + copied;
		if (n < s->first || n >= s->count) {
			pthread_mutex_unlock(&s->lock); /* evicted (since the last step) or not stored yet */
			break;
		}
		for (; copied < step_end && n < s->count; copied++, n++) {
			const struct rc_store_entry *e = store_entry(s, n);
			if (e->caplen > cap - used) {
				failed = copied ? 1 : -ENOBUFS;
				if (!copied)
					out[0] = *e; /* its caplen says how much room it needs */
				break;
			}
			int64_t read = store_read_locked(s, e, buf + used, e->caplen);
			if (read < 0) {
				failed = copied ? 1 : read;
				break;
			}
			out[copied] = *e;
			used += e->caplen;
		}
		int more = n < s->count;
		pthread_mutex_unlock(&s->lock);
		if (!more)
			break;
	}
	return failed < 0 ? failed : copied;
}

int rc_store_interface(struct rc_store *s, uint32_t number, struct rc_store_interface_info *out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	if (number < s->interface_count) {
		*out = s->interfaces[number];
		out->evicted = atomic_load_explicit(evicted_of(s, number), memory_order_relaxed);
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

const _Atomic uint64_t *store_interface_evicted(struct rc_store *s, uint32_t number,
						uint64_t *packets)
{
	const _Atomic uint64_t *evicted = NULL;
	pthread_mutex_lock(&s->lock);
	if (number < s->interface_count) {
		evicted = evicted_of(s, number);
		*packets = s->interfaces[number].packets;
	}
	pthread_mutex_unlock(&s->lock);
	return evicted;
}

void rc_store_close(struct rc_store *s)
{
	if (!s)
		return;
	if (s->backend && s->backend->close)
		s->backend->close(s);
	if (s->entries_mapped)
		munmap(s->entries, s->capacity * sizeof(*s->entries));
	else
		free(s->entries);
	free(s->interfaces);
	for (uint32_t i = 0; i < STORE_MAX_INTERFACES / EVICTED_CHUNK; i++)
		free((void *)s->evicted[i]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
