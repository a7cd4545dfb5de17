// SPDX-License-Identifier: MIT
// Range TLBI encoding (<tally/tlbi_range.h>): the exact operands for chosen
// ranges, and for ranges of many sizes and alignments that the operations
// cover exactly the pages asked for.
#include "../host/harness.h"

#include <stdlib.h>

#include <tally/tlbi_range.h>

TALLY_SUITE(tlbi_range)

#define MAX_OPS 1024 /* 512 maximal ranges of 2^30 pages, and the rest */

static struct tlbi_range_op ops[MAX_OPS];

static unsigned take_apart(uint64_t ipa, uint64_t pages)
{
    struct tlbi_range_iter it = tlbi_range_start(ipa, pages);
    unsigned n = 0;
    while (n < MAX_OPS && tlbi_range_next(&it, &ops[n]))
        n++;
    if (n == MAX_OPS)
        ck_abort_msg("more than %d operations for %llu pages", MAX_OPS - 1,
                     (unsigned long long)pages);
    return n;
}

static void assert_range(const struct tlbi_range_op *op, uint64_t ipa, unsigned scale, unsigned num)
{
    ck_assert(op->range);
    ck_assert_uint_eq(op->ipa, ipa);
    ck_assert_uint_eq(op->scale, scale);
    ck_assert_uint_eq(op->num, num);
}

static void assert_plain(const struct tlbi_range_op *op, uint64_t ipa)
{
    ck_assert(!op->range);
    ck_assert_uint_eq(op->ipa, ipa);
    ck_assert_uint_eq(tlbi_range_operand(op), ipa >> 12);
}

START_TEST(test_two_pages_are_one_range_tlbi_of_scale_0_num_0)
{
    ck_assert_uint_eq(take_apart(0x40000000, 2), 1);
    assert_range(&ops[0], 0x40000000, 0, 0);
    /* TG 4 KiB, SCALE 0, NUM 0, TTL 0, BaseADDR = IPA >> 12. */
    ck_assert_uint_eq(tlbi_range_operand(&ops[0]), (1ull << 46) | 0x40000);
}
END_TEST

START_TEST(test_an_odd_count_starts_with_one_plain_tlbi)
{
    ck_assert_uint_eq(take_apart(0x40001000, 3), 2);
    assert_plain(&ops[0], 0x40001000);
    assert_range(&ops[1], 0x40002000, 0, 0);
    ck_assert_uint_eq(tlbi_range_operand(&ops[1]), (1ull << 46) | 0x40002);
}
END_TEST

START_TEST(test_a_one_page_range_is_one_plain_tlbi)
{
    ck_assert_uint_eq(take_apart(0x8765000, 1), 1);
    assert_plain(&ops[0], 0x8765000);
}
END_TEST

START_TEST(test_a_2mib_block_and_a_gib_are_one_range_tlbi_each)
{
    /* 512 pages = 8 << 6: scale 1, NUM 7. */
    ck_assert_uint_eq(take_apart(0x80200000, 512), 1);
    assert_range(&ops[0], 0x80200000, 1, 7);
    ck_assert_uint_eq(tlbi_range_operand(&ops[0]),
                      (1ull << 46) | (1ull << 44) | (7ull << 39) | 0x80200);
    /* 262144 pages = 4 << 16: scale 3, NUM 3. */
    ck_assert_uint_eq(take_apart(1ull << 30, 262144), 1);
    assert_range(&ops[0], 1ull << 30, 3, 3);
    ck_assert_uint_eq(tlbi_range_operand(&ops[0]),
                      (1ull << 46) | (3ull << 44) | (3ull << 39) | 0x40000);
}
END_TEST

START_TEST(test_each_scale_takes_its_five_bits_of_the_count)
{
    uint64_t ipa = 0x123456000, pages = (22ull << 16) | (3ull << 11) | (6ull << 1) | 1;
    ck_assert_uint_eq(take_apart(ipa, pages), 4);
    assert_plain(&ops[0], ipa);
    assert_range(&ops[1], ipa + 0x1000, 0, 5);
    assert_range(&ops[2], ipa + 0x1000 + (12ull << 12), 2, 2);
    assert_range(&ops[3], ipa + 0x1000 + (12ull << 12) + (6144ull << 12), 3, 21);
    ck_assert_uint_eq(tlbi_range_operand(&ops[3]), (1ull << 46) | (3ull << 44) | (21ull << 39) |
                                                       ((ipa + ((1ull + 12 + 6144) << 12)) >> 12));
}
END_TEST

START_TEST(test_past_8_gib_whole_maximal_ranges_come_first)
{
    uint64_t ipa = 0x10000000000ull, max = 1ull << 21;
    ck_assert_uint_eq(TLBI_RANGE_MAX_PAGES, max);
    ck_assert_uint_eq(take_apart(ipa, 2 * max + 5), 4);
    assert_range(&ops[0], ipa, 3, 31);
    assert_range(&ops[1], ipa + (max << 12), 3, 31);
    assert_plain(&ops[2], ipa + (2 * max << 12));
    assert_range(&ops[3], ipa + ((2 * max + 1) << 12), 0, 1);
    ck_assert_uint_eq(tlbi_range_operand(&ops[0]),
                      (1ull << 46) | (3ull << 44) | (31ull << 39) | (ipa >> 12));
}
END_TEST

/*
 * For every range: the operations are well formed (fields in range, the
 * operand decodes back to them), they follow each other from the first page
 * with no gap and no overlap, and they end exactly at the last page: the
 * union is the range. At most one plain TLBI, at most five operations past
 * the maximal ranges. Small ranges are also checked page by page in a map.
 */
/* A failed condition aborts the test naming the range; a passing one costs
 * nothing (check's own asserts record a checkpoint each, and this runs
 * millions). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("%s fails for %llu pages from %#llx", #cond, (unsigned long long)pages,   \
                         (unsigned long long)ipa);                                                 \
    } while (0)

static void check_covers_exactly(uint64_t ipa, uint64_t pages)
{
    unsigned n = take_apart(ipa, pages), plain = 0;
    uint64_t at = ipa, covered = 0;
    uint8_t *map = pages <= 8192 ? calloc(pages + 2, 1) : NULL;
    for (unsigned i = 0; i < n; i++) {
        const struct tlbi_range_op *op = &ops[i];
        uint64_t arg = tlbi_range_operand(op), len = tlbi_range_op_pages(op);
        CHECK(op->ipa == at);
        if (op->range) {
            CHECK(op->scale <= TLBI_RANGE_SCALE_MAX);
            CHECK(op->num <= TLBI_RANGE_NUM_MAX);
            CHECK(((arg >> 46) & 3) == 1);
            CHECK(((arg >> 44) & 3) == op->scale);
            CHECK(((arg >> 39) & 31) == op->num);
            CHECK(((arg >> 37) & 3) == 0);
            CHECK((arg & ((1ull << 37) - 1)) == (op->ipa >> 12));
            CHECK(len == ((uint64_t)(op->num + 1) << (5 * op->scale + 1)));
        } else {
            plain++;
            CHECK(arg == op->ipa >> 12);
            CHECK(len == 1);
        }
        if (map) {
            uint64_t first = (op->ipa - ipa) / PAGE_SIZE;
            /* Nothing past the range, no page twice. */
            CHECK(first + len <= pages);
            for (uint64_t p = first; p < first + len; p++)
                if (map[p]++)
                    ck_abort_msg("page %llu of %llu from %#llx invalidated twice",
                                 (unsigned long long)p, (unsigned long long)pages,
                                 (unsigned long long)ipa);
        }
        at += len << PAGE_SHIFT;
        covered += len;
    }
    CHECK(covered == pages);
    CHECK(at == ipa + (pages << PAGE_SHIFT));
    CHECK(plain <= 1);
    CHECK(plain == (pages & 1));
    CHECK(n <= pages / TLBI_RANGE_MAX_PAGES + 5);
    if (map) {
        for (uint64_t p = 0; p < pages; p++)
            if (map[p] != 1)
                ck_abort_msg("page %llu of %llu from %#llx missed", (unsigned long long)p,
                             (unsigned long long)pages, (unsigned long long)ipa);
        free(map);
    }
}

static const uint64_t ipas[] = {
    0,        0x1000,     0x2000,     0xf000,      0x10000,           0x1ff000,
    0x200000, 0x40001000, 0x40000000, 0x3fffff000, 0x123456789000ull, (1ull << 48) - (1ull << 34),
};

START_TEST(test_every_small_range_at_every_alignment_is_covered_exactly)
{
    for (unsigned a = 0; a < sizeof(ipas) / sizeof(ipas[0]); a++)
        for (uint64_t pages = 1; pages <= 4200; pages++)
            check_covers_exactly(ipas[a], pages);
}
END_TEST

START_TEST(test_large_ranges_are_covered_exactly)
{
    static const uint64_t sizes[] = {
        (1ull << 21) - 1, 1ull << 21,       (1ull << 21) + 1,
        (1ull << 21) + 2, 3ull << 21,       (3ull << 21) + 7,
        (1ull << 30) - 1, (1ull << 30) + 3, 12345678,
        262144,           262143,           0x1fffff,
        0x155555,         0xaaaaa,          (5ull << 21) + 0xfffff,
    };
    for (unsigned a = 0; a < sizeof(ipas) / sizeof(ipas[0]); a++)
        for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            check_covers_exactly(ipas[a], sizes[i]);
    /* Random counts below 2^24 pages (64 GiB). */
    srand(12);
    for (unsigned i = 0; i < 20000; i++)
        check_covers_exactly((uint64_t)(rand() & 0xfffff) << 12, (uint64_t)(rand() & 0xffffff) + 1);
}
END_TEST

START_TEST(test_an_empty_range_takes_nothing)
{
    struct tlbi_range_iter it = tlbi_range_start(0x1000, 0);
    struct tlbi_range_op op;
    ck_assert(!tlbi_range_next(&it, &op));
}
END_TEST

Suite *tlbi_range_suite(void)
{
    Suite *s = suite_create("tlbi_range");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_two_pages_are_one_range_tlbi_of_scale_0_num_0);
    tcase_add_test(tc, test_an_odd_count_starts_with_one_plain_tlbi);
    tcase_add_test(tc, test_a_one_page_range_is_one_plain_tlbi);
    tcase_add_test(tc, test_a_2mib_block_and_a_gib_are_one_range_tlbi_each);
    tcase_add_test(tc, test_each_scale_takes_its_five_bits_of_the_count);
    tcase_add_test(tc, test_past_8_gib_whole_maximal_ranges_come_first);
    tcase_add_test(tc, test_every_small_range_at_every_alignment_is_covered_exactly);
    tcase_add_test(tc, test_large_ranges_are_covered_exactly);
    tcase_add_test(tc, test_an_empty_range_takes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
