// SPDX-License-Identifier: MIT
// Buddy allocator: split and merge at every order, exact per-order counts.
#include "../host/harness.h"

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

TALLY_SUITE(page_alloc)

/* 2 GiB at a 1 GiB-aligned base: two order-18 blocks. */
#define BASE  0x40000000ull
#define RAM   (2ull << 30)
#define PAGES (RAM / PAGE_SIZE)

static void setup(void)
{
    struct mem_bank b = {pa(BASE), RAM};
    sim_ram_setup(&b, 1, 0);
}

static void teardown(void)
{
    sim_ram_teardown();
}

static void assert_only_top_blocks(uint64_t n)
{
    for (unsigned k = 0; k < PAGE_MAX_ORDER; k++)
        ck_assert_msg(page_alloc_free_blocks(k) == 0, "order %u has %llu blocks", k,
                      (unsigned long long)page_alloc_free_blocks(k));
    ck_assert_uint_eq(page_alloc_free_blocks(PAGE_MAX_ORDER), n);
}

START_TEST(test_ram_starts_as_max_order_blocks)
{
    ck_assert_uint_eq(page_alloc_free_pages(), PAGES);
    assert_only_top_blocks(2);
}
END_TEST

START_TEST(test_alloc_at_every_order_splits_exactly_and_free_merges_back)
{
    for (unsigned order = 0; order <= PAGE_MAX_ORDER; order++) {
        paddr_t p;
        ck_assert_int_eq(page_alloc(order, &p), ERR_OK);
        ck_assert(IS_ALIGNED(pa_val(p), PAGE_SIZE << order));
        ck_assert_uint_eq(page_alloc_free_pages(), PAGES - (1ull << order));
        if (order == 0) {
            /* The per-CPU cache took a batch of 32 order-0 pages. */
            ck_assert_uint_eq(page_alloc_free_blocks(0), 31);
        } else {
            /* One block of every order from `order` to 17 split off, plus the
             * untouched second 1 GiB block. */
            for (unsigned k = order; k < PAGE_MAX_ORDER; k++)
                ck_assert_uint_eq(page_alloc_free_blocks(k), 1);
            for (unsigned k = 0; k < order; k++)
                ck_assert_uint_eq(page_alloc_free_blocks(k), 0);
            ck_assert_uint_eq(page_alloc_free_blocks(PAGE_MAX_ORDER), 1);
        }
        page_free(p, order);
        page_alloc_drain();
        ck_assert_uint_eq(page_alloc_free_pages(), PAGES);
        assert_only_top_blocks(2);
    }
}
END_TEST

START_TEST(test_buddies_merge_only_when_both_free)
{
    paddr_t a, b;
    ck_assert_int_eq(page_alloc(17, &a), ERR_OK);
    ck_assert_int_eq(page_alloc(17, &b), ERR_OK);
    ck_assert_uint_eq(pa_val(a) ^ pa_val(b), PAGE_SIZE << 17); /* buddies */
    page_free(a, 17);
    ck_assert_uint_eq(page_alloc_free_blocks(17), 1);
    ck_assert_uint_eq(page_alloc_free_blocks(18), 1);
    page_free(b, 17);
    ck_assert_uint_eq(page_alloc_free_blocks(17), 0);
    assert_only_top_blocks(2);
}
END_TEST

START_TEST(test_exhaustion_at_order_returns_nomem_and_changes_nothing)
{
    paddr_t a, b, c;
    ck_assert_int_eq(page_alloc(18, &a), ERR_OK);
    ck_assert_int_eq(page_alloc(18, &b), ERR_OK);
    ck_assert_int_eq(page_alloc(18, &c), ERR_NOMEM);
    ck_assert_int_eq(page_alloc(0, &c), ERR_NOMEM);
    ck_assert_uint_eq(page_alloc_free_pages(), 0);
    ck_assert_int_eq(page_alloc(19, &c), ERR_INVAL);
    page_free(b, 18);
    page_free(a, 18);
    assert_only_top_blocks(2);
}
END_TEST

START_TEST(test_per_cpu_cache_spills_past_its_high_mark)
{
    paddr_t p[100];
    for (unsigned i = 0; i < 100; i++)
        ck_assert_int_eq(page_alloc(0, &p[i]), ERR_OK);
    ck_assert_uint_eq(page_alloc_free_pages(), PAGES - 100);
    for (unsigned i = 0; i < 100; i++)
        page_free(p[i], 0);
    ck_assert_uint_eq(page_alloc_free_pages(), PAGES);
    page_alloc_drain();
    assert_only_top_blocks(2);
}
END_TEST

/*
 * page_alloc_drain() is safe at run time because it touches only the calling
 * CPU's cache: another CPU's cache, which that CPU may be using without any
 * lock, keeps every page (slot flags, links and count untouched) until its
 * owner drains it.
 */
START_TEST(test_drain_touches_only_the_calling_cpus_cache)
{
    paddr_t p[10];
    fake_set_cpu(1);
    for (unsigned i = 0; i < 10; i++)
        ck_assert_int_eq(page_alloc(0, &p[i]), ERR_OK);
    for (unsigned i = 0; i < 10; i++)
        page_free(p[i], 0);
    /* CPU 1's cache: the 22 pages left of the refill of 32, plus the 10. */
    ck_assert_uint_eq(page_alloc_free_blocks(0), 32);
    fake_set_cpu(0);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), PAGES);
    ck_assert_uint_eq(page_alloc_free_blocks(0), 32);
    for (unsigned i = 0; i < 10; i++) {
        struct meta_slot *s = meta_slot(p[i]);
        ck_assert_uint_eq(slot_flags(s) & SLOT_F_PCP, SLOT_F_PCP);
        ck_assert_uint_eq(page_slot_ref_count(s), REF_UNUSED);
    }
    fake_set_cpu(1);
    page_alloc_drain();
    fake_set_cpu(0);
    for (unsigned i = 0; i < 10; i++)
        ck_assert_uint_eq(slot_flags(meta_slot(p[i])) & SLOT_F_PCP, 0);
    assert_only_top_blocks(2);
}
END_TEST

START_TEST(test_blocks_never_cross_bank_edges)
{
    sim_ram_teardown();
    /* 3 MiB + 4 MiB at unaligned offsets: blocks must stay inside each bank. */
    struct mem_bank b[2] = {{pa(0x40100000), 3 << 20}, {pa(0x80200000), 4 << 20}};
    sim_ram_setup(b, 2, 0);
    ck_assert_uint_eq(page_alloc_free_pages(), (7 << 20) / PAGE_SIZE);
    /* bank 0: 1 MiB at 0x40100000 (order 8) + 2 MiB at 0x40200000 (order 9);
     * bank 1: 2 MiB at 0x80200000 and 2 MiB at 0x80400000 (order 9 each):
     * 0x80200000 is not 4 MiB aligned, so no order-10 block exists although
     * bank 1 holds 4 MiB. */
    ck_assert_uint_eq(page_alloc_free_blocks(8), 1);
    ck_assert_uint_eq(page_alloc_free_blocks(9), 3);
    ck_assert_uint_eq(page_alloc_free_blocks(10), 0);
    paddr_t p, q;
    ck_assert_int_eq(page_alloc(10, &p), ERR_NOMEM);
    ck_assert_uint_eq(page_alloc_free_pages(), (7 << 20) / PAGE_SIZE);
    ck_assert_int_eq(page_alloc(9, &p), ERR_OK);
    ck_assert_int_eq(page_alloc(9, &q), ERR_OK);
    page_free(p, 9);
    page_free(q, 9);
    ck_assert_uint_eq(page_alloc_free_blocks(9), 3);
    ck_assert_uint_eq(page_alloc_free_blocks(10), 0);
}
END_TEST

static void free_in_use(void *arg)
{
    int err;
    struct frame f = frame_alloc((struct frame_meta){0}, &err);
    page_free(frame_paddr(f), 0);
}

static void free_twice(void *arg)
{
    paddr_t p;
    page_alloc(3, &p);
    page_free(p, 3);
    page_free(p, 3);
}

/* The review's case: the pair merged back into a larger free block, so the
 * second page is no free head, only a page inside one. */
static void free_inside_merged_block(void *arg)
{
    paddr_t p;
    page_alloc(1, &p);
    page_free(p, 1);
    page_free(pa_add(p, PAGE_SIZE), 0);
}

/* A block whose first page is free inside a larger merged block. */
static void free_block_inside_merged_block(void *arg)
{
    paddr_t p;
    page_alloc(4, &p);
    page_free(p, 4);
    page_free(pa_add(p, 8 * PAGE_SIZE), 3);
}

static void free_misaligned(void *arg)
{
    page_free(pa(BASE + PAGE_SIZE), 1);
}

START_TEST(test_bad_frees_panic)
{
    expect_panic(free_in_use, NULL, "page_free", "in use", "usage frame");
    expect_panic(free_twice, NULL, "page_free", "already free");
    expect_panic(free_inside_merged_block, NULL, "page_free: page 0x80001000 is already free",
                 "free order-18 block at 0x80000000");
    expect_panic(free_block_inside_merged_block, NULL, "page_free: page 0x80008000", "already free",
                 "order-18 block at 0x80000000");
    expect_panic(free_misaligned, NULL, "page_free: bad block 0x40001000 order 1");
}
END_TEST

Suite *page_alloc_suite(void)
{
    Suite *s = suite_create("page_alloc");
    TCase *tc = tcase_create("buddy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ram_starts_as_max_order_blocks);
    tcase_add_test(tc, test_alloc_at_every_order_splits_exactly_and_free_merges_back);
    tcase_add_test(tc, test_buddies_merge_only_when_both_free);
    tcase_add_test(tc, test_exhaustion_at_order_returns_nomem_and_changes_nothing);
    tcase_add_test(tc, test_per_cpu_cache_spills_past_its_high_mark);
    tcase_add_test(tc, test_drain_touches_only_the_calling_cpus_cache);
    tcase_add_test(tc, test_blocks_never_cross_bank_edges);
    tcase_add_test(tc, test_bad_frees_panic);
    suite_add_tcase(s, tc);
    return s;
}
