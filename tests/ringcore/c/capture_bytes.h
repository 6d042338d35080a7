/* capture_bytes.h — pcap and pcapng files built field by field in memory
 * (either byte order), for the store's file tests: what a file holds is
 * known exactly, so what the index reads back can be checked exactly. */
#ifndef RC_TEST_CAPTURE_BYTES_H
#define RC_TEST_CAPTURE_BYTES_H

#include "helpers.h"

#include <fcntl.h>
#include <stdbool.h>

struct bytes {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool swap; /* fields are written in the other byte order */
};

static inline void put(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		REQUIRE(b->data != NULL, "out of memory");
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void put16(struct bytes *b, uint16_t v)
{
	v = b->swap ? __builtin_bswap16(v) : v;
	put(b, &v, 2);
}

static inline void put32(struct bytes *b, uint32_t v)
{
	v = b->swap ? __builtin_bswap32(v) : v;
	put(b, &v, 4);
}

static inline void put64(struct bytes *b, uint64_t v)
{
	v = b->swap ? __builtin_bswap64(v) : v;
	put(b, &v, 8);
}

static inline void put_padded(struct bytes *b, const void *p, size_t n)
{
	static const uint8_t zeros[4];
	put(b, p, n);
	put(b, zeros, (4 - n % 4) % 4);
}

static inline void pcap_header(struct bytes *b, uint32_t magic, uint32_t snaplen, uint32_t linktype)
{
	put32(b, magic);
	put16(b, 2);
	put16(b, 4);
	put32(b, 0);
	put32(b, 0);
	put32(b, snaplen);
	put32(b, linktype);
}

static inline void pcap_record(struct bytes *b, uint32_t seconds, uint32_t fraction, const uint8_t *data,
			       uint32_t caplen, uint32_t wirelen)
{
	put32(b, seconds);
	put32(b, fraction);
	put32(b, caplen);
	put32(b, wirelen);
	put(b, data, caplen);
}

/* pcapng blocks: block_start, the body's fields, block_end (pads the body
 * and writes both lengths). */
static inline size_t block_start(struct bytes *b, uint32_t type)
{
	size_t at = b->len;
	put32(b, type);
	put32(b, 0);
	return at;
}

static inline void block_end(struct bytes *b, size_t at)
{
	static const uint8_t zeros[4];
	put(b, zeros, (4 - b->len % 4) % 4);
	uint32_t total = (uint32_t)(b->len - at + 4);
	put32(b, total);
	uint32_t stored = b->swap ? __builtin_bswap32(total) : total;
	memcpy(b->data + at + 4, &stored, 4);
}

static inline void option(struct bytes *b, uint16_t code, const void *value, uint16_t len)
{
	put16(b, code);
	put16(b, len);
	put_padded(b, value, len);
}

static inline void options_end(struct bytes *b)
{
	put32(b, 0);
}

static inline void section_header(struct bytes *b)
{
	size_t at = block_start(b, 0x0a0d0d0au);
	put32(b, 0x1a2b3c4du);
	put16(b, 1);
	put16(b, 0);
	put64(b, UINT64_MAX);
	block_end(b, at);
}

static inline void interface_block(struct bytes *b, uint16_t linktype, uint32_t snaplen, const char *name,
				   int tsresol, int64_t tsoffset)
{
	size_t at = block_start(b, 1);
	put16(b, linktype);
	put16(b, 0);
	put32(b, snaplen);
	if (name)
		option(b, 2, name, (uint16_t)strlen(name));
	if (tsresol >= 0) {
		uint8_t value = (uint8_t)tsresol;
		option(b, 9, &value, 1);
	}
	if (tsoffset) {
		uint64_t value = b->swap ? __builtin_bswap64((uint64_t)tsoffset) : (uint64_t)tsoffset;
		option(b, 14, &value, 8);
	}
	if (name || tsresol >= 0 || tsoffset)
		options_end(b);
	block_end(b, at);
}

/* An enhanced packet block; comment (may be NULL) as opt_comment. */
static inline void enhanced_packet(struct bytes *b, uint32_t ifid, uint64_t ticks, const uint8_t *data,
				   uint32_t caplen, uint32_t wirelen, const char *comment)
{
	size_t at = block_start(b, 6);
	put32(b, ifid);
	put32(b, (uint32_t)(ticks >> 32));
	put32(b, (uint32_t)ticks);
	put32(b, caplen);
	put32(b, wirelen);
	put_padded(b, data, caplen);
	if (comment) {
		option(b, 1, comment, (uint16_t)strlen(comment));
		options_end(b);
	}
	block_end(b, at);
}

static inline void simple_packet(struct bytes *b, const uint8_t *data, uint32_t len, uint32_t wirelen)
{
	size_t at = block_start(b, 3);
	put32(b, wirelen);
	put_padded(b, data, len);
	block_end(b, at);
}

/* The obsolete packet block (16-bit interface id and drops count). */
static inline void obsolete_packet(struct bytes *b, uint16_t ifid, uint64_t ticks, const uint8_t *data,
				   uint32_t caplen, uint32_t wirelen)
{
	size_t at = block_start(b, 2);
	put16(b, ifid);
	put16(b, 0);
	put32(b, (uint32_t)(ticks >> 32));
	put32(b, (uint32_t)ticks);
	put32(b, caplen);
	put32(b, wirelen);
	put_padded(b, data, caplen);
	block_end(b, at);
}

/* Write n bytes to a new file in dir; returns its path (malloc'ed). */
static inline char *write_file(const char *dir, const char *name, const uint8_t *data, size_t n)
{
	char *path;
	REQUIRE(asprintf(&path, "%s/%s", dir, name) > 0, "asprintf");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0, "%s: %s", path, strerror(errno));
	REQUIRE(n == 0 || write(fd, data, n) == (ssize_t)n, "write %s", path);
	close(fd);
	return path;
}

/* Open path as a store and wait until it is indexed. */
static inline struct rc_store *open_indexed(const char *path, struct rc_store_info *info)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store *s = NULL;
	int rc = rc_store_open_file(path, &s, err, sizeof(err));
	REQUIRE(rc == 0, "rc_store_open_file(%s): %d %s", path, rc, err);
	while (!rc_store_wait(s, 1000))
		;
	rc_store_info(s, info);
	return s;
}

#endif
