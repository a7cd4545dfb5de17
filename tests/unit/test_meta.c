// SPDX-License-Identifier: MIT
// Slot layout, bank arithmetic and the census at start-up.
#include "../host/harness.h"

#include <stdlib.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

TALLY_SUITE(meta)

START_TEST(test_slot_is_16_bytes_with_fields_where_documented)
{
    ck_assert_uint_eq(sizeof(struct meta_slot), 16);
    ck_assert_uint_eq(offsetof(struct meta_slot, ref_count), 0);
    ck_assert_uint_eq(offsetof(struct meta_slot, usage), 4);
    ck_assert_uint_eq(offsetof(struct meta_slot, m), 8);
    ck_assert_uint_le(sizeof(struct frame_meta), 8);
    ck_assert_uint_le(sizeof(struct pt_meta), 8);
    ck_assert_uint_le(sizeof(struct kstack_meta), 8);
}
END_TEST

START_TEST(test_two_banks_with_hole_cost_no_slots_for_hole)
{
    struct mem_bank b[2] = {{pa(0x100000000ull), 8 << 20}, {pa(0x40000000), 4 << 20}};
    ck_assert_uint_eq(meta_bytes_needed(b, 2), (12u << 20) / PAGE_SIZE * 16);
    sim_ram_setup(b, 2, 0);
    ck_assert_uint_eq(meta_nr_slots(), (12u << 20) / PAGE_SIZE);
    /* banks are sorted: the low one is bank 0 */
    ck_assert_uint_eq(pa_val(meta_bank(0)->base), 0x40000000);
    ck_assert_ptr_null(meta_slot_lookup(pa(0x40000000 + (4 << 20))));
    ck_assert_ptr_null(meta_slot_lookup(pa(0x3ffff000)));
    ck_assert_ptr_null(meta_slot_lookup(pa(0x100000000ull + (8 << 20))));
    struct meta_slot *a = meta_slot(pa(0x40000000 + (4 << 20) - PAGE_SIZE));
    struct meta_slot *c = meta_slot(pa(0x100000000ull));
    ck_assert_ptr_eq(a + 1, c); /* the hole has no slots between them */
    ck_assert_uint_eq(pa_val(meta_slot_paddr(c)), 0x100000000ull);
    ck_assert_uint_eq(pa_val(meta_slot_paddr(a)), 0x40000000 + (4 << 20) - PAGE_SIZE);
    for (uint64_t off = 0; off < (8u << 20); off += 0x3000) {
        paddr_t p = pa(0x100000000ull + ALIGN_DOWN(off, PAGE_SIZE));
        ck_assert_uint_eq(pa_val(meta_slot_paddr(meta_slot(p))), pa_val(p));
    }
    ck_assert_int_eq(meta_bank_of(pa(0x100000000ull + 5)), 1);
    ck_assert_int_eq(meta_bank_of(pa(0x80000000ull)), -1);
    sim_ram_teardown();
}
END_TEST

START_TEST(test_meta_init_rejects_bad_banks)
{
    static struct meta_slot mem[64];
    struct mem_bank unaligned = {pa(0x40000800), 1 << 20};
    ck_assert_int_eq(meta_init(&unaligned, 1, mem), ERR_ALIGN);
    struct mem_bank odd_size = {pa(0x40000000), (1 << 20) + 8};
    ck_assert_int_eq(meta_init(&odd_size, 1, mem), ERR_ALIGN);
    struct mem_bank overlap[2] = {{pa(0x40000000), 2 << 20}, {pa(0x40100000), 2 << 20}};
    ck_assert_int_eq(meta_init(overlap, 2, mem), ERR_INVAL);
    struct mem_bank empty = {pa(0x40000000), 0};
    ck_assert_int_eq(meta_init(&empty, 1, mem), ERR_INVAL);
    ck_assert_int_eq(meta_init(overlap, 0, mem), ERR_INVAL);
    ck_assert_int_eq(meta_init(overlap, META_MAX_BANKS + 1, mem), ERR_INVAL);
}
END_TEST

START_TEST(test_census_after_setup_counts_reserved_and_free)
{
    struct mem_bank b = {pa(0x40000000), 16 << 20};
    sim_ram_setup(&b, 1, 10);
    struct page_census c;
    page_census(&c);
    ck_assert_uint_eq(c.total, 4096);
    ck_assert_uint_eq(c.free, 4086);
    ck_assert_uint_eq(c.by_usage[PAGE_RESERVED], 10);
    ck_assert_uint_eq(c.by_usage[PAGE_UNUSED], 4086);
    ck_assert_uint_eq(c.unused, 0);
    meta_mark_fixed(pa(0x40000000), 3, PAGE_HYP);
    meta_mark_fixed(pa(0x40003000), 2, PAGE_META);
    page_census(&c);
    ck_assert_uint_eq(c.by_usage[PAGE_RESERVED], 5);
    ck_assert_uint_eq(c.by_usage[PAGE_HYP], 3);
    ck_assert_uint_eq(c.by_usage[PAGE_META], 2);
    ck_assert_uint_eq(page_slot_usage(meta_slot(pa(0x40001000))), PAGE_HYP);
    ck_assert_uint_eq(page_slot_ref_count(meta_slot(pa(0x40001000))), REF_FIXED);
    sim_ram_teardown();
}
END_TEST

START_TEST(test_lookup_of_non_ram_panics)
{
    sim_ram_setup_simple(4);
    meta_slot(pa(0x80000000));
}
END_TEST

START_TEST(test_mark_fixed_of_free_page_panics)
{
    sim_ram_setup_simple(4);
    meta_mark_fixed(pa(0x40000000), 1, PAGE_HYP);
}
END_TEST

START_TEST(test_usage_names)
{
    ck_assert_str_eq(page_usage_name(PAGE_FRAME), "frame");
    ck_assert_str_eq(page_usage_name(PAGE_PT), "page-table");
    ck_assert_str_eq(page_usage_name(PAGE_KSTACK), "kernel-stack");
    ck_assert_str_eq(page_usage_name(PAGE_USAGE_COUNT), "invalid");
    ck_assert_str_eq(tally_strerror(ERR_BUSY), "reference count saturated");
}
END_TEST

Suite *meta_suite(void)
{
    Suite *s = suite_create("meta");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_slot_is_16_bytes_with_fields_where_documented);
    tcase_add_test(tc, test_two_banks_with_hole_cost_no_slots_for_hole);
    tcase_add_test(tc, test_meta_init_rejects_bad_banks);
    tcase_add_test(tc, test_census_after_setup_counts_reserved_and_free);
    tcase_add_test_raise_signal(tc, test_lookup_of_non_ram_panics, SIGABRT);
    tcase_add_test_raise_signal(tc, test_mark_fixed_of_free_page_panics, SIGABRT);
    tcase_add_test(tc, test_usage_names);
    suite_add_tcase(s, tc);
    return s;
}
