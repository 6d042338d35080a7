/* selection_bits.c — a selection and a bitmap over packet numbers (a
 * list's marks): the numbers at a range of positions set their bits, those
 * past the bitmap's end left out and bits already set kept; a selection
 * made from a bitmap holds exactly its set bits in order, appended after
 * what it held, and refuses a bitmap whose lowest bit is not above that. */
#include "helpers.h"

#define NUMBERS 5000u
#define BITMAP_BYTES 4096u /* numbers up to 32767 */

static uint64_t number_at(uint64_t k)
{
	return k * 7 + k % 3; /* ascending, gaps of 6 to 9 */
}

int main(void)
{
	struct rc_selection *sel = rc_selection_new();
	REQUIRE(sel, "selection");
	for (uint64_t k = 0; k < NUMBERS; k++) {
		uint64_t number = number_at(k);
		REQUIRE(rc_selection_add(sel, &number, 1) == 0, "add %llu", (unsigned long long)number);
	}
	uint8_t *bits = calloc(BITMAP_BYTES, 1);
	bits[0] = 0x80; /* number 7: kept */
	uint64_t set = rc_selection_set_bits(sel, 10, NUMBERS + 100, bits, BITMAP_BYTES);
	uint64_t within = 0;
	for (uint64_t k = 10; k < NUMBERS; k++)
		within += number_at(k) / 8 < BITMAP_BYTES;
	CHECK(set == within && within < NUMBERS - 10, "set %llu bits, %llu numbers lie within",
	      (unsigned long long)set, (unsigned long long)within);
	for (uint64_t n = 0; n < BITMAP_BYTES * 8ull && !TOO_MANY_FAILURES; n++) {
		int want = n == 7;
		for (uint64_t k = 10; k < NUMBERS && !want && number_at(k) <= n; k++)
			want = number_at(k) == n;
		CHECK(!!(bits[n / 8] >> (n % 8) & 1) == want, "bit %llu", (unsigned long long)n);
	}
	CHECK(rc_selection_set_bits(sel, 20, 20, bits, BITMAP_BYTES) == 0, "no positions");
	CHECK(rc_selection_set_bits(sel, NUMBERS, NUMBERS + 5, bits, BITMAP_BYTES) == 0, "positions past the end");

	/* back: the set bits, in order, after what the selection held */
	struct rc_selection *back = rc_selection_new();
	uint64_t below = 3;
	REQUIRE(rc_selection_add(back, &below, 1) == 0, "add 3");
	CHECK(rc_selection_add_bits(back, bits, BITMAP_BYTES) == 0 && rc_selection_count(back) == set + 2,
	      "from the bitmap: %llu numbers", (unsigned long long)rc_selection_count(back));
	uint64_t got[3];
	CHECK(rc_selection_numbers(back, 0, got, 3) == 3 && got[0] == 3 && got[1] == 7 && got[2] == number_at(10),
	      "first numbers %llu %llu %llu", (unsigned long long)got[0], (unsigned long long)got[1],
	      (unsigned long long)got[2]);
	for (uint64_t k = 10; k < 10 + set && !TOO_MANY_FAILURES; k++)
		CHECK(rc_selection_numbers(back, k - 8, got, 1) == 1 && got[0] == number_at(k), "position %llu",
		      (unsigned long long)(k - 8));
	uint64_t count = rc_selection_count(back);
	CHECK(rc_selection_add_bits(back, bits, BITMAP_BYTES) == -EINVAL && rc_selection_count(back) == count,
	      "a bitmap below the last number held");
	memset(bits, 0, BITMAP_BYTES);
	CHECK(rc_selection_add_bits(back, bits, BITMAP_BYTES) == 0 && rc_selection_count(back) == count,
	      "an empty bitmap adds nothing");
	rc_selection_free(back);
	rc_selection_free(sel);
	free(bits);
	return test_result("selection_bits");
}
