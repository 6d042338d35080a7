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
#define MAX_INTERFACES 65536u /* entry.interface is 16 bits */

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

void store_evict(struct rc_store *s, uint64_t n)
{
	for (; n > 0 && s->first < s->count; n--) {
		const struct rc_store_entry *e = store_entry(s, s->first);
		s->bytes_held -= e->caplen;
		if (e->interface < s->interface_count)
			s->interfaces[e->interface].evicted++;
		s->first++;
	}
}

int store_add_interface(struct rc_store *s, const char *name, size_t name_len,
			uint32_t linktype, uint32_t snaplen)
{
	if (s->interface_count >= MAX_INTERFACES)
		return -E2BIG;
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

int rc_store_interface(struct rc_store *s, uint32_t number, struct rc_store_interface_info *out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	if (number < s->interface_count) {
		*out = s->interfaces[number];
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
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
	pthread_mutex_destroy(&s->lock);
	free(s);
}
