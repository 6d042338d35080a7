/* talkers.c — wire bytes per conversation over the last seconds, counted by a
 * drain batch by batch, so the dashboard's "top talkers" costs no Python per
 * packet.  Packet bytes are hostile: every header read is bounds-checked
 * against the captured length. */
#define _GNU_SOURCE
#include "ring_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LINKTYPE_IPV4 228
#define LINKTYPE_IPV6 229

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define MAX_VLAN_TAGS 2

/* Open addressing with linear probing; filled to RC_TALKERS_MAX at most, so
 * probes stay short and an empty slot always ends a search. */
#define TABLE_SLOTS 1024u
_Static_assert(RC_TALKERS_MAX < TABLE_SLOTS, "the table needs empty slots");
_Static_assert((TABLE_SLOTS & (TABLE_SLOTS - 1)) == 0, "a power of two");

#define WINDOW RC_TALKERS_WINDOW_S
#define NS_PER_S 1000000000ull
/* Packets of one ring arrive in capture order, a few ms apart at worst: a
 * timestamp more than this before the previous one is a clock step back. */
#define STEP_BACK_MIN_S 2

struct second_count {
	uint64_t bytes_ab;
	uint64_t bytes_ba;
	uint64_t packets;
};

/* 1 KB a conversation (40 buckets): the table and its spare are 2 MB per
 * interface, whatever the traffic. */
struct entry {
	uint32_t family; /* RC_ADDR_NONE: an empty slot */
	uint16_t protocol;
	uint8_t a[16];
	uint8_t b[16];
	struct second_count second[WINDOW]; /* bucket s % WINDOW holds second s */
};

struct rc_talkers {
	pthread_mutex_t lock;
	uint32_t linktype;
	uint32_t used;
	uint64_t newest_s; /* newest second counted or asked for (window time) */
	/* Timestamps are CLOCK_REALTIME, which steps back (settimeofday, NTP):
	 * the window would stay pinned to seconds that already passed and pile
	 * every packet into its newest bucket.  Window time is a reading plus
	 * how far its clock has stepped back so far, so it only moves forward;
	 * packets and the reader each see the step at their own moment. */
	uint64_t newest_packet_s;  /* window time of the newest packet */
	uint64_t packets_back_s;   /* steps back seen in packet timestamps */
	uint64_t reader_back_s;    /* steps back seen in rc_talkers_top's now */
	struct entry *table;
	struct entry *spare; /* the next table, built when the window moves */
	struct second_count rest[WINDOW];
};

/* The two addresses of one packet, as found in it, and what it carries. */
struct endpoints {
	uint32_t family;
	uint32_t len;
	const uint8_t *src;
	const uint8_t *dst;
	uint16_t protocol;
};

static const unsigned span_s[RC_TALKERS_SPANS] = RC_TALKERS_SPAN_S;
_Static_assert(RC_TALKERS_SPANS == 2, "RC_TALKERS_SPAN_S has one length per span");

static uint16_t rd16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* An IP header of the wanted version (0: whichever) that is whole up to its
 * addresses. */
static int ip_endpoints(const uint8_t *p, uint32_t len, unsigned want,
			struct endpoints *ep)
{
	if (len < 1)
		return 0;
	unsigned version = p[0] >> 4;
	if (want && version != want)
		return 0;
	if (version == 4 && len >= 20) {
		*ep = (struct endpoints){ RC_ADDR_IPV4, 4, p + 12, p + 16, p[9] };
		return 1;
	}
	if (version == 6 && len >= 40) {
		*ep = (struct endpoints){ RC_ADDR_IPV6, 16, p + 8, p + 24, p[6] };
		return 1;
	}
	return 0;
}

/* IP addresses when the frame carries IP (after up to two VLAN tags), else
 * its MAC addresses. */
static int ethernet_endpoints(const uint8_t *p, uint32_t len, struct endpoints *ep)
{
	if (len < 14)
		return 0;
	uint32_t off = 12;
	uint16_t type = rd16be(p + off);
	for (int tags = 0; tags < MAX_VLAN_TAGS && off + 6 <= len &&
			   (type == 0x8100 || type == 0x88a8 || type == 0x9100);
	     tags++) {
		off += 4;
		type = rd16be(p + off);
	}
	off += 2;
	if (type == ETHERTYPE_IPV4 && ip_endpoints(p + off, len - off, 4, ep))
		return 1;
	if (type == ETHERTYPE_IPV6 && ip_endpoints(p + off, len - off, 6, ep))
		return 1;
	*ep = (struct endpoints){ RC_ADDR_MAC, 6, p + 6, p, type };
	return 1;
}

static int packet_endpoints(uint32_t linktype, const struct rc_slot_hdr *slot,
			    struct endpoints *ep)
{
	const uint8_t *data = (const uint8_t *)(slot + 1);
	switch (linktype) {
	case LINKTYPE_ETHERNET:
		return ethernet_endpoints(data, slot->caplen, ep);
	case LINKTYPE_RAW:
		return ip_endpoints(data, slot->caplen, 0, ep);
	case LINKTYPE_IPV4:
		return ip_endpoints(data, slot->caplen, 4, ep);
	case LINKTYPE_IPV6:
		return ip_endpoints(data, slot->caplen, 6, ep);
	}
	return 0;
}

static uint32_t entry_hash(uint32_t family, uint16_t protocol, const uint8_t *a,
			   const uint8_t *b)
{
	uint32_t h = (2166136261u ^ family) * 16777619u ^ protocol;
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* The slot holding this conversation, or the empty slot where it belongs. */
static struct entry *find(struct entry *table, uint32_t family, uint16_t protocol,
			  const uint8_t *a, const uint8_t *b)
{
	uint32_t i = entry_hash(family, protocol, a, b) & (TABLE_SLOTS - 1);
	for (;;) {
		struct entry *e = &table[i];
		if (e->family == RC_ADDR_NONE ||
		    (e->family == family && e->protocol == protocol && !memcmp(e->a, a, 16) &&
		     !memcmp(e->b, b, 16)))
			return e;
		i = (i + 1) & (TABLE_SLOTS - 1);
	}
}

static int entry_is_quiet(const struct entry *e)
{
	for (int s = 0; s < WINDOW; s++)
		if (e->second[s].packets)
			return 0;
	return 1;
}

/* Move the window's end to second `now_s`: empty the buckets of the seconds
 * it passes, and rebuild the table without conversations quiet for a whole
 * window (so their slots serve new ones; no tombstones). */
static void advance(struct rc_talkers *t, uint64_t now_s)
{
	if (now_s <= t->newest_s)
		return;
	uint64_t passed = now_s - t->newest_s < WINDOW ? now_s - t->newest_s : WINDOW;
	t->newest_s = now_s;
	for (uint64_t s = now_s - passed + 1; s <= now_s; s++)
		memset(&t->rest[s % WINDOW], 0, sizeof(t->rest[0]));
	memset(t->spare, 0, TABLE_SLOTS * sizeof(*t->spare));
	uint32_t used = 0;
	for (uint32_t i = 0; i < TABLE_SLOTS; i++) {
		struct entry *e = &t->table[i];
		if (e->family == RC_ADDR_NONE)
			continue;
		for (uint64_t s = now_s - passed + 1; s <= now_s; s++)
			memset(&e->second[s % WINDOW], 0, sizeof(e->second[0]));
		if (entry_is_quiet(e))
			continue;
		*find(t->spare, e->family, e->protocol, e->a, e->b) = *e;
		used++;
	}
	struct entry *old = t->table;
	t->table = t->spare;
	t->spare = old;
	t->used = used;
}

/* The window second of a packet stamped ts_ns. */
static uint64_t packet_second(struct rc_talkers *t, uint64_t ts_ns)
{
	uint64_t s = ts_ns / NS_PER_S + t->packets_back_s;
	if (s + STEP_BACK_MIN_S <= t->newest_packet_s) {
		t->packets_back_s += t->newest_packet_s - s;
		s = t->newest_packet_s;
	}
	if (s > t->newest_packet_s)
		t->newest_packet_s = s;
	return s;
}

/* The window second of the reader's now_ns.  Nothing is stamped after now,
 * and now never goes back: a now well before the window's end means the
 * clock stepped back. */
static uint64_t reader_second(struct rc_talkers *t, uint64_t now_ns)
{
	uint64_t s = now_ns / NS_PER_S + t->reader_back_s;
	if (s + STEP_BACK_MIN_S <= t->newest_s) {
		t->reader_back_s += t->newest_s - s;
		s = t->newest_s;
	}
	return s;
}

static void count(struct second_count *c, int a_to_b, uint32_t wirelen)
{
	if (a_to_b)
		c->bytes_ab += wirelen;
	else
		c->bytes_ba += wirelen;
	c->packets++;
}

static void add_one(struct rc_talkers *t, const struct rc_slot_hdr *slot)
{
	uint64_t second = packet_second(t, slot->ts_ns);
	advance(t, second);
	/* a packet older than the window (taken late, after a pause) counts now */
	unsigned bucket = (unsigned)((second + WINDOW > t->newest_s ? second : t->newest_s) % WINDOW);

	struct endpoints ep;
	if (!packet_endpoints(t->linktype, slot, &ep)) {
		count(&t->rest[bucket], 1, slot->wirelen);
		return;
	}
	int a_to_b = memcmp(ep.src, ep.dst, ep.len) <= 0;
	uint8_t a[16] = { 0 }, b[16] = { 0 };
	memcpy(a, a_to_b ? ep.src : ep.dst, ep.len);
	memcpy(b, a_to_b ? ep.dst : ep.src, ep.len);
	struct entry *e = find(t->table, ep.family, ep.protocol, a, b);
	if (e->family == RC_ADDR_NONE) {
		if (t->used >= RC_TALKERS_MAX) {
			count(&t->rest[bucket], 1, slot->wirelen);
			return;
		}
		e->family = ep.family;
		e->protocol = ep.protocol;
		memcpy(e->a, a, 16);
		memcpy(e->b, b, 16);
		t->used++;
	}
	count(&e->second[bucket], a_to_b, slot->wirelen);
}

int rc_talkers_create(uint32_t linktype, struct rc_talkers **out)
{
	struct rc_talkers *t = calloc(1, sizeof(*t));
	if (t) {
		t->table = calloc(TABLE_SLOTS, sizeof(*t->table));
		t->spare = calloc(TABLE_SLOTS, sizeof(*t->spare));
	}
	if (!t || !t->table || !t->spare) {
		if (t) {
			free(t->table);
			free(t->spare);
		}
		free(t);
		return -ENOMEM;
	}
	t->linktype = linktype;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void rc_talkers_destroy(struct rc_talkers *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->table);
	free(t->spare);
	free(t);
}

void rc_talkers_add(struct rc_talkers *t, const struct rc_slot_hdr *const *slots,
		    uint32_t n)
{
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < n; i++)
		add_one(t, slots[i]);
	pthread_mutex_unlock(&t->lock);
}

/* The window's buckets, newest first, into the window's sums and each
 * span's: a span is the window's last seconds, so a byte counted in a span is
 * counted in every longer one. */
static void sum_window(const struct second_count *seconds, uint64_t newest_s,
		       struct rc_talker *out)
{
	for (unsigned age = 0; age < WINDOW && age <= newest_s; age++) {
		const struct second_count *c = &seconds[(newest_s - age) % WINDOW];
		out->bytes_ab += c->bytes_ab;
		out->bytes_ba += c->bytes_ba;
		out->packets += c->packets;
		for (int span = 0; span < RC_TALKERS_SPANS; span++) {
			if (age < span_s[span]) {
				out->span_ab[span] += c->bytes_ab;
				out->span_ba[span] += c->bytes_ba;
			}
		}
	}
}

/* Larger total first; equal totals by address, then protocol, so the order
 * is stable. */
static int ranks_before(const struct rc_talker *x, const struct rc_talker *y)
{
	uint64_t tx = x->bytes_ab + x->bytes_ba, ty = y->bytes_ab + y->bytes_ba;
	if (tx != ty)
		return tx > ty;
	int by_a = memcmp(x->a, y->a, 16);
	if (by_a)
		return by_a < 0;
	int by_b = memcmp(x->b, y->b, 16);
	return by_b ? by_b < 0 : x->protocol < y->protocol;
}

uint32_t rc_talkers_top(struct rc_talkers *t, uint64_t now_ns,
			struct rc_talker *out, uint32_t max,
			struct rc_talker *rest)
{
	uint32_t n = 0;
	pthread_mutex_lock(&t->lock);
	advance(t, reader_second(t, now_ns));
	for (uint32_t i = 0; i < TABLE_SLOTS; i++) {
		const struct entry *e = &t->table[i];
		if (e->family == RC_ADDR_NONE)
			continue;
		struct rc_talker c = { .family = e->family, .protocol = e->protocol };
		memcpy(c.a, e->a, 16);
		memcpy(c.b, e->b, 16);
		sum_window(e->second, t->newest_s, &c);
		/* insertion into the sorted top max */
		uint32_t at = n;
		while (at > 0 && ranks_before(&c, &out[at - 1]))
			at--;
		if (at >= max)
			continue;
		if (n < max)
			n++;
		memmove(&out[at + 1], &out[at], (n - 1 - at) * sizeof(*out));
		out[at] = c;
	}
	if (rest) {
		*rest = (struct rc_talker){ .family = RC_ADDR_NONE };
		sum_window(t->rest, t->newest_s, rest);
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}
