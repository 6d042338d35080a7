/* store_filter.c — display filters over a store: tcpdump expressions
 * compiled by libpcap (once per link type) and run by libpcap's own
 * pcap_offline_filter over the packets where they lie, matches kept in a
 * selection (a sorted array of packet numbers, in C). */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

/* libpcap's MAXIMUM_SNAPLEN: what a store's packets are compiled for,
 * whatever snap length an interface claims (as tcpdump reads a file) */
#define FILTER_SNAPLEN 262144
/* packets run per lock hold, so appending drains wait for this many at most */
#define FILTER_LOCK_PACKETS 1024u

/* ---- selection ------------------------------------------------------- */

struct rc_selection {
	pthread_mutex_t lock; /* a filter adds while the UI reads */
	uint64_t *numbers;
	uint64_t count;
	uint64_t capacity;
};

struct rc_selection *rc_selection_new(void)
{
	struct rc_selection *sel = calloc(1, sizeof(*sel));
	if (sel)
		pthread_mutex_init(&sel->lock, NULL);
	return sel;
}

void rc_selection_free(struct rc_selection *sel)
{
	if (!sel)
		return;
	pthread_mutex_destroy(&sel->lock);
	free(sel->numbers);
	free(sel);
}

static int reserve_locked(struct rc_selection *sel, uint64_t more)
{
	if (sel->count + more <= sel->capacity)
		return 0;
	uint64_t capacity = sel->capacity ? sel->capacity : 1024;
	while (capacity < sel->count + more) {
		if (capacity > UINT64_MAX / 2 / sizeof(uint64_t))
			return -ENOMEM;
		capacity *= 2;
	}
	uint64_t *grown = realloc(sel->numbers, capacity * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	sel->numbers = grown;
	sel->capacity = capacity;
	return 0;
}

int rc_selection_add(struct rc_selection *sel, const uint64_t *numbers, uint32_t n)
{
	pthread_mutex_lock(&sel->lock);
	int rc = reserve_locked(sel, n);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		if (sel->count && numbers[i] <= sel->numbers[sel->count - 1])
			rc = -EINVAL; /* kept sorted, each number once */
		else
			sel->numbers[sel->count++] = numbers[i];
	}
	pthread_mutex_unlock(&sel->lock);
	return rc;
}

int rc_selection_add_range(struct rc_selection *sel, uint64_t first, uint64_t end)
{
	if (end < first)
		return -EINVAL;
	pthread_mutex_lock(&sel->lock);
	int rc = 0;
	if (end > first && sel->count && first <= sel->numbers[sel->count - 1])
		rc = -EINVAL;
	else
		rc = reserve_locked(sel, end - first);
	for (uint64_t n = first; rc == 0 && n < end; n++)
		sel->numbers[sel->count++] = n;
	pthread_mutex_unlock(&sel->lock);
	return rc;
}

uint64_t rc_selection_count(struct rc_selection *sel)
{
	pthread_mutex_lock(&sel->lock);
	uint64_t count = sel->count;
	pthread_mutex_unlock(&sel->lock);
	return count;
}

uint32_t rc_selection_numbers(struct rc_selection *sel, uint64_t start_index, uint64_t *out,
			      uint32_t max)
{
	uint32_t copied = 0;
	pthread_mutex_lock(&sel->lock);
	for (uint64_t i = start_index; i < sel->count && copied < max; i++)
		out[copied++] = sel->numbers[i];
	pthread_mutex_unlock(&sel->lock);
	return copied;
}

uint64_t rc_selection_position(struct rc_selection *sel, uint64_t number)
{
	pthread_mutex_lock(&sel->lock);
	uint64_t low = 0, high = sel->count;
	while (low < high) {
		uint64_t mid = low + (high - low) / 2;
		if (sel->numbers[mid] < number)
			low = mid + 1;
		else
			high = mid;
	}
	pthread_mutex_unlock(&sel->lock);
	return low;
}

int rc_selection_add_bits(struct rc_selection *sel, const uint8_t *bits, uint64_t nbytes)
{
	uint64_t set = 0, first_byte = nbytes;
	for (uint64_t i = 0; i < nbytes; i++)
		if (bits[i]) {
			set += (uint64_t)__builtin_popcount(bits[i]);
			if (first_byte == nbytes)
				first_byte = i;
		}
	if (!set)
		return 0;
	pthread_mutex_lock(&sel->lock);
	int rc = 0;
	uint64_t lowest = first_byte * 8 + (uint64_t)__builtin_ctz(bits[first_byte]);
	if (sel->count && lowest <= sel->numbers[sel->count - 1])
		rc = -EINVAL;
	else
		rc = reserve_locked(sel, set);
	for (uint64_t i = first_byte; rc == 0 && i < nbytes; i++)
		for (unsigned bit = 0; bits[i] >> bit; bit++)
			if (bits[i] >> bit & 1)
				sel->numbers[sel->count++] = i * 8 + bit;
	pthread_mutex_unlock(&sel->lock);
	return rc;
}

uint64_t rc_selection_set_bits(struct rc_selection *sel, uint64_t start_index, uint64_t end_index,
			       uint8_t *bits, uint64_t nbytes)
{
	uint64_t set = 0;
	pthread_mutex_lock(&sel->lock);
	for (uint64_t i = start_index; i < end_index && i < sel->count; i++) {
		uint64_t number = sel->numbers[i];
		if (number / 8 >= nbytes)
			break; /* sorted: the rest lie beyond it too */
		bits[number / 8] |= (uint8_t)(1u << (number % 8));
		set++;
	}
	pthread_mutex_unlock(&sel->lock);
	return set;
}

/* ---- display filter -------------------------------------------------- */

/* One program per link type met (an interface whose link type the
 * expression does not compile for matches nothing). */
struct program {
	uint32_t linktype;
	int compiled; /* 0: matches nothing on this link type */
	struct bpf_program bpf;
};

struct rc_store_filter {
	struct rc_store *store;
	char *expression;
	uint64_t next; /* the first packet not examined yet */
	struct program *programs;
	uint32_t program_count;
	/* the store's interface number → its program (grows as interfaces come) */
	int32_t *program_of_interface;
	uint32_t interfaces_known;
};

/* libpcap's handles speak DLT_ values; a few differ from the LINKTYPE_
 * values files hold (libpcap maps them when it reads a file). */
static int dlt_of_linktype(uint32_t linktype)
{
	switch (linktype) {
	case LINKTYPE_RAW:
		return DLT_RAW;
	case 100: /* LINKTYPE_ATM_RFC1483 */
		return DLT_ATM_RFC1483;
	default:
		return (int)linktype;
	}
}

/* Compile for a link type; 0, or -EINVAL with libpcap's message. */
static int compile_for(const char *expression, uint32_t linktype, struct bpf_program *bpf,
		       char *errbuf, size_t errlen)
{
	pcap_t *dead = pcap_open_dead(dlt_of_linktype(linktype), FILTER_SNAPLEN);
	if (!dead) {
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	if (pcap_compile(dead, bpf, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		rc_err(errbuf, errlen, "%s", pcap_geterr(dead));
		rc = -EINVAL;
	}
	pcap_close(dead);
	return rc;
}

/* The program for a link type, compiled the first time it is met; its
 * index, or -ENOMEM. */
static int program_for(struct rc_store_filter *f, uint32_t linktype, char *errbuf, size_t errlen)
{
	for (uint32_t i = 0; i < f->program_count; i++)
		if (f->programs[i].linktype == linktype)
			return (int)i;
	struct program *grown = realloc(f->programs, (f->program_count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	f->programs = grown;
	struct program *p = &f->programs[f->program_count];
	memset(p, 0, sizeof(*p));
	p->linktype = linktype;
	int rc = compile_for(f->expression, linktype, &p->bpf, errbuf, errlen);
	if (rc == -ENOMEM)
		return rc;
	p->compiled = rc == 0;
	return (int)f->program_count++;
}

/* Programs for the interfaces declared since the last call. */
static int learn_interfaces(struct rc_store_filter *f, char *errbuf, size_t errlen)
{
	struct rc_store_interface_info info;
	while (rc_store_interface(f->store, f->interfaces_known, &info) == 0) {
		int32_t *grown = realloc(f->program_of_interface,
					 (f->interfaces_known + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		f->program_of_interface = grown;
		int index = program_for(f, info.linktype, errbuf, errlen);
		if (index < 0)
			return index;
		f->program_of_interface[f->interfaces_known++] = index;
	}
	return 0;
}

void rc_store_filter_free(struct rc_store_filter *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->program_count; i++)
		if (f->programs[i].compiled)
			pcap_freecode(&f->programs[i].bpf);
	free(f->programs);
	free(f->program_of_interface);
	free(f->expression);
	free(f);
}

int rc_store_filter_new(struct rc_store *s, const char *expression, struct rc_store_filter **out,
			char *errbuf, size_t errlen)
{
	struct rc_store_filter *f = calloc(1, sizeof(*f));
	if (!f || !(f->expression = strdup(expression))) {
		free(f);
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	f->store = s;
	char message[RC_ERRBUF_SIZE] = "";
	int rc = learn_interfaces(f, message, sizeof(message));
	/* with no interface yet (a file just opened), Ethernet checks the words */
	if (rc == 0 && f->program_count == 0)
		rc = program_for(f, LINKTYPE_ETHERNET, message, sizeof(message)) < 0 ? -ENOMEM : 0;
	int compiled = 0;
	for (uint32_t i = 0; i < f->program_count; i++)
		compiled |= f->programs[i].compiled;
	if (rc == 0 && !compiled)
		rc = -EINVAL; /* the message of the last link type tried */
	if (rc) {
		rc_err(errbuf, errlen, "%s", rc == -ENOMEM ? "out of memory" : message);
		rc_store_filter_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

uint64_t rc_store_filter_examined(struct rc_store_filter *f)
{
	return f->next;
}

/* Run over packets f->next .. count-1 under one lock hold, at most max;
 * matches into numbers (room for max).  Returns how many were examined. */
static uint32_t run_locked(struct rc_store_filter *f, uint8_t *buf, uint32_t max,
			   uint64_t *numbers, uint32_t *matched)
{
	struct rc_store *s = f->store;
	uint32_t examined = 0;
	*matched = 0;
	if (f->next < s->first)
		f->next = s->first; /* evicted before it was examined */
	for (; f->next < s->count && examined < max; f->next++, examined++) {
		const struct rc_store_entry *e = store_entry(s, f->next);
		if (e->interface >= f->interfaces_known)
			break; /* declared after learn_interfaces: the next call */
		const struct program *p = &f->programs[f->program_of_interface[e->interface]];
		if (!p->compiled)
			continue;
		const uint8_t *bytes;
		uint32_t caplen = e->caplen;
		if (s->backend && s->backend->read) {
			caplen = e->caplen < FILTER_SNAPLEN ? e->caplen : FILTER_SNAPLEN;
			if (store_read_locked(s, e, buf, caplen) < 0)
				continue; /* unreadable: not a match */
			bytes = buf;
		} else {
			bytes = s->data + e->data_offset;
		}
		struct pcap_pkthdr hdr = { .caplen = caplen, .len = e->wirelen };
		if (pcap_offline_filter(&p->bpf, &hdr, bytes))
			numbers[(*matched)++] = f->next;
	}
	return examined;
}

int64_t rc_store_filter_run(struct rc_store_filter *f, struct rc_selection *sel, uint64_t max)
{
	char unused[RC_ERRBUF_SIZE];
	int rc = learn_interfaces(f, unused, sizeof(unused));
	if (rc)
		return rc;
	uint8_t *buf = malloc(FILTER_SNAPLEN); /* a spool's packet, read back */
	uint64_t *numbers = malloc(FILTER_LOCK_PACKETS * sizeof(*numbers));
	int64_t examined = 0;
	while (buf && numbers && (uint64_t)examined < max) {
		uint64_t left = max - (uint64_t)examined;
		uint32_t matched;
		pthread_mutex_lock(&f->store->lock);
		uint32_t done = run_locked(f, buf, left < FILTER_LOCK_PACKETS ? (uint32_t)left : FILTER_LOCK_PACKETS,
					   numbers, &matched);
		pthread_mutex_unlock(&f->store->lock);
		if (matched && (rc = rc_selection_add(sel, numbers, matched)) != 0)
			break;
		if (done == 0)
			break;
		examined += done;
	}
	if (!buf || !numbers)
		rc = -ENOMEM;
	free(buf);
	free(numbers);
	return rc ? rc : examined;
}
