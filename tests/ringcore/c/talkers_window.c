/* talkers_window.c — the talkers table keys each frame by the right
 * addresses and protocol (IPv4, IPv6, behind VLAN tags, raw IP, else MACs and
 * EtherType; a frame too short for any goes to the rest), adds bytes in the
 * right direction, ranks by total, forgets what is older than the window,
 * sums its 2 s and 10 s spans, and loses no byte when it is full or the clock
 * steps back: tracked + rest = everything counted, in the window and in each
 * span.  After the clock steps back the window goes on ageing, busy or idle. */
#include "helpers.h"

#define LT_ETHERNET 1
#define LT_RAW 101
#define T0 1700000000ull /* a second since the epoch */

/* One slot: header, then up to 128 bytes of frame. */
struct test_slot {
	struct rc_slot_hdr hdr;
	uint8_t data[128];
};

static uint64_t at_second(uint64_t s)
{
	return s * 1000000000ull + 123456789ull;
}

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17

static void set_ipv4(uint8_t *ip, uint32_t src, uint32_t dst)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[9] = PROTO_UDP;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
}

/* Ethernet + vlan_tags 802.1Q tags + IPv4 src -> dst; wirelen on the wire. */
static struct test_slot eth_ipv4(uint32_t src, uint32_t dst, int vlan_tags,
				 uint32_t wirelen, uint64_t ts_ns)
{
	struct test_slot s = { .hdr = { .wirelen = wirelen, .ts_ns = ts_ns } };
	memset(s.data, 0x02, 12); /* MACs */
	uint32_t off = 12;
	for (int i = 0; i < vlan_tags; i++, off += 4) {
		s.data[off] = i == 0 && vlan_tags == 2 ? 0x88 : 0x81;
		s.data[off + 1] = i == 0 && vlan_tags == 2 ? 0xa8 : 0x00;
		s.data[off + 3] = 7; /* VLAN id */
	}
	s.data[off] = 0x08;
	s.data[off + 1] = 0x00;
	set_ipv4(s.data + off + 2, src, dst);
	s.hdr.caplen = off + 2 + 20;
	return s;
}

static struct test_slot eth_ipv6(uint8_t src_last, uint8_t dst_last,
				 uint32_t wirelen, uint64_t ts_ns)
{
	struct test_slot s = { .hdr = { .caplen = 14 + 40, .wirelen = wirelen, .ts_ns = ts_ns } };
	s.data[12] = 0x86;
	s.data[13] = 0xdd;
	uint8_t *ip = s.data + 14;
	ip[0] = 0x60;
	ip[6] = 59; /* no next header */
	ip[8] = ip[24] = 0x20; /* 2001:db8::... */
	ip[9] = ip[25] = 0x01;
	ip[10] = ip[26] = 0x0d;
	ip[11] = ip[27] = 0xb8;
	ip[23] = src_last;
	ip[39] = dst_last;
	return s;
}

/* An ARP frame from MAC ...:src to MAC ...:dst. */
static struct test_slot eth_arp(uint8_t src, uint8_t dst, uint32_t wirelen, uint64_t ts_ns)
{
	struct test_slot s = { .hdr = { .caplen = 42, .wirelen = wirelen, .ts_ns = ts_ns } };
	s.data[5] = dst;
	s.data[11] = src;
	s.data[12] = 0x08;
	s.data[13] = 0x06;
	return s;
}

static struct rc_talkers *make_talkers(uint32_t linktype)
{
	struct rc_talkers *t = NULL;
	REQUIRE(rc_talkers_create(linktype, &t) == 0 && t, "rc_talkers_create");
	return t;
}

static void add(struct rc_talkers *t, struct test_slot *slots, uint32_t n)
{
	const struct rc_slot_hdr *ptr[64];
	REQUIRE(n <= 64, "batch of %u", n);
	for (uint32_t i = 0; i < n; i++)
		ptr[i] = &slots[i].hdr;
	rc_talkers_add(t, ptr, n);
}

static uint32_t ipv4_of(const struct rc_talker *c, int which_b)
{
	const uint8_t *p = which_b ? c->b : c->a;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void keys_directions_and_ranking(void)
{
	struct rc_talkers *t = make_talkers(LT_ETHERNET);
	uint32_t h1 = 0xc6120001, h2 = 0xc6120002, h3 = 0xc6120003; /* 198.18.0.x */
	struct test_slot batch[] = {
		eth_ipv4(h1, h2, 0, 1000, at_second(T0)),
		eth_ipv4(h2, h1, 0, 100, at_second(T0)),
		eth_ipv4(h1, h2, 1, 500, at_second(T0 + 1)),  /* 802.1Q */
		eth_ipv4(h3, h1, 2, 2000, at_second(T0 + 2)), /* QinQ */
		eth_ipv6(9, 5, 300, at_second(T0 + 2)),
		eth_arp(0x11, 0x22, 60, at_second(T0 + 3)),
	};
	add(t, batch, sizeof(batch) / sizeof(batch[0]));
	/* too short for an Ethernet header: the rest */
	struct test_slot runt = { .hdr = { .caplen = 10, .wirelen = 10, .ts_ns = at_second(T0 + 3) } };
	/* says IPv4 but the IP header is cut off: keyed by its MACs */
	struct test_slot cut = eth_ipv4(h1, h3, 0, 77, at_second(T0 + 3));
	cut.hdr.caplen = 14 + 10;
	struct test_slot more[] = { runt, cut };
	add(t, more, 2);

	struct rc_talker top[8], rest;
	uint32_t n = rc_talkers_top(t, at_second(T0 + 3), top, 8, &rest);
	CHECK(n == 5, "%u conversations", n);
	/* 198.18.0.1 <-> .3: 2000, a = .1 (lower), so all of it b -> a */
	CHECK(top[0].family == RC_ADDR_IPV4 && ipv4_of(&top[0], 0) == h1 && ipv4_of(&top[0], 1) == h3,
	      "first %08x-%08x", ipv4_of(&top[0], 0), ipv4_of(&top[0], 1));
	CHECK(top[0].bytes_ab == 0 && top[0].bytes_ba == 2000 && top[0].packets == 1,
	      "first %lu/%lu", (unsigned long)top[0].bytes_ab, (unsigned long)top[0].bytes_ba);
	/* .1 <-> .2: 1500 from .1, 100 from .2, the tagged one included */
	CHECK(ipv4_of(&top[1], 0) == h1 && ipv4_of(&top[1], 1) == h2, "second pair");
	CHECK(top[1].bytes_ab == 1500 && top[1].bytes_ba == 100 && top[1].packets == 3,
	      "second %lu/%lu/%lu", (unsigned long)top[1].bytes_ab, (unsigned long)top[1].bytes_ba,
	      (unsigned long)top[1].packets);
	CHECK(top[0].protocol == PROTO_UDP && top[1].protocol == PROTO_UDP, "IPv4's protocol");
	CHECK(top[2].family == RC_ADDR_IPV6 && top[2].a[15] == 5 && top[2].b[15] == 9 &&
	      top[2].a[0] == 0x20 && top[2].bytes_ba == 300 && top[2].protocol == 59, "IPv6 conversation");
	/* the cut frame (77) and the ARP (60), by MACs, with their EtherTypes */
	CHECK(top[3].family == RC_ADDR_MAC && top[3].bytes_ab + top[3].bytes_ba == 77 &&
	      top[3].protocol == 0x0800, "cut IPv4 by MACs");
	CHECK(top[4].family == RC_ADDR_MAC && top[4].a[5] == 0x11 && top[4].b[5] == 0x22 &&
	      top[4].bytes_ab == 60 && top[4].protocol == 0x0806, "ARP by MACs");
	CHECK(rest.family == RC_ADDR_NONE && rest.packets == 1 && rest.bytes_ab == 10, "runt in the rest");
	/* a shorter top keeps the largest */
	n = rc_talkers_top(t, at_second(T0 + 3), top, 1, NULL);
	CHECK(n == 1 && top[0].bytes_ba == 2000, "top 1");
	rc_talkers_destroy(t);

	/* raw IP (tun): no link header */
	t = make_talkers(LT_RAW);
	struct test_slot raw = { .hdr = { .caplen = 20, .wirelen = 40, .ts_ns = at_second(T0) } };
	set_ipv4(raw.data, h2, h1);
	add(t, &raw, 1);
	n = rc_talkers_top(t, at_second(T0), top, 8, &rest);
	CHECK(n == 1 && ipv4_of(&top[0], 0) == h1 && top[0].bytes_ba == 40 && rest.packets == 0, "raw IP");
	rc_talkers_destroy(t);
}

/* The bytes of every conversation and of the rest, over each span and the
 * window, add up to what was added in those seconds. */
static void check_sums(struct rc_talkers *t, uint64_t now_s, const uint64_t want[RC_TALKERS_SPANS + 1],
		       const char *what)
{
	static struct rc_talker top[RC_TALKERS_MAX];
	struct rc_talker rest;
	uint32_t n = rc_talkers_top(t, at_second(now_s), top, RC_TALKERS_MAX, &rest);
	uint64_t got[RC_TALKERS_SPANS + 1];
	for (int span = 0; span < RC_TALKERS_SPANS; span++)
		got[span] = rest.span_ab[span] + rest.span_ba[span];
	got[RC_TALKERS_SPANS] = rest.bytes_ab + rest.bytes_ba;
	for (uint32_t i = 0; i < n; i++) {
		for (int span = 0; span < RC_TALKERS_SPANS; span++) {
			got[span] += top[i].span_ab[span] + top[i].span_ba[span];
			CHECK(top[i].span_ab[span] <= (span ? top[i].bytes_ab : top[i].span_ab[1]),
			      "%s: a shorter span holds more", what);
		}
		got[RC_TALKERS_SPANS] += top[i].bytes_ab + top[i].bytes_ba;
	}
	for (int span = 0; span <= RC_TALKERS_SPANS; span++)
		CHECK(got[span] == want[span], "%s: span %d holds %llu of %llu", what, span,
		      (unsigned long long)got[span], (unsigned long long)want[span]);
}

/* One packet a second for a whole window: 100 bytes from 198.18.0.1 (UDP),
 * 10 back (TCP), 7 on ICMP, and a runt in the rest; 40 s, 10 s and 2 s each
 * hold their own seconds, per direction, and the pair is three conversations
 * whose sums close. */
static void spans_and_protocols(void)
{
	struct rc_talkers *t = make_talkers(LT_ETHERNET);
	uint32_t h1 = 0xc6120001, h2 = 0xc6120002;
	for (uint64_t s = 0; s < RC_TALKERS_WINDOW_S; s++) {
		struct test_slot batch[4] = {
			eth_ipv4(h1, h2, 0, 100, at_second(T0 + s)),
			eth_ipv4(h2, h1, 1, 10, at_second(T0 + s)),
			eth_ipv4(h1, h2, 0, 7, at_second(T0 + s)),
			{ .hdr = { .caplen = 10, .wirelen = 1, .ts_ns = at_second(T0 + s) } },
		};
		batch[1].data[12 + 4 + 2 + 9] = PROTO_TCP; /* behind its VLAN tag */
		batch[2].data[14 + 9] = PROTO_ICMP;
		add(t, batch, 4);
	}
	const uint64_t now = T0 + RC_TALKERS_WINDOW_S - 1;
	struct rc_talker top[8], rest;
	uint32_t n = rc_talkers_top(t, at_second(now), top, 8, &rest);
	CHECK(n == 3, "one pair, three protocols: %u", n);
	const unsigned spans[RC_TALKERS_SPANS] = RC_TALKERS_SPAN_S;
	const uint32_t protocols[3] = { PROTO_UDP, PROTO_TCP, PROTO_ICMP };
	const uint64_t bytes_ab[3] = { 100, 0, 7 }, bytes_ba[3] = { 0, 10, 0 };
	for (uint32_t i = 0; i < n && i < 3; i++) {
		CHECK(ipv4_of(&top[i], 0) == h1 && ipv4_of(&top[i], 1) == h2 && top[i].protocol == protocols[i],
		      "rank %u: protocol %u", i, top[i].protocol);
		CHECK(top[i].bytes_ab == bytes_ab[i] * RC_TALKERS_WINDOW_S &&
		      top[i].bytes_ba == bytes_ba[i] * RC_TALKERS_WINDOW_S &&
		      top[i].packets == RC_TALKERS_WINDOW_S, "rank %u: the window", i);
		for (int span = 0; span < RC_TALKERS_SPANS; span++)
			CHECK(top[i].span_ab[span] == bytes_ab[i] * spans[span] &&
			      top[i].span_ba[span] == bytes_ba[i] * spans[span], "rank %u: span of %u s holds %llu/%llu",
			      i, spans[span], (unsigned long long)top[i].span_ab[span],
			      (unsigned long long)top[i].span_ba[span]);
	}
	CHECK(rest.bytes_ab == RC_TALKERS_WINDOW_S && rest.span_ab[0] == spans[0] && rest.span_ab[1] == spans[1],
	      "the rest's spans");
	uint64_t each_second = 100 + 10 + 7 + 1;
	check_sums(t, now, (uint64_t[]){ each_second * spans[0], each_second * spans[1],
					 each_second * RC_TALKERS_WINDOW_S }, "a full window");
	/* five quiet seconds: the 2 s and 10 s spans hold only what is left of them */
	check_sums(t, now + 5, (uint64_t[]){ 0, each_second * 5, each_second * (RC_TALKERS_WINDOW_S - 5) },
		   "five quiet seconds");
	rc_talkers_destroy(t);
}

static void window_moves_on(void)
{
	struct rc_talkers *t = make_talkers(LT_ETHERNET);
	struct test_slot early = eth_ipv4(1, 2, 0, 100, at_second(T0));
	struct test_slot later = eth_ipv4(3, 4, 0, 50, at_second(T0 + 5));
	add(t, &early, 1);
	add(t, &later, 1);
	struct rc_talker top[4], rest;
	/* T0 is in the window that ends in T0+9, not in the one ending in T0+10 */
	uint32_t n = rc_talkers_top(t, at_second(T0 + RC_TALKERS_WINDOW_S - 1), top, 4, &rest);
	CHECK(n == 2 && top[0].bytes_ab == 100 && top[1].bytes_ab == 50, "both in the window: %u", n);
	n = rc_talkers_top(t, at_second(T0 + RC_TALKERS_WINDOW_S), top, 4, &rest);
	CHECK(n == 1 && top[0].bytes_ab == 50, "T0 left the window: %u", n);
	/* the same bucket a window later holds only the new second */
	struct test_slot again = eth_ipv4(1, 2, 0, 7, at_second(T0 + RC_TALKERS_WINDOW_S + 5));
	add(t, &again, 1);
	n = rc_talkers_top(t, at_second(T0 + RC_TALKERS_WINDOW_S + 5), top, 4, &rest);
	CHECK(n == 1 && top[0].bytes_ab == 7 && top[0].packets == 1, "bucket reused: %u", n);
	/* a timestamp from before the window (clock stepped back) counts now */
	struct test_slot stale = eth_ipv4(1, 2, 0, 3, at_second(T0));
	add(t, &stale, 1);
	n = rc_talkers_top(t, at_second(T0 + RC_TALKERS_WINDOW_S + 5), top, 4, &rest);
	CHECK(n == 1 && top[0].bytes_ab == 10 && top[0].packets == 2, "stale counted now");
	/* nothing at all after a quiet window */
	n = rc_talkers_top(t, at_second(T0 + 100), top, 4, &rest);
	CHECK(n == 0 && rest.packets == 0, "quiet window: %u", n);
	rc_talkers_destroy(t);
}

/* Packets of 100 bytes from 198.18.0.1 at T0 .. T0+5, then the clock steps
 * back an hour. */
static struct rc_talkers *talkers_before_a_step_back(void)
{
	struct rc_talkers *t = make_talkers(LT_ETHERNET);
	for (uint64_t s = 0; s <= 5; s++) {
		struct test_slot before = eth_ipv4(0xc6120001, 0xc6120002, 0, 100, at_second(T0 + s));
		add(t, &before, 1);
	}
	struct rc_talker top[4], rest;
	uint32_t n = rc_talkers_top(t, at_second(T0 + 5), top, 4, &rest);
	CHECK(n == 1 && top[0].bytes_ab == 600, "before the step: %u", n);
	return t;
}

static void window_ages_out_after_the_clock_steps_back(void)
{
	const uint64_t back = T0 + 6 - 3600; /* the second after T0+5, an hour earlier */
	struct rc_talker top[4], rest;
	uint32_t n;

	/* busy: a packet from 198.18.0.3 and a reader's look every second */
	struct rc_talkers *t = talkers_before_a_step_back();
	for (uint64_t s = 0; s < 2 * RC_TALKERS_WINDOW_S; s++) {
		struct test_slot after = eth_ipv4(0xc6120003, 0xc6120004, 0, 50, at_second(back + s));
		add(t, &after, 1);
		n = rc_talkers_top(t, at_second(back + s), top, 4, &rest);
		if (s == 0)
			CHECK(n == 2 && top[0].bytes_ab == 600 && top[1].bytes_ab == 50,
			      "right after the step both are counted: %u", n);
	}
	CHECK(n == 1 && ipv4_of(&top[0], 0) == 0xc6120003, "before the step aged out: %u", n);
	CHECK(top[0].packets == RC_TALKERS_WINDOW_S && top[0].bytes_ab == 50 * RC_TALKERS_WINDOW_S &&
	      rest.packets == 0, "one packet a second for a window: %lu", (unsigned long)top[0].packets);
	rc_talkers_destroy(t);

	/* idle: only the reader's clock shows the step */
	t = talkers_before_a_step_back();
	n = rc_talkers_top(t, at_second(back), top, 4, &rest);
	CHECK(n == 1 && top[0].bytes_ab == 600, "just after the step: %u", n);
	n = rc_talkers_top(t, at_second(back + RC_TALKERS_WINDOW_S), top, 4, &rest);
	CHECK(n == 0 && rest.packets == 0, "idle window aged out: %u", n);
	rc_talkers_destroy(t);
}

static void full_table_loses_nothing(void)
{
	enum { CONVERSATIONS = RC_TALKERS_MAX + 232 };
	struct rc_talkers *t = make_talkers(LT_ETHERNET);
	uint64_t total = 0;
	for (uint32_t i = 0; i < CONVERSATIONS; i++) {
		struct test_slot s = eth_ipv4(0x0a000000u + i, 0x0b000000u, 0, 60 + i % 7, at_second(T0));
		total += s.hdr.wirelen;
		add(t, &s, 1);
	}
	static struct rc_talker top[CONVERSATIONS];
	struct rc_talker rest;
	uint32_t n = rc_talkers_top(t, at_second(T0), top, CONVERSATIONS, &rest);
	CHECK(n == RC_TALKERS_MAX, "%u tracked", n);
	uint64_t counted = rest.bytes_ab + rest.bytes_ba;
	for (uint32_t i = 0; i < n; i++) {
		counted += top[i].bytes_ab + top[i].bytes_ba;
		if (i > 0)
			CHECK(top[i - 1].bytes_ab + top[i - 1].bytes_ba >= top[i].bytes_ab + top[i].bytes_ba,
			      "ranked at %u", i);
	}
	CHECK(counted == total, "counted %lu of %lu", (unsigned long)counted, (unsigned long)total);
	check_sums(t, T0, (uint64_t[]){ total, total, total }, "a full table");
	CHECK(rest.packets == CONVERSATIONS - RC_TALKERS_MAX, "rest %lu", (unsigned long)rest.packets);
	/* once they are a window old, their room serves new conversations */
	struct test_slot fresh = eth_ipv4(0x0c000000u, 0x0b000000u, 0, 99, at_second(T0 + RC_TALKERS_WINDOW_S));
	add(t, &fresh, 1);
	n = rc_talkers_top(t, at_second(T0 + RC_TALKERS_WINDOW_S), top, CONVERSATIONS, &rest);
	CHECK(n == 1 && top[0].bytes_ab + top[0].bytes_ba == 99 && rest.packets == 0, "after the window: %u", n);
	rc_talkers_destroy(t);
}

int main(void)
{
	keys_directions_and_ranking();
	spans_and_protocols();
	window_moves_on();
	window_ages_out_after_the_clock_steps_back();
	full_table_loses_nothing();
	return test_result("talkers_window");
}
