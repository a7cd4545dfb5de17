// SPDX-License-Identifier: MIT
// Page handles: every operation, saturation, and every misuse panic.
#include "../host/harness.h"

#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

TALLY_SUITE(page)

#define RAM_MIB   8
#define RAM_PAGES (RAM_MIB * 256)

static void setup(void)
{
    sim_ram_setup_simple(RAM_MIB);
}

static void teardown(void)
{
    sim_ram_teardown();
}

static struct frame new_frame(uint16_t vm)
{
    int err;
    struct frame f = frame_alloc((struct frame_meta){.owner_vm = vm}, &err);
    ck_assert_int_eq(err, ERR_OK);
    return f;
}

static uint64_t census_of(enum page_usage u)
{
    struct page_census c;
    page_census(&c);
    return c.by_usage[u];
}

START_TEST(test_from_unused_builds_page_with_one_ref_and_metadata)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(0, &p), ERR_OK);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES - 1);
    struct frame f = frame_from_unused(p, (struct frame_meta){.owner_vm = 7, .share = 1});
    ck_assert_uint_eq(frame_ref_count(f), 1);
    ck_assert_uint_eq(pa_val(frame_paddr(f)), pa_val(p));
    ck_assert_uint_eq(frame_meta(f)->owner_vm, 7);
    ck_assert_uint_eq(frame_meta(f)->share, 1);
    ck_assert_uint_eq(dyn_page_usage(frame_into_dyn(f)), PAGE_FRAME);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 1);
    frame_drop(f);
}
END_TEST

/* --- compound pages: one count for a block ---------------------------------- */

static uint32_t raw_ref(paddr_t p)
{
    return page_slot_ref_count(meta_slot(p));
}

START_TEST(test_block_counts_on_its_head_and_its_tails_name_the_head)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(9, &p), ERR_OK);
    struct frame f = frame_block_from_unused(p, 9, (struct frame_meta){.owner_vm = 4});
    ck_assert_uint_eq(frame_ref_count(f), 1);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 512);
    for (unsigned i = 1; i < 512; i++) {
        ck_assert_uint_eq(raw_ref(pa_add(p, i * PAGE_SIZE)), REF_TAIL + 9);
        ck_assert_uint_eq(page_block_order(pa_add(p, i * PAGE_SIZE)), 9);
    }
    ck_assert_uint_eq(page_block_order(p), 9);
    /* A reference by the address of any page is one on the head. */
    struct dyn_page d;
    ck_assert_int_eq(page_try_get(pa_add(p, 300 * PAGE_SIZE), PAGE_FRAME, &d), ERR_OK);
    ck_assert_ptr_eq(d.slot, f.slot);
    ck_assert_uint_eq(frame_ref_count(f), 2);
    dyn_page_into_raw(d);
    struct dyn_page back = dyn_page_from_raw(pa_add(p, 17 * PAGE_SIZE));
    ck_assert_ptr_eq(back.slot, f.slot);
    dyn_page_drop(back);
    ck_assert_uint_eq(frame_ref_count(f), 1);
    ck_assert_uint_eq(raw_ref(pa_add(p, 511 * PAGE_SIZE)), REF_TAIL + 9);
    /* The last drop returns the block whole: 512 pages, one buddy block. */
    uint64_t free0 = page_alloc_free_pages();
    frame_drop(f);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 512);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    for (unsigned i = 0; i < 512; i++) {
        struct meta_slot *s = meta_slot(pa_add(p, i * PAGE_SIZE));
        ck_assert_uint_eq(page_slot_ref_count(s), REF_UNUSED);
        ck_assert_uint_eq(page_slot_usage(s), PAGE_UNUSED);
        ck_assert(slot_flags(s) & SLOT_F_DIRTY);
    }
    ck_assert_uint_eq(page_block_order(p), 0);
    /* Its tails are no longer a way to the page. */
    ck_assert_int_eq(page_try_get(pa_add(p, 300 * PAGE_SIZE), PAGE_FRAME, &d), ERR_STATE);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1); /* the 8 MiB merged back */
}
END_TEST

START_TEST(test_block_is_zeroed_once_when_typed)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(4, &p), ERR_OK);
    memset(arch_phys_to_virt(p), 0x5a, 16 * PAGE_SIZE);
    /* Handed out clean by a raw free would not happen: page_free marks it. */
    page_free(p, 4);
    ck_assert_int_eq(page_alloc(4, &p), ERR_OK);
    uint64_t z0 = fake_pages_zeroed();
    struct frame f = frame_block_from_unused(p, 4, (struct frame_meta){.owner_vm = 1});
    ck_assert_uint_eq(fake_pages_zeroed() - z0, 16);
    for (unsigned i = 0; i < 16 * PAGE_SIZE; i += 997)
        ck_assert_uint_eq(((uint8_t *)arch_phys_to_virt(p))[i], 0);
    frame_drop(f);
}
END_TEST

static void drop_tail_slot(void *arg)
{
    paddr_t p;
    page_alloc(9, &p);
    frame_block_from_unused(p, 9, (struct frame_meta){0});
    page_slot_drop(meta_slot(pa_add(p, 3 * PAGE_SIZE)));
}

static void block_misaligned(void *arg)
{
    paddr_t p;
    page_alloc(10, &p);
    frame_block_from_unused(pa_add(p, PAGE_SIZE << 8), 9, (struct frame_meta){0});
}

START_TEST(test_block_misuse_panics)
{
    expect_panic(drop_tail_slot, NULL, "drop of page 0x40003000", "a tail page of a block");
    expect_panic(block_misaligned, NULL, "from_unused: block 0x40100000 order 9",
                 "not naturally aligned");
}
END_TEST

START_TEST(test_clone_and_drop_count_exactly)
{
    struct frame f = new_frame(1);
    struct frame g = frame_clone(f);
    struct frame h = frame_clone(g);
    ck_assert_ptr_eq(f.slot, h.slot);
    ck_assert_uint_eq(frame_ref_count(f), 3);
    frame_drop(g);
    ck_assert_uint_eq(frame_ref_count(f), 2);
    frame_drop(h);
    ck_assert_uint_eq(frame_ref_count(f), 1);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES - 1);
    frame_drop(f);
}
END_TEST

START_TEST(test_drop_last_ref_returns_page_to_allocator)
{
    struct frame f = new_frame(1);
    paddr_t p = frame_paddr(f);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 1);
    frame_drop(f);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    ck_assert_uint_eq(census_of(PAGE_UNUSED), RAM_PAGES);
    struct meta_slot *s = meta_slot(p);
    ck_assert_uint_eq(page_slot_ref_count(s), REF_UNUSED);
    ck_assert_uint_eq(page_slot_usage(s), PAGE_UNUSED);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1); /* 8 MiB merged back whole */
}
END_TEST

START_TEST(test_frame_is_zeroed_before_reuse)
{
    struct frame f = new_frame(1);
    paddr_t p = frame_paddr(f);
    memset(frame_data(f), 0xa5, PAGE_SIZE);
    frame_drop(f);
    struct frame g = new_frame(2); /* the per-CPU cache is LIFO: same page */
    ck_assert_uint_eq(pa_val(frame_paddr(g)), pa_val(p));
    const uint8_t *d = frame_data(g);
    for (unsigned i = 0; i < PAGE_SIZE; i++)
        ck_assert_uint_eq(d[i], 0);
    ck_assert_uint_eq(frame_meta(g)->owner_vm, 2);
    frame_drop(g);
}
END_TEST

START_TEST(test_boot_garbage_and_old_data_never_reach_a_new_owner)
{
    /* What firmware left: every page starts dirty and full of it. */
    memset(arch_phys_to_virt(pa(0x40000000)), 0x5a, RAM_PAGES * PAGE_SIZE);
    ck_assert(slot_flags(meta_slot(pa(0x4001f000))) & SLOT_F_DIRTY);
    struct frame f = new_frame(1);
    ck_assert_uint_eq(pa_val(frame_paddr(f)), 0x4001f000);
    ck_assert(!(slot_flags(f.slot) & SLOT_F_DIRTY));
    const uint8_t *d = frame_data(f);
    for (unsigned i = 0; i < PAGE_SIZE; i++)
        ck_assert_uint_eq(d[i], 0);
    /* A raw allocation gets the bytes as they are (and stays dirty). */
    paddr_t raw;
    ck_assert_int_eq(page_alloc(0, &raw), ERR_OK);
    ck_assert_uint_eq(*(uint8_t *)arch_phys_to_virt(raw), 0x5a);
    page_free(raw, 0);
    frame_drop(f);
    ck_assert(slot_flags(meta_slot(pa(0x4001f000))) & SLOT_F_DIRTY);
}
END_TEST

START_TEST(test_into_raw_from_raw_moves_the_reference)
{
    struct frame f = new_frame(1);
    struct frame keep = frame_clone(f);
    paddr_t raw = frame_into_raw(f);
    ck_assert_uint_eq(frame_ref_count(keep), 2);
    ck_assert_uint_eq(atomic_load_u8(&keep.slot->raw, MO_RELAXED), 1);
    struct frame back = frame_from_raw(raw);
    ck_assert_ptr_eq(back.slot, keep.slot);
    ck_assert_uint_eq(frame_ref_count(keep), 2);
    ck_assert_uint_eq(atomic_load_u8(&keep.slot->raw, MO_RELAXED), 0);
    frame_drop(back);
    frame_drop(keep);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
}
END_TEST

/* A 2 MiB block of frames whose references a block entry owns (as raw). */
static paddr_t block_of_frames(struct frame keep[512])
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(9, &p), ERR_OK);
    for (unsigned i = 0; i < 512; i++) {
        struct frame f = frame_from_unused(pa_add(p, i * PAGE_SIZE), (struct frame_meta){0});
        keep[i] = frame_clone(f);
        frame_into_raw(f);
    }
    return p;
}

START_TEST(test_drop_block_returns_a_wholly_released_block_whole)
{
    struct frame keep[512];
    paddr_t p = block_of_frames(keep);
    for (unsigned i = 0; i < 512; i++)
        frame_drop(keep[i]); /* the entry's references remain */
    page_alloc_drain();
    uint64_t blocks9 = page_alloc_free_blocks(9), free0 = page_alloc_free_pages();
    ck_assert_uint_eq(census_of(PAGE_FRAME), 512);
    page_drop_block(p, 9);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 512);
    /* One buddy free of order 9 (merging up from there), no order-0 pages. */
    ck_assert_uint_eq(page_alloc_free_blocks(0), 0);
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1);
    ck_assert_uint_le(page_alloc_free_blocks(9), blocks9);
    for (unsigned i = 0; i < 512; i++)
        ck_assert(slot_flags(meta_slot(pa_add(p, i * PAGE_SIZE))) & SLOT_F_DIRTY);
}
END_TEST

START_TEST(test_drop_block_keeps_pages_still_held_elsewhere)
{
    struct frame keep[512];
    paddr_t p = block_of_frames(keep);
    for (unsigned i = 0; i < 512; i++)
        if (i != 0 && i != 100 && i != 511)
            frame_drop(keep[i]);
    uint64_t free0 = page_alloc_free_pages();
    page_drop_block(p, 9);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 509);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 3);
    ck_assert_uint_eq(frame_ref_count(keep[0]), 1);
    ck_assert_uint_eq(frame_ref_count(keep[100]), 1);
    ck_assert_uint_eq(frame_ref_count(keep[511]), 1);
    ck_assert_uint_eq(page_slot_ref_count(meta_slot(pa_add(p, 99 * PAGE_SIZE))), REF_UNUSED);
    frame_drop(keep[0]);
    frame_drop(keep[100]);
    frame_drop(keep[511]);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1);
}
END_TEST

#define PG(p, i) pa_add((p), (uint64_t)(i)*PAGE_SIZE)

/*
 * A run over pages of their own and two compound pages (as a level-3 table
 * mapping them holds them): each page loses exactly one reference, the
 * compounds' on their heads, and what is released goes back.
 *   page  0..3     own frames, one raw reference each (+ a kept one, but 1)
 *   page  4..7     compound A (order 2): 4 raw references, nothing kept
 *   page  8..15    compound B (order 3): 8 raw references + a kept one
 * The run is pages 1..13.
 */
START_TEST(test_drop_run_drops_one_reference_per_page_across_compound_pages)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(4, &p), ERR_OK);
    struct frame own[4];
    for (unsigned i = 0; i < 4; i++) {
        own[i] = frame_from_unused(PG(p, i), (struct frame_meta){.owner_vm = 2});
        frame_into_raw(frame_clone(own[i]));
    }
    frame_drop(own[1]);
    struct frame a = frame_block_from_unused(PG(p, 4), 2, (struct frame_meta){.owner_vm = 2});
    struct frame b = frame_block_from_unused(PG(p, 8), 3, (struct frame_meta){.owner_vm = 2});
    for (unsigned i = 1; i < 4; i++)
        frame_into_raw(frame_clone(a));
    frame_into_raw(a);
    for (unsigned i = 0; i < 8; i++)
        frame_into_raw(frame_clone(b));
    ck_assert_uint_eq(frame_ref_count(a), 4);
    ck_assert_uint_eq(frame_ref_count(b), 9);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 16);
    uint64_t free0 = page_alloc_free_pages();

    page_drop_run(PG(p, 1), 13);

    ck_assert_uint_eq(frame_ref_count(own[0]), 2);
    ck_assert_uint_eq(raw_ref(PG(p, 1)), REF_UNUSED);
    ck_assert_uint_eq(frame_ref_count(own[2]), 1);
    ck_assert_uint_eq(frame_ref_count(own[3]), 1);
    for (unsigned i = 4; i < 8; i++) {
        ck_assert_uint_eq(raw_ref(PG(p, i)), REF_UNUSED);
        ck_assert_uint_eq(page_slot_usage(meta_slot(PG(p, i))), PAGE_UNUSED);
    }
    ck_assert_uint_eq(frame_ref_count(b), 3);
    for (unsigned i = 9; i < 16; i++)
        ck_assert_uint_eq(raw_ref(PG(p, i)), REF_TAIL + 3);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 5);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 11);
#ifdef TALLY_DEBUG
    /* The raw references taken back, per counting slot. */
    ck_assert_uint_eq(atomic_load_u8(&own[0].slot->raw, MO_RELAXED), 1);
    ck_assert_uint_eq(atomic_load_u8(&own[2].slot->raw, MO_RELAXED), 0);
    ck_assert_uint_eq(atomic_load_u8(&b.slot->raw, MO_RELAXED), 2);
#endif

    page_drop_run(PG(p, 0), 1);
    page_drop_run(PG(p, 14), 2);
    ck_assert_uint_eq(frame_ref_count(b), 1);
    frame_drop(own[0]);
    frame_drop(own[2]);
    frame_drop(own[3]);
    frame_drop(b);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1);
}
END_TEST

/* Pages that all go in one run return as the largest blocks they form: a
 * run of 24 released pages from page 8 of a 32-page block frees an order-3
 * and an order-4 block, no single pages. */
START_TEST(test_drop_run_frees_released_pages_in_aligned_blocks)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(5, &p), ERR_OK);
    for (unsigned i = 0; i < 32; i++)
        frame_into_raw(frame_from_unused(PG(p, i), (struct frame_meta){0}));
    page_drop_run(PG(p, 0), 8);
    page_alloc_drain();
    uint64_t blocks0 = page_alloc_free_blocks(0), free0 = page_alloc_free_pages();
    page_drop_run(PG(p, 8), 24);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 24);
    ck_assert_uint_eq(page_alloc_free_blocks(0), blocks0);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1);
}
END_TEST

START_TEST(test_dyn_page_converts_only_to_its_usage)
{
    struct frame f = new_frame(1);
    struct dyn_page d = frame_into_dyn(f);
    struct pt_page pt;
    struct kstack ks;
    struct frame back;
    ck_assert(!pt_page_from_dyn(d, &pt));
    ck_assert(!kstack_from_dyn(d, &ks));
    ck_assert(frame_from_dyn(d, &back));
    ck_assert_ptr_eq(back.slot, f.slot);
    struct dyn_page d2 = dyn_page_clone(d);
    ck_assert_uint_eq(dyn_page_ref_count(d2), 2);
    dyn_page_drop(d2);
    paddr_t raw = dyn_page_into_raw(d);
    struct dyn_page d3 = dyn_page_from_raw(raw);
    ck_assert_uint_eq(dyn_page_usage(d3), PAGE_FRAME);
    dyn_page_drop(d3);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
}
END_TEST

START_TEST(test_typed_allocs_record_metadata_and_census)
{
    int err;
    struct pt_page pt = pt_page_alloc((struct pt_meta){.stage = 2, .level = 1, .owner = 3}, &err);
    ck_assert_int_eq(err, ERR_OK);
    struct kstack ks = kstack_alloc((struct kstack_meta){.cpu = 2}, &err);
    ck_assert_int_eq(err, ERR_OK);
    ck_assert_uint_eq(pt_page_meta(pt)->stage, 2);
    ck_assert_uint_eq(pt_page_meta(pt)->level, 1);
    ck_assert_uint_eq(pt_page_meta(pt)->nr_valid, 0);
    ck_assert_uint_eq(kstack_meta(ks)->cpu, 2);
    ck_assert_uint_eq(census_of(PAGE_PT), 1);
    ck_assert_uint_eq(census_of(PAGE_KSTACK), 1);
    pt_page_drop(pt);
    kstack_drop(ks);
    ck_assert_uint_eq(census_of(PAGE_PT), 0);
    ck_assert_uint_eq(census_of(PAGE_KSTACK), 0);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
}
END_TEST

START_TEST(test_try_clone_refuses_at_saturation_and_changes_nothing)
{
    struct frame f = new_frame(1);
    /* Stand in for 2^30 - 2 other holders. */
    atomic_store_u32(&f.slot->ref_count, REF_MAX - 1, MO_RELAXED);
    struct frame g = {NULL};
    ck_assert_int_eq(frame_try_clone(f, &g), ERR_OK);
    ck_assert_ptr_eq(g.slot, f.slot);
    ck_assert_uint_eq(frame_ref_count(f), REF_MAX);
    struct frame h = {NULL};
    ck_assert_int_eq(frame_try_clone(f, &h), ERR_BUSY);
    ck_assert_ptr_null(h.slot);
    ck_assert_uint_eq(frame_ref_count(f), REF_MAX);
    frame_drop(g);
    ck_assert_int_eq(frame_try_clone(f, &h), ERR_OK);
    frame_drop(h);
    atomic_store_u32(&f.slot->ref_count, 1, MO_RELAXED);
    frame_drop(f);
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_PAGES);
}
END_TEST

static void clone_saturated(void *arg)
{
    struct frame f = new_frame(1);
    atomic_store_u32(&f.slot->ref_count, REF_MAX, MO_RELAXED);
    frame_clone(f);
}

START_TEST(test_clone_past_saturation_panics)
{
    expect_panic(clone_saturated, NULL, "clone of page 0x4", "usage frame", "saturated");
}
END_TEST

static void double_drop(void *arg)
{
    struct frame f = new_frame(1);
    frame_drop(f);
    frame_drop(f);
}

static void drop_at_zero(void *arg)
{
    struct frame f = new_frame(1);
    atomic_store_u32(&f.slot->ref_count, 0, MO_RELAXED);
    frame_drop(f);
}

START_TEST(test_drop_below_zero_panics_naming_page)
{
    expect_panic(drop_at_zero, NULL, "drop of page 0x4001f000", "usage frame", "drop below zero");
    expect_panic(double_drop, NULL, "drop of page 0x4001f000", "page is unused");
}
END_TEST

static void drop_reserved(void *arg)
{
    struct mem_bank b = {pa(0x40000000), 1 << 20};
    sim_ram_setup(&b, 1, 4);
    struct dyn_page d = {meta_slot(pa(0x40002000))};
    dyn_page_drop(d);
}

static void clone_reserved(void *arg)
{
    struct mem_bank b = {pa(0x40000000), 1 << 20};
    sim_ram_setup(&b, 1, 4);
    struct dyn_page d = {meta_slot(pa(0x40002000))};
    dyn_page_clone(d);
}

START_TEST(test_drop_or_clone_of_untracked_usage_panics)
{
    expect_panic(drop_reserved, NULL, "drop of page 0x40002000", "usage reserved",
                 "untracked usage");
    expect_panic(clone_reserved, NULL, "clone of page 0x40002000", "usage reserved",
                 "untracked usage");
}
END_TEST

static void from_unused_twice(void *arg)
{
    struct frame f = new_frame(1);
    frame_from_unused(frame_paddr(f), (struct frame_meta){0});
}

static void from_unused_free_page(void *arg)
{
    /* Never taken from the allocator: still on a free list. */
    frame_from_unused(pa(0x40000000), (struct frame_meta){0});
}

START_TEST(test_from_unused_of_used_page_panics)
{
    expect_panic(from_unused_twice, NULL, "from_unused: page 0x4001f000", "in use", "usage frame");
    expect_panic(from_unused_free_page, NULL, "page 0x40000000",
                 "still in the allocator's free lists");
}
END_TEST

static void from_raw_unused(void *arg)
{
    frame_from_raw(pa(0x40001000));
}

static void from_raw_without_into_raw(void *arg)
{
    struct frame f = new_frame(1);
    frame_from_raw(frame_paddr(f));
}

static void from_raw_wrong_usage(void *arg)
{
    struct frame f = new_frame(1);
    pt_page_from_raw(frame_into_raw(f));
}

START_TEST(test_from_raw_misuse_panics_in_debug_builds)
{
    expect_panic(from_raw_unused, NULL, "from_raw of page 0x40001000", "unused");
    expect_panic(from_raw_without_into_raw, NULL, "from_raw of page 0x4001f000",
                 "no outstanding into_raw");
    expect_panic(from_raw_wrong_usage, NULL, "from_raw of page 0x4001f000 as page-table",
                 "it is frame");
}
END_TEST

START_TEST(test_try_get_takes_refs_only_on_live_pages_of_the_usage)
{
    struct frame f = new_frame(1);
    struct dyn_page d;
    ck_assert_int_eq(page_try_get(frame_paddr(f), PAGE_FRAME, &d), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(f), 2);
    ck_assert_int_eq(page_try_get(frame_paddr(f), PAGE_PT, &d), ERR_STATE);
    ck_assert_uint_eq(frame_ref_count(f), 2);
    dyn_page_drop(d);
    ck_assert_int_eq(page_try_get(pa(0x40000000), PAGE_UNUSED, &d), ERR_STATE);
    ck_assert_int_eq(page_try_get(pa(0x90000000), PAGE_FRAME, &d), ERR_RANGE);
    atomic_store_u32(&f.slot->ref_count, REF_MAX, MO_RELAXED);
    ck_assert_int_eq(page_try_get(frame_paddr(f), PAGE_FRAME, &d), ERR_BUSY);
    atomic_store_u32(&f.slot->ref_count, 1, MO_RELAXED);
    frame_drop(f);
    ck_assert_int_eq(page_try_get(frame_paddr(f), PAGE_FRAME, &d), ERR_STATE);
}
END_TEST

START_TEST(test_alloc_fails_cleanly_when_memory_is_exhausted)
{
    struct frame all[RAM_PAGES];
    for (unsigned i = 0; i < RAM_PAGES; i++)
        all[i] = new_frame(1);
    int err = 0;
    struct frame none = frame_alloc((struct frame_meta){0}, &err);
    ck_assert_int_eq(err, ERR_NOMEM);
    ck_assert_ptr_null(none.slot);
    ck_assert_uint_eq(census_of(PAGE_FRAME), RAM_PAGES);
    for (unsigned i = 0; i < RAM_PAGES; i++)
        frame_drop(all[i]);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_blocks(11), 1);
}
END_TEST

Suite *page_suite(void)
{
    Suite *s = suite_create("page");
    TCase *tc = tcase_create("handles");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_from_unused_builds_page_with_one_ref_and_metadata);
    tcase_add_test(tc, test_clone_and_drop_count_exactly);
    tcase_add_test(tc, test_drop_last_ref_returns_page_to_allocator);
    tcase_add_test(tc, test_frame_is_zeroed_before_reuse);
    tcase_add_test(tc, test_boot_garbage_and_old_data_never_reach_a_new_owner);
    tcase_add_test(tc, test_into_raw_from_raw_moves_the_reference);
    tcase_add_test(tc, test_drop_block_returns_a_wholly_released_block_whole);
    tcase_add_test(tc, test_drop_block_keeps_pages_still_held_elsewhere);
    tcase_add_test(tc, test_drop_run_drops_one_reference_per_page_across_compound_pages);
    tcase_add_test(tc, test_drop_run_frees_released_pages_in_aligned_blocks);
    tcase_add_test(tc, test_dyn_page_converts_only_to_its_usage);
    tcase_add_test(tc, test_typed_allocs_record_metadata_and_census);
    tcase_add_test(tc, test_try_clone_refuses_at_saturation_and_changes_nothing);
    tcase_add_test(tc, test_try_get_takes_refs_only_on_live_pages_of_the_usage);
    tcase_add_test(tc, test_alloc_fails_cleanly_when_memory_is_exhausted);
    tcase_add_test(tc, test_block_counts_on_its_head_and_its_tails_name_the_head);
    tcase_add_test(tc, test_block_is_zeroed_once_when_typed);
    suite_add_tcase(s, tc);
    TCase *mis = tcase_create("misuse");
    tcase_add_checked_fixture(mis, setup, teardown);
    tcase_add_test(mis, test_clone_past_saturation_panics);
    tcase_add_test(mis, test_block_misuse_panics);
    tcase_add_test(mis, test_drop_below_zero_panics_naming_page);
    tcase_add_test(mis, test_drop_or_clone_of_untracked_usage_panics);
    tcase_add_test(mis, test_from_unused_of_used_page_panics);
    tcase_add_test(mis, test_from_raw_misuse_panics_in_debug_builds);
    suite_add_tcase(s, mis);
    return s;
}
