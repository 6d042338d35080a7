/* fuzz_input.h — what the libFuzzer targets share: reading the fuzzer's bytes
 * as little-endian fields (missing bytes read as zero, so every input is
 * valid), and slots allocated to exactly their header and caplen bytes, so
 * AddressSanitizer catches a parser that reads one byte past the packet. */
#ifndef RC_FUZZ_INPUT_H
#define RC_FUZZ_INPUT_H

#include "helpers.h"

struct fuzz_input {
	const uint8_t *at;
	size_t left;
};

static inline uint64_t take(struct fuzz_input *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->left; i++, in->at++, in->left--)
		v |= (uint64_t)in->at[0] << (8 * i);
	return v;
}

/* A slot of caplen packet bytes: the input's next ones (as many as are
 * left), then a pattern; the header fields are the caller's. */
static inline struct rc_slot_hdr *take_slot(struct fuzz_input *in, uint32_t caplen)
{
	struct rc_slot_hdr *slot = malloc(sizeof(*slot) + caplen);
	REQUIRE(slot != NULL, "out of memory for a slot of %u bytes", caplen);
	uint8_t *data = (uint8_t *)(slot + 1);
	size_t from_input = caplen < in->left ? caplen : in->left;
	memcpy(data, in->at, from_input);
	in->at += from_input;
	in->left -= from_input;
	for (size_t i = from_input; i < caplen; i++)
		data[i] = (uint8_t)i;
	*slot = (struct rc_slot_hdr){ .caplen = caplen };
	return slot;
}

/* A broken property: report it and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...) CHECK_OR(abort(), cond, __VA_ARGS__)

#endif
