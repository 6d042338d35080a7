/* store_filter_link_types.c — a display filter over a file's store and a
 * spool, each mixing Ethernet and raw IP interfaces: "tcp" matches exactly
 * the TCP packets of both link types, in any chunk size; an Ethernet-only
 * expression matches the Ethernet ones and nothing on raw IP; a bad
 * expression fails with libpcap's message; a second run examines only new
 * packets, and a run racing a thread that appends to the spool ends with
 * exactly the matches.  The selection answers count, numbers and position. */
#include "store_filter.h"

#include <pthread.h>

static int is_tcp(uint64_t seq)
{
	return mixed_is_tcp(seq);
}

static int is_ethernet_tcp(uint64_t seq)
{
	return mixed_is_tcp(seq) && mixed_interface(seq) == 0;
}

/* Run expression over s in chunks of chunk packets; check the selection
 * against want(seq) for every packet. */
static void check_filter(struct rc_store *s, const char *what, const char *expression, uint64_t chunk,
			 int (*want)(uint64_t))
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store_filter *f;
	REQUIRE(rc_store_filter_new(s, expression, &f, err, sizeof(err)) == 0, "%s: %s: %s", what, expression, err);
	struct rc_selection *sel = rc_selection_new();
	REQUIRE(sel, "selection");
	int64_t examined, total = 0;
	while ((examined = rc_store_filter_run(f, sel, chunk)) > 0) {
		CHECK((uint64_t)examined <= chunk, "%s: a step examined %lld of %llu", what, (long long)examined,
		      (unsigned long long)chunk);
		total += examined;
	}
	CHECK(examined == 0 && total == MIXED_PACKETS && rc_store_filter_examined(f) == MIXED_PACKETS,
	      "%s: %s examined %lld (last %lld)", what, expression, (long long)total, (long long)examined);
	uint64_t expected = 0;
	for (uint64_t seq = 0; seq < MIXED_PACKETS; seq++)
		expected += want(seq) ? 1 : 0;
	CHECK(rc_selection_count(sel) == expected, "%s: %s matched %llu, want %llu", what, expression,
	      (unsigned long long)rc_selection_count(sel), (unsigned long long)expected);
	uint64_t numbers[MIXED_PACKETS];
	uint32_t got = rc_selection_numbers(sel, 0, numbers, MIXED_PACKETS);
	for (uint32_t i = 0, seq = 0; seq < MIXED_PACKETS && !TOO_MANY_FAILURES; seq++) {
		if (!want(seq))
			continue;
		CHECK(i < got && numbers[i] == seq, "%s: %s: match %u is %llu, want %u", what, expression, i,
		      i < got ? (unsigned long long)numbers[i] : 0ull, seq);
		CHECK(rc_selection_position(sel, seq) == i, "%s: position of %u", what, seq);
		i++;
	}
	rc_selection_free(sel);
	rc_store_filter_free(f);
}

static void check_bad_expression(struct rc_store *s, const char *what)
{
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store_filter *f = NULL;
	CHECK(rc_store_filter_new(s, "tcp port", &f, err, sizeof(err)) == -EINVAL && f == NULL &&
	      strstr(err, "syntax error"), "%s: a bad expression: %s", what, err);
}

struct appender {
	struct rc_store *spool;
};

static void *append_rest(void *arg)
{
	struct appender *a = arg;
	for (uint64_t seq = MIXED_PACKETS / 4; seq < MIXED_PACKETS; seq += 25)
		append_mixed(a->spool, seq, seq + 25);
	return NULL;
}

/* A filter run again and again while a thread appends: every packet is
 * examined once, the matches exactly the TCP ones. */
static void check_live(const char *dir)
{
	struct rc_store *spool = mixed_spool(dir);
	append_mixed(spool, 0, MIXED_PACKETS / 4);
	char err[RC_ERRBUF_SIZE] = "";
	struct rc_store_filter *f;
	REQUIRE(rc_store_filter_new(spool, "tcp", &f, err, sizeof(err)) == 0, "live: %s", err);
	struct rc_selection *sel = rc_selection_new();
	struct appender a = { spool };
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, append_rest, &a) == 0, "thread");
	while (rc_store_filter_examined(f) < MIXED_PACKETS)
		CHECK(rc_store_filter_run(f, sel, 10) >= 0, "live run");
	pthread_join(thread, NULL);
	CHECK(rc_store_filter_run(f, sel, 1000) == 0, "live: nothing new after the end");
	uint64_t expected = (MIXED_PACKETS + 2) / 3;
	CHECK(rc_selection_count(sel) == expected, "live: %llu matches, want %llu",
	      (unsigned long long)rc_selection_count(sel), (unsigned long long)expected);
	uint64_t numbers[MIXED_PACKETS];
	uint32_t got = rc_selection_numbers(sel, 0, numbers, MIXED_PACKETS);
	for (uint32_t i = 0; i < got && !TOO_MANY_FAILURES; i++)
		CHECK(numbers[i] == (uint64_t)i * 3, "live: match %u is %llu", i, (unsigned long long)numbers[i]);
	rc_selection_free(sel);
	rc_store_filter_free(f);
	rc_store_close(spool);
}

static void check_selection_rules(void)
{
	struct rc_selection *sel = rc_selection_new();
	uint64_t some[3] = { 2, 5, 9 };
	CHECK(rc_selection_add(sel, some, 3) == 0, "add");
	uint64_t back[1] = { 9 };
	CHECK(rc_selection_add(sel, back, 1) == -EINVAL, "a number not above the last is refused");
	CHECK(rc_selection_add_range(sel, 5, 12) == -EINVAL, "a range starting below the last is refused");
	CHECK(rc_selection_add_range(sel, 10, 13) == 0 && rc_selection_count(sel) == 6, "range");
	CHECK(rc_selection_position(sel, 0) == 0 && rc_selection_position(sel, 6) == 2 &&
	      rc_selection_position(sel, 100) == 6, "position");
	uint64_t out[8];
	CHECK(rc_selection_numbers(sel, 4, out, 8) == 2 && out[0] == 11 && out[1] == 12, "numbers from 4");
	rc_selection_free(sel);
}

int main(void)
{
	char *dir = make_temp_dir();
	struct rc_store_info info;
	char *path = mixed_pcapng(dir);
	struct rc_store *file = open_indexed(path, &info);
	REQUIRE(info.count == MIXED_PACKETS && info.error == 0, "file indexed: %llu", (unsigned long long)info.count);
	struct rc_store *spool = mixed_spool(dir);
	append_mixed(spool, 0, MIXED_PACKETS);

	struct rc_store *stores[2] = { file, spool };
	const char *names[2] = { "file", "spool" };
	for (int i = 0; i < 2; i++) {
		check_filter(stores[i], names[i], "tcp", 1u << 20, is_tcp);
		check_filter(stores[i], names[i], "tcp", 7, is_tcp);
		check_filter(stores[i], names[i], "tcp and ether src 02:00:00:00:00:01", 64, is_ethernet_tcp);
		check_bad_expression(stores[i], names[i]);
	}
	rc_store_close(spool);
	rc_store_close(file);
	check_live(dir);
	check_selection_rules();
	unlink(path);
	free(path);
	rmdir(dir);
	free(dir);
	return test_result("store_filter_link_types");
}
