// SPDX-License-Identifier: MIT
// Page-table engine: raw descriptors level by level (Hafnium mm_test style)
// for both formats, block splits with exact per-page counts, break-before-
// make and TLBI ordering through the fake arch, and every bad-input code
// with tables and census left exactly as they were.
#include "../host/harness.h"

#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

TALLY_SUITE(pgtable)

#define SMALL_MIB 64
#define BIG_MIB   2048
#define MiB       (1ull << 20)
#define GiB       (1ull << 30)
#define VMID      5
#define OWNER     3

/* Expected descriptors, spelled out bit by bit (not via the engine):
 * stage-2 Normal WB read-write never-execute = MemAttr 1111 (0x3c) | S2AP 11
 * (0xc0) | SH 11 (0x300) | AF (0x400) | XN (bit 54). */
#define S2_RW_XN   (0x7fcull | (1ull << 54))
#define TYPE_PAGE  0x3ull
#define TYPE_BLOCK 0x1ull
#define TYPE_TABLE 0x3ull
#define OWNED      (1ull << 55)

static void setup_small(void)
{
    sim_ram_setup_simple(SMALL_MIB);
    fake_events_reset();
}

static void setup_big(void)
{
    sim_ram_setup_simple(BIG_MIB);
    fake_events_reset();
}

static void teardown(void)
{
    fake_event_hook = NULL;
    sim_ram_teardown();
}

/* --- helpers ---------------------------------------------------------------- */

static uint64_t census_of(enum page_usage u)
{
    struct page_census c;
    page_census(&c);
    return c.by_usage[u];
}

/* 2^order contiguous, aligned frames, each holding one reference (ours). */
static paddr_t frames(unsigned order)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(order, &p), ERR_OK);
    for (uint64_t i = 0; i < (1ull << order); i++)
        frame_from_unused(pa_add(p, i * PAGE_SIZE), (struct frame_meta){.owner_vm = OWNER});
    return p;
}

static struct frame frame_at(paddr_t p)
{
    return (struct frame){meta_slot(p)};
}

static uint32_t ref_of(paddr_t p)
{
    return page_slot_ref_count(meta_slot(p));
}

static void drop_frames(paddr_t p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        frame_drop(frame_at(pa_add(p, i * PAGE_SIZE)));
}

/* Every page of [p, p+n) has exactly this count. */
static void assert_refs(paddr_t p, uint64_t n, uint32_t want)
{
    for (uint64_t i = 0; i < n; i++)
        if (ref_of(pa_add(p, i * PAGE_SIZE)) != want)
            ck_abort_msg("page %#llx: ref %u, want %u",
                         (unsigned long long)pa_val(pa_add(p, i * PAGE_SIZE)),
                         ref_of(pa_add(p, i * PAGE_SIZE)), want);
}

static pte_t *table_of(pte_t e)
{
    return arch_phys_to_virt(pa(e & PTE_OA_MASK));
}

static struct pt_meta *meta_of(pte_t e)
{
    return &meta_slot(pa(e & PTE_OA_MASK))->m.pt;
}

static pte_t *root_of(struct aspace *as)
{
    return arch_phys_to_virt(aspace_root_pa(as));
}

static unsigned nonzero_entries(const pte_t *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < PTE_PER_TABLE; i++)
        n += t[i] != 0;
    return n;
}

/* The table entry at index i of t, checked to be a bare table descriptor
 * (no attribute bits) whose table has the given metadata. */
static pte_t *expect_table(const pte_t *t, unsigned i, unsigned level, unsigned nr_valid)
{
    pte_t e = t[i];
    ck_assert_uint_eq(e & ~PTE_OA_MASK, TYPE_TABLE);
    struct pt_meta *m = meta_of(e);
    ck_assert_uint_eq(m->level, level);
    ck_assert_uint_eq(m->nr_valid, nr_valid);
    ck_assert_uint_eq(m->owner, OWNER);
    ck_assert_uint_eq(page_slot_usage(meta_slot(pa(e & PTE_OA_MASK))), PAGE_PT);
    return table_of(e);
}

/* A fingerprint of the whole tree: every table's address, metadata and all
 * its entries, depth first. Equal fingerprints: unchanged tables. */
static uint64_t fold(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull;
}

static uint64_t tree_hash(const pte_t *t, unsigned level, uint64_t h)
{
    for (unsigned i = 0; i < PTE_PER_TABLE; i++) {
        h = fold(h, t[i]);
        if (pte_is_valid(t[i]) && pte_is_table(t[i], level)) {
            struct pt_meta *m = meta_of(t[i]);
            h = fold(h, ((uint64_t)m->level << 32) | m->nr_valid);
            h = tree_hash(table_of(t[i]), level + 1, h);
        }
    }
    return h;
}

static uint64_t snapshot(struct aspace *as)
{
    return tree_hash(root_of(as), as->start_level, 0xcbf29ce484222325ull);
}

static unsigned tlbi_events(void)
{
    return fake_events_count() - fake_events_of(EV_PTE_SYNC);
}

static bool is_tlbi(enum fake_event_kind k)
{
    return k != EV_PTE_SYNC;
}

/* What the hook saw at each TLBI: the watched descriptor, a watched page's
 * count, free pages and page-table pages. */
#define HOOK_MAX 16
static struct {
    const pte_t *watch;
    paddr_t ref_page;
    unsigned n;
    pte_t seen[HOOK_MAX];
    uint32_t ref[HOOK_MAX];
    uint64_t pt_pages[HOOK_MAX];
    enum fake_event_kind kind[HOOK_MAX];
} hk;

static void hook(const struct fake_event *ev)
{
    if (!is_tlbi(ev->kind) || hk.n == HOOK_MAX)
        return;
    hk.kind[hk.n] = ev->kind;
    hk.seen[hk.n] = hk.watch ? *hk.watch : 0;
    hk.ref[hk.n] = ref_of(hk.ref_page);
    hk.pt_pages[hk.n] = census_of(PAGE_PT);
    hk.n++;
}

static void hook_arm(const pte_t *watch, paddr_t ref_page)
{
    memset(&hk, 0, sizeof(hk));
    hk.watch = watch;
    hk.ref_page = ref_page;
    fake_event_hook = hook;
}

static struct aspace s2_40(void)
{
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE2, 40, VMID, OWNER), ERR_OK);
    return as;
}

/* --- address spaces ------------------------------------------------------------ */

START_TEST(test_init_picks_start_level_and_register_fields)
{
    static const struct {
        unsigned bits, level;
    } cases[] = {{25, 2}, {30, 2}, {31, 1}, {32, 1}, {39, 1}, {40, 0}, {44, 0}, {48, 0}};
    uint64_t free0 = page_alloc_free_pages();
    for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
        struct aspace as;
        ck_assert_int_eq(aspace_init(&as, PT_STAGE2, cases[i].bits, 0x1234, OWNER), ERR_OK);
        ck_assert_uint_eq(as.start_level, cases[i].level);
        ck_assert_uint_eq(pt_start_level(cases[i].bits), cases[i].level);
        ck_assert_uint_eq(aspace_vtcr_t0sz_sl0(&as),
                          (64 - cases[i].bits) | ((2 - cases[i].level) << 6));
        ck_assert_uint_eq(aspace_tcr_t0sz(&as), 64 - cases[i].bits);
        ck_assert_uint_eq(aspace_vttbr(&as), pa_val(aspace_root_pa(&as)) | (0x1234ull << 48));
        ck_assert_uint_eq(nonzero_entries(root_of(&as)), 0);
        struct pt_meta *m = &meta_slot(aspace_root_pa(&as))->m.pt;
        ck_assert_uint_eq(m->stage, 2);
        ck_assert_uint_eq(m->level, cases[i].level);
        ck_assert_uint_eq(m->nr_valid, 0);
        ck_assert_uint_eq(census_of(PAGE_PT), 1);
        ck_assert_uint_eq(as.nr_tables, 1);
        aspace_destroy(&as);
        ck_assert_uint_eq(census_of(PAGE_PT), 0);
    }
    /* 40-bit IPA: T0SZ 24, SL0 2 (level 0); 48-bit VA: TCR T0SZ 16. */
    struct aspace as = s2_40();
    ck_assert_uint_eq(aspace_vtcr_t0sz_sl0(&as), 0x98);
    aspace_destroy(&as);
    ck_assert_int_eq(aspace_init(&as, PT_STAGE1_EL2, 48, 0, OWNER_HYP), ERR_OK);
    ck_assert_uint_eq(aspace_tcr_t0sz(&as), 16);
    aspace_destroy(&as);
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
}
END_TEST

START_TEST(test_init_rejects_bad_stage_and_input_size)
{
    uint64_t free0 = page_alloc_free_pages();
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, (enum pt_stage)3, 40, 0, 0), ERR_INVAL);
    ck_assert_int_eq(aspace_init(&as, (enum pt_stage)0, 40, 0, 0), ERR_INVAL);
    ck_assert_int_eq(aspace_init(&as, PT_STAGE2, 24, 0, 0), ERR_INVAL);
    ck_assert_int_eq(aspace_init(&as, PT_STAGE2, 49, 0, 0), ERR_INVAL);
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
    ck_assert_uint_eq(census_of(PAGE_PT), 0);
}
END_TEST

/* --- raw descriptors ---------------------------------------------------------------- */

START_TEST(test_s2_page_descriptors_level_by_level)
{
    struct aspace as = s2_40();
    paddr_t f = frames(0);
    /* Index 1 at every level. */
    uint64_t ia = (1ull << 39) | (1ull << 30) | (1ull << 21) | (1ull << 12);
    ck_assert_int_eq(pt_map_frames(&as, ia, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);

    pte_t *l0 = root_of(&as);
    ck_assert_uint_eq(nonzero_entries(l0), 1);
    ck_assert_uint_eq(meta_slot(aspace_root_pa(&as))->m.pt.nr_valid, 1);
    pte_t *l1 = expect_table(l0, 1, 1, 1);
    ck_assert_uint_eq(nonzero_entries(l1), 1);
    pte_t *l2 = expect_table(l1, 1, 2, 1);
    ck_assert_uint_eq(nonzero_entries(l2), 1);
    pte_t *l3 = expect_table(l2, 1, 3, 1);
    ck_assert_uint_eq(nonzero_entries(l3), 1);
    ck_assert_uint_eq(l3[1], pa_val(f) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(l3[1], 0x00c00000000007ffull | pa_val(f));

    ck_assert_uint_eq(ref_of(f), 2);
    ck_assert_uint_eq(as.nr_tables, 4);
    ck_assert_uint_eq(census_of(PAGE_PT), 4);
    /* A fresh mapping needs no invalidation. */
    ck_assert_uint_eq(tlbi_events(), 0);
    ck_assert_uint_ge(fake_events_of(EV_PTE_SYNC), 1);

    paddr_t got;
    unsigned prot, level;
    bool owned;
    ck_assert_int_eq(pt_lookup(&as, ia + 0x123, &got, &prot, &level, &owned), ERR_OK);
    ck_assert_uint_eq(pa_val(got), pa_val(f) + 0x123);
    ck_assert_uint_eq(prot, PT_R | PT_W);
    ck_assert_uint_eq(level, 3);
    ck_assert(owned);
    ck_assert_int_eq(pt_lookup(&as, ia + PAGE_SIZE, NULL, NULL, NULL, NULL), ERR_NOENT);

    aspace_destroy(&as);
    ck_assert_uint_eq(ref_of(f), 1);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_s1_descriptors_encode_ap_xn_attrindx)
{
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE1_EL2, 48, 0, OWNER), ERR_OK);
    paddr_t f = frames(2);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x40001000, pa_add(f, 0x1000), PAGE_SIZE, PT_R | PT_X),
                     ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x40002000, pa_add(f, 0x2000), PAGE_SIZE, PT_R | PT_W),
                     ERR_OK);
    ck_assert_int_eq(
        pt_map_phys(&as, 0x09000000, pa(0x09000000), PAGE_SIZE, PT_R | PT_W | PT_DEVICE), ERR_OK);

    pte_t *l1 = expect_table(root_of(&as), 0, 1, 2);
    pte_t *l2 = expect_table(l1, 1, 2, 1);
    pte_t *l3 = expect_table(l2, 0, 3, 3);
    /* AttrIndx 0, AP[1] RES1 (0x40), SH 11, AF; AP[2] RO 0x80; XN bit 54. */
    ck_assert_uint_eq(l3[0], pa_val(f) | 0x00c00000000007c3ull);
    ck_assert_uint_eq(l3[1], (pa_val(f) + 0x1000) | 0x00800000000007c3ull);
    ck_assert_uint_eq(l3[2], (pa_val(f) + 0x2000) | 0x0080000000000743ull | (1ull << 54));
    /* Device-nGnRE: AttrIndx 1 (0x4), no ownership. */
    pte_t *d2 = expect_table(l1, 0, 2, 1);
    pte_t *d3 = expect_table(d2, 72, 3, 1);
    ck_assert_uint_eq(d3[0], 0x0040000009000747ull);

    unsigned prot;
    bool owned;
    ck_assert_int_eq(pt_lookup(&as, 0x09000000, NULL, &prot, NULL, &owned), ERR_OK);
    ck_assert_uint_eq(prot, PT_R | PT_W | PT_DEVICE);
    ck_assert(!owned);
    ck_assert_int_eq(pt_lookup(&as, 0x40001000, NULL, &prot, NULL, &owned), ERR_OK);
    ck_assert_uint_eq(prot, PT_R | PT_X);
    ck_assert(owned);
    ck_assert_uint_eq(TALLY_MAIR_EL2, 0x04ff);

    aspace_destroy(&as);
    assert_refs(f, 4, 1);
    drop_frames(f, 4);
}
END_TEST

START_TEST(test_s1_block_descriptors_at_level_1_and_2)
{
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE1_EL2, 48, 0, OWNER), ERR_OK);
    ck_assert_int_eq(pt_map_phys(&as, 0x80000000, pa(0x80000000), GiB, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(pt_map_phys(&as, 0x08000000, pa(0x08000000), 2 * MiB, PT_R | PT_W | PT_DEVICE),
                     ERR_OK);
    pte_t *l1 = expect_table(root_of(&as), 0, 1, 2);
    /* 1 GiB block: type 01, AttrIndx 0, AP[1], SH, AF, XN. */
    ck_assert_uint_eq(l1[2], 0x0040000080000741ull);
    pte_t *l2 = expect_table(l1, 0, 2, 1);
    /* 2 MiB device block: AttrIndx 1. */
    ck_assert_uint_eq(l2[64], 0x0040000008000745ull);
    ck_assert_uint_eq(as.nr_tables, 3);
    unsigned level;
    ck_assert_int_eq(pt_lookup(&as, 0xbfffffff, NULL, NULL, &level, NULL), ERR_OK);
    ck_assert_uint_eq(level, 1);
    aspace_destroy(&as);
    ck_assert_uint_eq(census_of(PAGE_PT), 0);
}
END_TEST

START_TEST(test_s2_fwb_forces_write_back_for_normal_memory_only)
{
    pt_set_stage2_fwb(true);
    struct aspace as = s2_40();
    paddr_t f = frames(0);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(
        pt_map_phys(&as, 0x09000000, pa(0x09000000), PAGE_SIZE, PT_R | PT_W | PT_DEVICE), ERR_OK);
    pte_t *l1 = expect_table(root_of(&as), 0, 1, 2);
    pte_t *l3 = expect_table(expect_table(l1, 1, 2, 1), 0, 3, 1);
    /* MemAttr 0110 (0x18): Normal Write-Back whatever the guest's stage 1 says. */
    ck_assert_uint_eq(l3[0], pa_val(f) | 0x00c00000000007dbull);
    pte_t *d3 = expect_table(expect_table(l1, 0, 2, 1), 72, 3, 1);
    /* Device-nGnRE is encoded as without FWB: MemAttr 0001 (0x4). */
    ck_assert_uint_eq(d3[0], 0x09000000ull | 0x00400000000007c7ull);
    paddr_t got;
    unsigned prot, level;
    bool owned;
    ck_assert_int_eq(pt_lookup(&as, 0x40000000, &got, &prot, &level, &owned), ERR_OK);
    ck_assert_uint_eq(prot, PT_R | PT_W);
    ck_assert_int_eq(pt_lookup(&as, 0x09000000, &got, &prot, &level, &owned), ERR_OK);
    ck_assert_uint_eq(prot, PT_R | PT_W | PT_DEVICE);
    pt_set_stage2_fwb(false);
    aspace_destroy(&as);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_s2_2m_block_owns_one_ref_per_page)
{
    struct aspace as = s2_40();
    paddr_t f = frames(9);
    ck_assert_int_eq(pt_map_frames(&as, 0x40200000, f, 2 * MiB, PT_R | PT_W | PT_X), ERR_OK);
    pte_t *l1 = expect_table(root_of(&as), 0, 1, 1);
    pte_t *l2 = expect_table(l1, 1, 2, 1);
    /* Block: bits[1:0] = 01, executable (no XN). */
    ck_assert_uint_eq(l2[1], pa_val(f) | 0x7fcull | OWNED | TYPE_BLOCK);
    ck_assert_uint_eq(as.nr_tables, 3);
    assert_refs(f, 512, 2);

    paddr_t got;
    unsigned level;
    ck_assert_int_eq(pt_lookup(&as, 0x40200000 + 0x1ff123, &got, NULL, &level, NULL), ERR_OK);
    ck_assert_uint_eq(pa_val(got), pa_val(f) + 0x1ff123);
    ck_assert_uint_eq(level, 2);

    aspace_destroy(&as);
    assert_refs(f, 512, 1);
    drop_frames(f, 512);
}
END_TEST

START_TEST(test_s2_1g_block_owns_one_ref_per_page)
{
    struct aspace as = s2_40();
    paddr_t f = frames(18);
    uint64_t free0 = page_alloc_free_pages();
    ck_assert_int_eq(pt_map_frames(&as, 1 * GiB, f, GiB, PT_R | PT_W), ERR_OK);
    pte_t *l1 = expect_table(root_of(&as), 0, 1, 1);
    ck_assert_uint_eq(l1[1], pa_val(f) | S2_RW_XN | OWNED | TYPE_BLOCK);
    ck_assert_uint_eq(as.nr_tables, 2);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 - 1);
    assert_refs(f, 1ull << 18, 2);
    unsigned level;
    ck_assert_int_eq(pt_lookup(&as, 1 * GiB + 0x3fffffff, NULL, NULL, &level, NULL), ERR_OK);
    ck_assert_uint_eq(level, 1);
    aspace_destroy(&as);
    assert_refs(f, 1ull << 18, 1);
    drop_frames(f, 1ull << 18);
}
END_TEST

START_TEST(test_map_uses_pages_where_pa_is_not_block_aligned)
{
    struct aspace as = s2_40();
    paddr_t f = frames(10);
    /* ia 2 MiB aligned, pa 4 KiB past a 2 MiB boundary: no block possible. */
    paddr_t p = pa_add(f, PAGE_SIZE);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, p, 2 * MiB, PT_R | PT_W), ERR_OK);
    pte_t *l2 = expect_table(expect_table(root_of(&as), 0, 1, 1), 1, 2, 1);
    pte_t *l3 = expect_table(l2, 0, 3, 512);
    for (unsigned i = 0; i < 512; i++)
        ck_assert_uint_eq(l3[i], (pa_val(p) + i * PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    assert_refs(p, 512, 2);
    aspace_destroy(&as);
    assert_refs(f, 1024, 1);
    drop_frames(f, 1024);
}
END_TEST

START_TEST(test_map_mixed_range_uses_largest_leaf_that_fits)
{
    struct aspace as = s2_40();
    paddr_t f = frames(11); /* 8 MiB, 8 MiB aligned */
    /* [2M - 4K, 4M + 4K): one page, one 2 MiB block, one page. */
    uint64_t ia = 0x40000000 + 2 * MiB - PAGE_SIZE;
    paddr_t p = pa_add(f, 2 * MiB - PAGE_SIZE);
    ck_assert_int_eq(pt_map_frames(&as, ia, p, 2 * MiB + 2 * PAGE_SIZE, PT_R | PT_W), ERR_OK);
    pte_t *l2 = expect_table(expect_table(root_of(&as), 0, 1, 1), 1, 2, 3);
    pte_t *a = expect_table(l2, 0, 3, 1);
    ck_assert_uint_eq(a[511], pa_val(p) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(l2[1], (pa_val(f) + 2 * MiB) | S2_RW_XN | OWNED | TYPE_BLOCK);
    pte_t *b = expect_table(l2, 2, 3, 1);
    ck_assert_uint_eq(b[0], (pa_val(f) + 4 * MiB) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(as.nr_tables, 5);
    assert_refs(p, 514, 2);
    assert_refs(f, 511, 1);
    aspace_destroy(&as);
    assert_refs(f, 2048, 1);
    drop_frames(f, 2048);
}
END_TEST

START_TEST(test_map_phys_owns_no_references)
{
    struct aspace as = s2_40();
    /* 2 MiB + 4 KiB of MMIO: one device block, one device page. */
    ck_assert_int_eq(
        pt_map_phys(&as, 0x08000000, pa(0x08000000), 2 * MiB + PAGE_SIZE, PT_R | PT_W | PT_DEVICE),
        ERR_OK);
    pte_t *l2 = expect_table(expect_table(root_of(&as), 0, 1, 1), 0, 2, 2);
    /* MemAttr 0001 (0x4), S2AP 11, SH, AF, XN; no software bit. */
    ck_assert_uint_eq(l2[64], 0x0040000008000000ull | 0x7c4ull | TYPE_BLOCK);
    pte_t *l3 = expect_table(l2, 65, 3, 1);
    ck_assert_uint_eq(l3[0], 0x0040000008200000ull | 0x7c4ull | TYPE_PAGE);
    bool owned = true;
    unsigned prot;
    ck_assert_int_eq(pt_lookup(&as, 0x08200000, NULL, &prot, NULL, &owned), ERR_OK);
    ck_assert(!owned);
    ck_assert_uint_eq(prot, PT_R | PT_W | PT_DEVICE);
    uint64_t free0 = page_alloc_free_pages();
    ck_assert_int_eq(pt_unmap(&as, 0x08000000, 2 * MiB + PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(as.nr_tables, 1);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 3);
    aspace_destroy(&as);
}
END_TEST

START_TEST(test_map_phys_of_tracked_ram_stage2_refused_stage1_untouched)
{
    struct aspace s2 = s2_40(), s1;
    ck_assert_int_eq(aspace_init(&s1, PT_STAGE1_EL2, 40, 0, OWNER), ERR_OK);
    paddr_t f = frames(0);
    uint64_t h = snapshot(&s2);
    ck_assert_int_eq(pt_map_phys(&s2, 0x40000000, f, PAGE_SIZE, PT_R), ERR_STATE);
    ck_assert_uint_eq(snapshot(&s2), h);
    ck_assert_int_eq(pt_map_phys(&s1, 0x40000000, f, PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_uint_eq(ref_of(f), 1);
    bool owned = true;
    ck_assert_int_eq(pt_lookup(&s1, 0x40000000, NULL, NULL, NULL, &owned), ERR_OK);
    ck_assert(!owned);
    aspace_destroy(&s1);
    aspace_destroy(&s2);
    ck_assert_uint_eq(ref_of(f), 1);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_kstack_pages_map_with_a_reference)
{
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE1_EL2, 40, 0, OWNER_HYP), ERR_OK);
    int err;
    struct kstack k = kstack_alloc((struct kstack_meta){.cpu = 1}, &err);
    ck_assert_int_eq(err, ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x80000000, kstack_paddr(k), PAGE_SIZE, PT_R | PT_W),
                     ERR_OK);
    ck_assert_uint_eq(kstack_ref_count(k), 2);
    aspace_destroy(&as);
    ck_assert_uint_eq(kstack_ref_count(k), 1);
    kstack_drop(k);
}
END_TEST

struct walk_count {
    unsigned pre, leaf, post, stop_after;
    uint64_t last_ia;
};

static int count_pre(const struct pt_visit *v, void *ctx)
{
    struct walk_count *c = ctx;
    ck_assert(pte_is_table(v->pte, v->level));
    ck_assert_uint_eq(pa_val(pt_page_paddr(v->next)), v->pte & PTE_OA_MASK);
    c->pre++;
    return 0;
}

static int count_leaf(const struct pt_visit *v, void *ctx)
{
    struct walk_count *c = ctx;
    ck_assert(pte_is_leaf(v->pte, v->level));
    ck_assert_uint_ge(v->ia, c->last_ia);
    c->last_ia = v->ia;
    c->leaf++;
    return c->stop_after && c->leaf == c->stop_after ? 42 : 0;
}

static int count_post(const struct pt_visit *v, void *ctx)
{
    ((struct walk_count *)ctx)->post++;
    return 0;
}

START_TEST(test_walk_visits_tables_and_leaves_in_order)
{
    struct aspace as = s2_40();
    paddr_t f = frames(10);
    /* A 2 MiB block and 3 pages in another L3 table. */
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 2 * MiB, PT_R), ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x40400000, pa_add(f, 2 * MiB), 3 * PAGE_SIZE, PT_R),
                     ERR_OK);
    struct pt_visitor v = {count_pre, count_leaf, count_post};
    struct walk_count c = {0};
    ck_assert_int_eq(pt_walk(&as, 0, 1ull << 40, &v, &c), 0);
    /* Tables: L1, L2, one L3. Leaves: 1 block + 3 pages. */
    ck_assert_uint_eq(c.pre, 3);
    ck_assert_uint_eq(c.post, 3);
    ck_assert_uint_eq(c.leaf, 4);
    struct walk_count d = {.stop_after = 2};
    ck_assert_int_eq(pt_walk(&as, 0, 1ull << 40, &v, &d), 42);
    ck_assert_uint_eq(d.leaf, 2);
    struct walk_count e = {0};
    ck_assert_int_eq(pt_walk(&as, 0x40401000, PAGE_SIZE, &v, &e), 0);
    ck_assert_uint_eq(e.leaf, 1);
    ck_assert_int_eq(pt_walk(&as, 0x40401001, PAGE_SIZE, &v, &e), ERR_ALIGN);
    aspace_destroy(&as);
    drop_frames(f, 1024);
}
END_TEST

/* --- unmap, protect, splits, TLBI ordering -------------------------------------------- */

START_TEST(test_unmap_page_invalidates_before_dropping_ref_and_tables)
{
    struct aspace as = s2_40();
    paddr_t f = frames(0);
    uint64_t ia = 0x40001000;
    ck_assert_int_eq(pt_map_frames(&as, ia, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    pte_t *l1 = table_of(root_of(&as)[0]);
    pte_t *l2 = table_of(l1[1]);
    pte_t *l3 = table_of(l2[0]);
    uint64_t free0 = page_alloc_free_pages();
    fake_events_reset();
    hook_arm(&l3[1], f);
    ck_assert_int_eq(pt_unmap(&as, ia, PAGE_SIZE), ERR_OK);
    /* The page, then the L3, L2 and L1 tables that became empty, then the
     * guest's stage-1 entries once for the batch. */
    ck_assert_uint_eq(hk.n, 5);
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_int_eq(hk.kind[i], i < 4 ? EV_TLBI_IPA : EV_TLBI_VMALLE1);
        ck_assert_uint_eq(hk.seen[i], 0);     /* old entry invalid at TLBI time */
        ck_assert_uint_eq(hk.ref[i], 2);      /* reference not yet dropped */
        ck_assert_uint_eq(hk.pt_pages[i], 4); /* no table freed yet */
    }
    const struct fake_event *ev0 = fake_event(0);
    ck_assert_int_eq(ev0->kind, EV_PTE_SYNC);
    const struct fake_event *ev1 = fake_event(1);
    ck_assert_uint_eq(ev1->addr, ia);
    ck_assert_uint_eq(ev1->vmid, VMID);
    ck_assert_uint_eq(fake_event(2)->addr, 0x40000000); /* L3 table's range */
    ck_assert_uint_eq(fake_event(3)->addr, 0x40000000); /* L2 table's range */
    ck_assert_uint_eq(fake_event(4)->addr, 0);          /* L1 table's range */
    ck_assert_int_eq(fake_event(5)->kind, EV_TLBI_VMALLE1);
    ck_assert_uint_eq(fake_event(5)->vmid, VMID);
    ck_assert_uint_eq(fake_events_count(), 6);
    ck_assert_uint_eq(ref_of(f), 1);
    ck_assert_uint_eq(census_of(PAGE_PT), 1);
    ck_assert_uint_eq(as.nr_tables, 1);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 3);
    ck_assert_uint_eq(nonzero_entries(root_of(&as)), 0);
    ck_assert_uint_eq(meta_slot(aspace_root_pa(&as))->m.pt.nr_valid, 0);
    aspace_destroy(&as);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_mapping_keeps_frame_alive_until_unmap_after_tlbi)
{
    struct aspace as = s2_40();
    /* Two tables' worth of pages stay mapped, so the unmap frees only f. */
    paddr_t g = frames(1);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, g, 2 * PAGE_SIZE, PT_R), ERR_OK);
    int err;
    struct frame fr = frame_alloc((struct frame_meta){.owner_vm = OWNER}, &err);
    ck_assert_int_eq(err, ERR_OK);
    paddr_t f = frame_paddr(fr);
    memset(frame_data(fr), 0xa5, PAGE_SIZE);
    ck_assert_int_eq(pt_map_frames(&as, 0x40002000, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    /* The owner lets go: the mapping's reference keeps the page. */
    frame_drop(fr);
    ck_assert_uint_eq(ref_of(f), 1);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 3);
    uint64_t free0 = page_alloc_free_pages();
    pte_t *l3 = table_of(table_of(table_of(root_of(&as)[0])[1])[0]);
    fake_events_reset();
    hook_arm(&l3[2], f);
    ck_assert_int_eq(pt_unmap(&as, 0x40002000, PAGE_SIZE), ERR_OK);
    /* The single-page path: sync, the IPA, one VMALLE1IS; the page's
     * reference goes only after both. */
    ck_assert_uint_eq(fake_events_count(), 3);
    ck_assert_int_eq(fake_event(0)->kind, EV_PTE_SYNC);
    ck_assert_uint_eq(hk.n, 2);
    ck_assert_int_eq(hk.kind[0], EV_TLBI_IPA);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40002000);
    ck_assert_int_eq(hk.kind[1], EV_TLBI_VMALLE1);
    ck_assert_uint_eq(hk.seen[0], 0);
    ck_assert_uint_eq(hk.ref[0], 1); /* still held by the entry at TLBI time */
    ck_assert_uint_eq(hk.ref[1], 1);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + 1);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 2);
    /* Freed dirty, zeroed before reuse: the next frame is f again (the
     * per-CPU cache is LIFO) and reads as zero. */
    ck_assert(slot_flags(meta_slot(f)) & SLOT_F_DIRTY);
    struct frame again = frame_alloc((struct frame_meta){.owner_vm = OWNER}, &err);
    ck_assert_uint_eq(pa_val(frame_paddr(again)), pa_val(f));
    ck_assert_uint_eq(((uint8_t *)arch_phys_to_virt(f))[7], 0);
    frame_drop(again);
    aspace_destroy(&as);
    drop_frames(g, 2);
}
END_TEST

/*
 * A table page is zeroed once per life at most: a fresh page is zeroed when
 * typed (and not again by the engine), and a table that an unmap emptied is
 * all zero when dropped, so its next use as a table skips the zeroing.
 */
START_TEST(test_emptied_table_is_not_zeroed_again)
{
    uint64_t z0 = fake_pages_zeroed();
    struct aspace as = s2_40();
    ck_assert_uint_eq(fake_pages_zeroed() - z0, 1); /* the root, once */
    paddr_t f = frames(0);
    z0 = fake_pages_zeroed();
    ck_assert_int_eq(pt_map_frames(&as, 0x40001000, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    ck_assert_uint_eq(fake_pages_zeroed() - z0, 3); /* L1, L2, L3: fresh, each once */
    pte_t *l1 = table_of(root_of(&as)[0]);
    paddr_t l1_pa = pa(pte_oa(root_of(&as)[0])), l2_pa = pa(pte_oa(l1[1]));
    ck_assert_int_eq(pt_unmap(&as, 0x40001000, PAGE_SIZE), ERR_OK);
    /* Dropped empty: known zero, so not marked dirty. */
    ck_assert_uint_eq(slot_flags(meta_slot(l1_pa)) & SLOT_F_DIRTY, 0);
    ck_assert_uint_eq(slot_flags(meta_slot(l2_pa)) & SLOT_F_DIRTY, 0);
    z0 = fake_pages_zeroed();
    ck_assert_int_eq(pt_map_frames(&as, 0x40001000, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    ck_assert_uint_eq(fake_pages_zeroed() - z0, 0); /* the same three pages, reused */
    ck_assert_uint_eq(as.nr_tables, 4);
    ck_assert_uint_eq(ref_of(f), 2);
    /* A table torn down with entries in it is dirty again. */
    aspace_destroy(&as);
    ck_assert(slot_flags(meta_slot(l2_pa)) & SLOT_F_DIRTY);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_unmap_keeps_table_until_its_last_entry_goes)
{
    struct aspace as = s2_40();
    paddr_t f = frames(1);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 2 * PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, 0x40001000, PAGE_SIZE), ERR_OK);
    pte_t *l3 = expect_table(expect_table(expect_table(root_of(&as), 0, 1, 1), 1, 2, 1), 0, 3, 1);
    ck_assert_uint_eq(l3[1], 0);
    ck_assert_uint_eq(as.nr_tables, 4);
    ck_assert_uint_eq(ref_of(f), 2);
    ck_assert_uint_eq(ref_of(pa_add(f, PAGE_SIZE)), 1);
    ck_assert_int_eq(pt_unmap(&as, 0x40000000, PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(as.nr_tables, 1);
    assert_refs(f, 2, 1);
    aspace_destroy(&as);
    drop_frames(f, 2);
}
END_TEST

START_TEST(test_unmap_page_in_1g_block_splits_1g_2m_4k_exactly)
{
    struct aspace as = s2_40();
    paddr_t f = frames(18);
    ck_assert_int_eq(pt_map_frames(&as, GiB, f, GiB, PT_R | PT_W), ERR_OK);
    pte_t *l1 = table_of(root_of(&as)[0]);
    fake_events_reset();
    hook_arm(&l1[1], f);
    /* A page in the second 2 MiB of the block. */
    uint64_t hole = GiB + 2 * MiB + 5 * PAGE_SIZE;
    ck_assert_int_eq(pt_unmap(&as, hole, PAGE_SIZE), ERR_OK);

    /* Split 1G: the L1 entry was invalid when the block was invalidated.
     * Each of the three flushes: sync, the IPA, one VMALLE1IS. */
    ck_assert_uint_eq(hk.n, 6);
    ck_assert_int_eq(hk.kind[0], EV_TLBI_IPA);
    ck_assert_uint_eq(hk.seen[0], 0);
    ck_assert_uint_eq(fake_events_count(), 9);
    ck_assert_uint_eq(fake_event(1)->addr, GiB);
    ck_assert_uint_eq(fake_event(4)->addr, GiB + 2 * MiB); /* split 2M */
    ck_assert_uint_eq(fake_event(7)->addr, hole);          /* the page */
    for (unsigned i = 0; i < 9; i += 3) {
        ck_assert_int_eq(fake_event(i)->kind, EV_PTE_SYNC);
        ck_assert_int_eq(fake_event(i + 1)->kind, EV_TLBI_IPA);
        ck_assert_int_eq(fake_event(i + 2)->kind, EV_TLBI_VMALLE1);
    }

    pte_t *l2 = expect_table(l1, 1, 2, 512);
    for (unsigned i = 0; i < 512; i++) {
        if (i == 1)
            continue;
        ck_assert_uint_eq(l2[i], (pa_val(f) + i * 2 * MiB) | S2_RW_XN | OWNED | TYPE_BLOCK);
    }
    pte_t *l3 = expect_table(l2, 1, 3, 511);
    for (unsigned i = 0; i < 512; i++)
        ck_assert_uint_eq(l3[i], i == 5 ? 0
                                        : (pa_val(f) + 2 * MiB + i * PAGE_SIZE) | S2_RW_XN | OWNED |
                                              TYPE_PAGE);
    ck_assert_uint_eq(as.nr_tables, 4);
    paddr_t hp = pa_add(f, 2 * MiB + 5 * PAGE_SIZE);
    ck_assert_uint_eq(ref_of(hp), 1);
    assert_refs(f, 512 + 5, 2);
    assert_refs(pa_add(hp, PAGE_SIZE), (1ull << 18) - 512 - 6, 2);

    /* Unmap the rest of the 2 MiB: the L3 table empties and goes. */
    ck_assert_int_eq(pt_unmap(&as, GiB + 2 * MiB, 5 * PAGE_SIZE), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, hole + PAGE_SIZE, 2 * MiB - 6 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(l2[1], 0);
    ck_assert_uint_eq(meta_of(l1[1])->nr_valid, 511);
    ck_assert_uint_eq(as.nr_tables, 3);
    assert_refs(pa_add(f, 2 * MiB), 512, 1);
    aspace_destroy(&as);
    assert_refs(f, 1ull << 18, 1);
    drop_frames(f, 1ull << 18);
}
END_TEST

#define BLOCKREF (1ull << 56)

/* A block of frames typed as one compound page. */
static struct frame compound(unsigned order)
{
    paddr_t p;
    ck_assert_int_eq(page_alloc(order, &p), ERR_OK);
    return frame_block_from_unused(p, order, (struct frame_meta){.owner_vm = OWNER});
}

/*
 * One reference per block: a 1 GiB block over a 1 GiB compound page costs
 * one count on its head; splitting converts it exactly (each of the 512 new
 * entries owns one), and a page entry inside owns one on the head too.
 */
START_TEST(test_compound_1g_block_owns_one_ref_and_splits_convert_exactly)
{
    struct aspace as = s2_40();
    struct frame c = compound(18);
    paddr_t f = frame_paddr(c);
    ck_assert_int_eq(pt_map_frames(&as, GiB, f, GiB, PT_R | PT_W), ERR_OK);
    pte_t *l1 = table_of(root_of(&as)[0]);
    ck_assert_uint_eq(l1[1], pa_val(f) | S2_RW_XN | OWNED | BLOCKREF | TYPE_BLOCK);
    ck_assert_uint_eq(frame_ref_count(c), 2);
    ck_assert_uint_eq(ref_of(pa_add(f, 12345 * PAGE_SIZE)), REF_TAIL + 18);

    uint64_t hole = GiB + 2 * MiB + 5 * PAGE_SIZE;
    ck_assert_int_eq(pt_unmap(&as, hole, PAGE_SIZE), ERR_OK);
    /* 1 (ours) + 511 2 MiB blocks + 511 pages. */
    ck_assert_uint_eq(frame_ref_count(c), 1 + 511 + 511);
    pte_t *l2 = expect_table(l1, 1, 2, 512);
    ck_assert_uint_eq(l2[0], pa_val(f) | S2_RW_XN | OWNED | BLOCKREF | TYPE_BLOCK);
    ck_assert_uint_eq(l2[511],
                      (pa_val(f) + 511 * 2 * MiB) | S2_RW_XN | OWNED | BLOCKREF | TYPE_BLOCK);
    pte_t *l3 = expect_table(l2, 1, 3, 511);
    ck_assert_uint_eq(l3[4], (pa_val(f) + 2 * MiB + 4 * PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(l3[5], 0);
    paddr_t got;
    ck_assert_int_eq(pt_lookup(&as, hole + PAGE_SIZE, &got, NULL, NULL, NULL), ERR_OK);
    ck_assert_uint_eq(pa_val(got), pa_val(f) + 2 * MiB + 6 * PAGE_SIZE);

    /* Partial unmaps: each removed entry drops exactly its one reference. */
    ck_assert_int_eq(pt_unmap(&as, GiB + 2 * MiB, 5 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 1 + 511 + 506);
    ck_assert_int_eq(pt_unmap(&as, GiB + 4 * MiB, 4 * MiB), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 1 + 509 + 506);
    ck_assert_int_eq(pt_unmap(&as, hole + PAGE_SIZE, 2 * MiB - 6 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 1 + 509);
    ck_assert_uint_eq(as.nr_tables, 3);

    /* Teardown drops the rest; the caller's reference then frees the GiB whole. */
    aspace_destroy(&as);
    ck_assert_uint_eq(frame_ref_count(c), 1);
    uint64_t free0 = page_alloc_free_pages();
    frame_drop(c);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + (1ull << 18));
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
}
END_TEST

/* 2 MiB blocks and pages over one compound, and an all-or-nothing failure
 * part-way: the block's one reference is given back. */
START_TEST(test_compound_2m_blocks_and_pages_take_one_ref_each_all_or_nothing)
{
    struct aspace as = s2_40();
    paddr_t p;
    ck_assert_int_eq(page_alloc(11, &p), ERR_OK); /* 8 MiB: a 4 MiB compound + unused */
    struct frame c = frame_block_from_unused(p, 10, (struct frame_meta){.owner_vm = OWNER});
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, p, 4 * MiB, PT_R), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 3);
    ck_assert_int_eq(pt_map_frames(&as, 0x80001000, pa_add(p, PAGE_SIZE), 3 * PAGE_SIZE, PT_R),
                     ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 6);
    /* 2 MiB of the compound then a page that is not a frame: ERR_STATE and
     * every count as it was. */
    uint64_t h = snapshot(&as);
    ck_assert_int_eq(pt_map_frames(&as, 0xc0200000, pa_add(p, 2 * MiB), 2 * MiB + PAGE_SIZE, PT_R),
                     ERR_STATE);
    ck_assert_uint_eq(frame_ref_count(c), 6);
    ck_assert_uint_eq(snapshot(&as), h);
    ck_assert_int_eq(pt_unmap(&as, 0x40000000, 4 * MiB), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, 0x80001000, 3 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(frame_ref_count(c), 1);
    aspace_destroy(&as);
    frame_drop(c);
    page_free(pa_add(p, 4 * MiB), 10);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
}
END_TEST

/*
 * Breaking a compound page (pt_break_block, for sharing one of its pages):
 * refused while any reference other than the entries' exists, then every
 * page gets exactly one count, the block entry stays (without BLOCKREF) and
 * owns one reference per page from then on.
 */
START_TEST(test_break_block_gives_every_page_its_own_count)
{
    uint64_t free0 = page_alloc_free_pages();
    struct aspace as = s2_40();
    struct frame c = compound(9);
    paddr_t f = frame_paddr(c);
    ck_assert_int_eq(pt_map_frames(&as, GiB, f, 2 * MiB, PT_R | PT_W), ERR_OK);
    pte_t *l2 = expect_table(table_of(root_of(&as)[0]), 1, 2, 1);
    ck_assert_uint_eq(l2[0], pa_val(f) | S2_RW_XN | OWNED | BLOCKREF | TYPE_BLOCK);

    /* Our handle is a reference the entries do not own: refused, unchanged. */
    uint64_t h = snapshot(&as);
    ck_assert_int_eq(pt_break_block(&as, GiB + 7 * PAGE_SIZE), ERR_BUSY);
    ck_assert_uint_eq(snapshot(&as), h);
    ck_assert_uint_eq(frame_ref_count(c), 2);
    ck_assert_uint_eq(ref_of(pa_add(f, 7 * PAGE_SIZE)), REF_TAIL + 9);

    frame_drop(c);
    ck_assert_int_eq(pt_break_block(&as, GiB + 7 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(l2[0], pa_val(f) | S2_RW_XN | OWNED | TYPE_BLOCK);
    for (unsigned i = 0; i < 512; i++) {
        ck_assert_uint_eq(ref_of(pa_add(f, i * PAGE_SIZE)), 1);
        ck_assert_uint_eq(page_block_order(pa_add(f, i * PAGE_SIZE)), 0);
        ck_assert_uint_eq(meta_slot(pa_add(f, i * PAGE_SIZE))->m.frame.owner_vm, OWNER);
    }
    ck_assert_uint_eq(census_of(PAGE_FRAME), 512);
    /* Pages of their own already: nothing to do. Nothing mapped: NOENT. */
    ck_assert_int_eq(pt_break_block(&as, GiB), ERR_OK);
    ck_assert_int_eq(pt_break_block(&as, 2 * GiB), ERR_NOENT);

    /* A reference on one page keeps that page alone: unmapping the block
     * frees the other 511, and the last drop the page. */
    struct dyn_page d;
    ck_assert_int_eq(page_try_get(pa_add(f, 9 * PAGE_SIZE), PAGE_FRAME, &d), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, GiB, 2 * MiB), ERR_OK);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 1);
    ck_assert_uint_eq(ref_of(pa_add(f, 9 * PAGE_SIZE)), 1);
    dyn_page_drop(d);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
    aspace_destroy(&as);
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
}
END_TEST

/* A compound page mapped by page entries (a split block), and the
 * refusals: a page of it not mapped here, or mapped elsewhere. */
START_TEST(test_break_block_of_page_entries_and_refusals)
{
    struct aspace as = s2_40();
    struct frame c = compound(9);
    paddr_t f = frame_paddr(c);
    ck_assert_int_eq(pt_map_frames(&as, GiB, f, 2 * MiB, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, GiB + 5 * PAGE_SIZE, PAGE_SIZE), ERR_OK);
    frame_drop(c);
    ck_assert_uint_eq(frame_ref_count(c), 511);

    /* Page 5 is not mapped here: refused, unchanged. */
    uint64_t h = snapshot(&as);
    ck_assert_int_eq(pt_break_block(&as, GiB), ERR_STATE);
    ck_assert_uint_eq(snapshot(&as), h);
    ck_assert_uint_eq(frame_ref_count(c), 511);
    /* Mapped, but not where the block's layout puts it: refused too. */
    ck_assert_int_eq(pt_map_frames(&as, 2 * GiB, pa_add(f, 5 * PAGE_SIZE), PAGE_SIZE, PT_R),
                     ERR_OK);
    ck_assert_int_eq(pt_break_block(&as, GiB + 8 * PAGE_SIZE), ERR_STATE);
    ck_assert_int_eq(pt_break_block(&as, 2 * GiB), ERR_STATE);
    ck_assert_uint_eq(frame_ref_count(c), 512);
    ck_assert_int_eq(pt_unmap(&as, 2 * GiB, PAGE_SIZE), ERR_OK);

    ck_assert_int_eq(
        pt_map_frames(&as, GiB + 5 * PAGE_SIZE, pa_add(f, 5 * PAGE_SIZE), PAGE_SIZE, PT_R | PT_W),
        ERR_OK);
    ck_assert_int_eq(pt_break_block(&as, GiB + 511 * PAGE_SIZE), ERR_OK);
    pte_t *l3 = expect_table(expect_table(table_of(root_of(&as)[0]), 1, 2, 1), 0, 3, 512);
    for (unsigned i = 0; i < 512; i++) {
        ck_assert_uint_eq(ref_of(pa_add(f, i * PAGE_SIZE)), 1);
        ck_assert_uint_eq(l3[i], (pa_val(f) + i * PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    }
    aspace_destroy(&as);
    ck_assert_uint_eq(census_of(PAGE_FRAME), 0);
}
END_TEST

static int count_owned_leaf(const struct pt_visit *v, void *ctx)
{
    if (v->pte & OWNED)
        ++*(uint64_t *)ctx;
    return 0;
}

/*
 * Random maps and unmaps of aligned pieces (pages and 2 MiB blocks) of a
 * 64 MiB compound page, checked after every step against a per-page model:
 * each call's exact code, every page's translation, and the block
 * accounting: the head's count is exactly 1 (ours) + the owned leaf entries
 * (blocks and pages alike own one each), the census unchanged.
 */
START_TEST(test_random_compound_maps_keep_block_and_page_accounting_exact)
{
    enum { ORDER = 14, NPAGES = 1 << ORDER };
    static bool mapped[NPAGES];
    memset(mapped, 0, sizeof(mapped));
    struct aspace as = s2_40();
    struct frame c = compound(ORDER);
    paddr_t f = frame_paddr(c);
    uint64_t seed = test_seed("compound model"), rng = seed;
    uint64_t steps = test_iterations("TALLY_PT_MODEL_OPS", 200000) / 100;
    uint64_t frames0 = census_of(PAGE_FRAME);
    for (uint64_t step = 0; step < steps; step++) {
        uint64_t r = test_rand(&rng);
        bool block = r & 1;
        uint64_t unit = block ? 512 : 1, units = NPAGES / unit;
        uint64_t first = (r >> 8) % units * unit;
        uint64_t n = unit * (1 + (r >> 40) % (block ? 4 : 48));
        if (first + n > NPAGES)
            n = NPAGES - first;
        unsigned nmapped = 0;
        for (uint64_t i = first; i < first + n; i++)
            nmapped += mapped[i];
        uint64_t ia = GiB + first * PAGE_SIZE;
        if ((r >> 4) & 1) {
            int want = nmapped ? ERR_EXIST : ERR_OK;
            ck_assert_int_eq(
                pt_map_frames(&as, ia, pa_add(f, first * PAGE_SIZE), n * PAGE_SIZE, PT_R), want);
            if (want == ERR_OK)
                memset(&mapped[first], 1, n);
        } else {
            int want = nmapped == n ? ERR_OK : ERR_NOENT;
            ck_assert_int_eq(pt_unmap(&as, ia, n * PAGE_SIZE), want);
            if (want == ERR_OK)
                memset(&mapped[first], 0, n);
        }
        uint64_t leaves = 0;
        ck_assert_int_eq(
            pt_walk(&as, 0, 1ull << 40, &(struct pt_visitor){.leaf = count_owned_leaf}, &leaves),
            ERR_OK);
        ck_assert_msg(frame_ref_count(c) == 1 + leaves,
                      "step %llu (seed %llu): head count %u, %llu owned leaves",
                      (unsigned long long)step, (unsigned long long)seed, frame_ref_count(c),
                      (unsigned long long)leaves);
        ck_assert_uint_eq(census_of(PAGE_FRAME), frames0);
        for (uint64_t k = 0; k < 8; k++) {
            uint64_t i = test_rand(&rng) % NPAGES;
            paddr_t got;
            int err = pt_lookup(&as, GiB + i * PAGE_SIZE, &got, NULL, NULL, NULL);
            ck_assert_int_eq(err, mapped[i] ? ERR_OK : ERR_NOENT);
            if (mapped[i])
                ck_assert_uint_eq(pa_val(got), pa_val(f) + i * PAGE_SIZE);
        }
    }
    aspace_destroy(&as);
    ck_assert_uint_eq(frame_ref_count(c), 1);
    uint64_t free0 = page_alloc_free_pages();
    frame_drop(c);
    ck_assert_uint_eq(page_alloc_free_pages(), free0 + NPAGES);
}
END_TEST

START_TEST(test_protect_page_in_1g_block_splits_1g_2m_4k_refs_unchanged)
{
    struct aspace as = s2_40();
    paddr_t f = frames(18);
    ck_assert_int_eq(pt_map_frames(&as, GiB, f, GiB, PT_R | PT_W), ERR_OK);
    uint64_t ia = GiB + 511 * 2 * MiB + 511 * PAGE_SIZE; /* the very last page */
    fake_events_reset();
    ck_assert_int_eq(pt_protect(&as, ia, PAGE_SIZE, PT_R), ERR_OK);
    /* Two splits and the page's own break-before-make: three flushes of
     * one IPA and one VMALLE1IS each. */
    ck_assert_uint_eq(tlbi_events(), 6);
    ck_assert_uint_eq(fake_events_of(EV_TLBI_VMALLE1), 3);
    ck_assert_uint_eq(fake_event(1)->addr, GiB);
    ck_assert_uint_eq(fake_event(4)->addr, GiB + 511 * 2 * MiB);
    ck_assert_uint_eq(fake_event(7)->addr, ia);
    pte_t *l2 = expect_table(table_of(root_of(&as)[0]), 1, 2, 512);
    pte_t *l3 = expect_table(l2, 511, 3, 512);
    ck_assert_uint_eq(l2[0], pa_val(f) | S2_RW_XN | OWNED | TYPE_BLOCK);
    ck_assert_uint_eq(l3[510], (pa_val(f) + GiB - 2 * PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(l3[511],
                      (pa_val(f) + GiB - PAGE_SIZE) | 0x77cull | (1ull << 54) | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(as.nr_tables, 4);
    assert_refs(f, 1ull << 18, 2);
    aspace_destroy(&as);
    assert_refs(f, 1ull << 18, 1);
    drop_frames(f, 1ull << 18);
}
END_TEST

START_TEST(test_unmap_invalidates_by_address_up_to_64_entries_then_whole_vmid)
{
    struct aspace as = s2_40();
    paddr_t f = frames(8);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 130 * PAGE_SIZE, PT_R), ERR_OK);
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x40000000, 64 * PAGE_SIZE), ERR_OK);
    /* One flush: sync, 64 IPAs, ONE VMALLE1IS. */
    ck_assert_uint_eq(fake_events_count(), 66);
    ck_assert_uint_eq(tlbi_events(), 65);
    ck_assert_uint_eq(fake_events_of(EV_TLBI_IPA), 64);
    for (unsigned i = 0; i < 64; i++)
        ck_assert_uint_eq(fake_event(1 + i)->addr, 0x40000000 + i * PAGE_SIZE);
    ck_assert_int_eq(fake_event(65)->kind, EV_TLBI_VMALLE1);
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x40000000 + 64 * PAGE_SIZE, 65 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(tlbi_events(), 1);
    ck_assert_uint_eq(fake_events_of(EV_TLBI_VMID), 1);
    assert_refs(f, 129, 1);
    ck_assert_uint_eq(ref_of(pa_add(f, 129 * PAGE_SIZE)), 2);
    aspace_destroy(&as);
    drop_frames(f, 256);
}
END_TEST

/* With FEAT_TLBIRANGE a run of entries is one range TLBI (pages counted in
 * 4 KiB), still followed by one VMALLE1IS for the batch. */
START_TEST(test_unmap_with_tlbi_range_invalidates_each_run_at_once)
{
    struct aspace as = s2_40();
    paddr_t f = frames(11);
    /* 64 pages, then 4 MiB of 2 MiB blocks: two runs. */
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 64 * PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x40400000, pa_add(f, 4 * MiB), 4 * MiB, PT_R), ERR_OK);
    fake_tlbi_range = true;
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x40000000, 63 * PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(fake_events_count(), 3);
    ck_assert_int_eq(fake_event(0)->kind, EV_PTE_SYNC);
    ck_assert_int_eq(fake_event(1)->kind, EV_TLBI_IPA_RANGE);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40000000);
    ck_assert_uint_eq(fake_event(1)->pages, 63);
    ck_assert_uint_eq(fake_event(1)->vmid, VMID);
    ck_assert_int_eq(fake_event(2)->kind, EV_TLBI_VMALLE1);
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x40400000, 4 * MiB), ERR_OK);
    ck_assert_uint_eq(fake_events_count(), 3);
    ck_assert_int_eq(fake_event(1)->kind, EV_TLBI_IPA_RANGE);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40400000);
    ck_assert_uint_eq(fake_event(1)->pages, 1024);
    ck_assert_int_eq(fake_event(2)->kind, EV_TLBI_VMALLE1);
    /* One entry is a plain TLBI even with ranges. */
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x4003f000, PAGE_SIZE), ERR_OK);
    ck_assert_int_eq(fake_event(1)->kind, EV_TLBI_IPA);
    fake_tlbi_range = false;
    assert_refs(f, 64, 1);
    assert_refs(pa_add(f, 4 * MiB), 1024, 1);
    ck_assert_uint_eq(as.nr_tables, 1);
    aspace_destroy(&as);
    drop_frames(f, 2048);
}
END_TEST

/*
 * The single-page path (a table already there): map writes one descriptor
 * and syncs, no invalidation; unmap of a page that is not its table's last
 * syncs, invalidates the IPA and the guest's stage-1 once, and drops the
 * reference after; every refusal is the general path's exact code with
 * nothing changed.
 */
START_TEST(test_single_page_map_unmap_where_tables_exist)
{
    struct aspace as = s2_40();
    paddr_t f = frames(2);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, PAGE_SIZE, PT_R), ERR_OK);
    uint64_t free0 = page_alloc_free_pages();
    fake_events_reset();
    ck_assert_int_eq(pt_map_frames(&as, 0x40001000, pa_add(f, PAGE_SIZE), PAGE_SIZE, PT_R | PT_W),
                     ERR_OK);
    ck_assert_uint_eq(fake_events_count(), 1);
    ck_assert_int_eq(fake_event(0)->kind, EV_PTE_SYNC);
    ck_assert_uint_eq(page_alloc_free_pages(), free0); /* no table allocated */
    pte_t *l3 = expect_table(expect_table(expect_table(root_of(&as), 0, 1, 1), 1, 2, 1), 0, 3, 2);
    ck_assert_uint_eq(l3[1], (pa_val(f) + PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(ref_of(pa_add(f, PAGE_SIZE)), 2);

    uint64_t h = snapshot(&as);
    fake_events_reset();
    /* Over a mapped page: ERR_EXIST, the reference given back. */
    ck_assert_int_eq(pt_map_frames(&as, 0x40001000, pa_add(f, 2 * PAGE_SIZE), PAGE_SIZE, PT_R),
                     ERR_EXIST);
    ck_assert_uint_eq(ref_of(pa_add(f, 2 * PAGE_SIZE)), 1);
    /* Not a frame (a page-table page): ERR_STATE, as the general path says. */
    ck_assert_int_eq(pt_map_frames(&as, 0x40002000, pa(pte_oa(root_of(&as)[0])), PAGE_SIZE, PT_R),
                     ERR_STATE);
    /* Nothing there, table present: ERR_NOENT. */
    ck_assert_int_eq(pt_unmap(&as, 0x40002000, PAGE_SIZE), ERR_NOENT);
    ck_assert_uint_eq(tlbi_events(), 0);
    ck_assert_uint_eq(snapshot(&as), h);

    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x40001000, PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(fake_events_count(), 3);
    ck_assert_int_eq(fake_event(1)->kind, EV_TLBI_IPA);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40001000);
    ck_assert_int_eq(fake_event(2)->kind, EV_TLBI_VMALLE1);
    ck_assert_uint_eq(l3[1], 0);
    ck_assert_uint_eq(meta_of(table_of(table_of(root_of(&as)[0])[1])[0])->nr_valid, 1);
    ck_assert_uint_eq(ref_of(pa_add(f, PAGE_SIZE)), 1);
    ck_assert_uint_eq(as.nr_tables, 4);
    aspace_destroy(&as);
    assert_refs(f, 4, 1);
    drop_frames(f, 4);
}
END_TEST

START_TEST(test_unmap_whole_table_range_detaches_subtree_after_one_tlbi)
{
    struct aspace as = s2_40();
    paddr_t f = frames(10);
    paddr_t p = pa_add(f, PAGE_SIZE); /* not 2M aligned: 512 pages */
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, p, 2 * MiB, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x40200000, f, PAGE_SIZE, PT_R), ERR_OK);
    pte_t *l2 = table_of(table_of(root_of(&as)[0])[1]);
    fake_events_reset();
    hook_arm(&l2[0], p);
    ck_assert_int_eq(pt_unmap(&as, 0x40000000, 2 * MiB), ERR_OK);
    ck_assert_uint_eq(hk.n, 1);
    ck_assert_int_eq(hk.kind[0], EV_TLBI_VMID);
    ck_assert_uint_eq(hk.seen[0], 0);
    ck_assert_uint_eq(hk.ref[0], 2);
    ck_assert_uint_eq(hk.pt_pages[0], 5);
    ck_assert_uint_eq(fake_event(1)->vmid, VMID);
    ck_assert_uint_eq(census_of(PAGE_PT), 4);
    ck_assert_uint_eq(as.nr_tables, 4);
    assert_refs(p, 512, 1);
    ck_assert_uint_eq(ref_of(f), 2);
    aspace_destroy(&as);
    drop_frames(f, 1024);
}
END_TEST

START_TEST(test_protect_part_of_block_splits_and_keeps_refs)
{
    struct aspace as = s2_40();
    paddr_t f = frames(9);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 2 * MiB, PT_R | PT_W), ERR_OK);
    pte_t *l2 = table_of(table_of(root_of(&as)[0])[1]);
    fake_events_reset();
    hook_arm(&l2[0], f);
    ck_assert_int_eq(pt_protect(&as, 0x40000000, PAGE_SIZE, PT_R), ERR_OK);
    pte_t *l3 = expect_table(l2, 0, 3, 512);
    /* Split (block invalid at its TLBI), then the page's own BBM. */
    ck_assert_uint_eq(hk.n, 4);
    ck_assert_uint_eq(hk.seen[0], 0);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40000000);
    ck_assert_int_eq(fake_event(2)->kind, EV_TLBI_VMALLE1);
    ck_assert_uint_eq(fake_event(4)->addr, 0x40000000);
    ck_assert_int_eq(fake_event(5)->kind, EV_TLBI_VMALLE1);
    /* S2AP read only: 0x7fc - 0x80. */
    ck_assert_uint_eq(l3[0], pa_val(f) | 0x77cull | (1ull << 54) | OWNED | TYPE_PAGE);
    for (unsigned i = 1; i < 512; i++)
        ck_assert_uint_eq(l3[i], (pa_val(f) + i * PAGE_SIZE) | S2_RW_XN | OWNED | TYPE_PAGE);
    assert_refs(f, 512, 2);
    unsigned prot;
    ck_assert_int_eq(pt_lookup(&as, 0x40000000, NULL, &prot, NULL, NULL), ERR_OK);
    ck_assert_uint_eq(prot, PT_R);
    ck_assert_int_eq(pt_lookup(&as, 0x40001000, NULL, &prot, NULL, NULL), ERR_OK);
    ck_assert_uint_eq(prot, PT_R | PT_W);
    aspace_destroy(&as);
    assert_refs(f, 512, 1);
    drop_frames(f, 512);
}
END_TEST

START_TEST(test_protect_breaks_before_make)
{
    struct aspace as = s2_40();
    paddr_t f = frames(0);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    pte_t *l3 = table_of(table_of(table_of(root_of(&as)[0])[1])[0]);
    fake_events_reset();
    hook_arm(&l3[0], f);
    ck_assert_int_eq(pt_protect(&as, 0x40000000, PAGE_SIZE, PT_R | PT_X), ERR_OK);
    ck_assert_uint_eq(hk.n, 2);
    ck_assert(!pte_is_valid(hk.seen[0]));
    ck_assert(!pte_is_valid(hk.seen[1])); /* made only after the VMALLE1IS */
    ck_assert_int_eq(fake_event(2)->kind, EV_TLBI_VMALLE1);
    ck_assert_int_eq(fake_event(0)->kind, EV_PTE_SYNC);
    ck_assert_int_eq(fake_event(1)->kind, EV_TLBI_IPA);
    ck_assert_uint_eq(fake_event(1)->addr, 0x40000000);
    ck_assert_uint_eq(fake_event(1)->vmid, VMID);
    ck_assert_uint_eq(l3[0], pa_val(f) | 0x77cull | OWNED | TYPE_PAGE);
    ck_assert_uint_eq(ref_of(f), 2);
    /* The same attributes again: nothing to do, nothing invalidated. */
    fake_events_reset();
    uint64_t h = snapshot(&as);
    ck_assert_int_eq(pt_protect(&as, 0x40000000, PAGE_SIZE, PT_R | PT_X), ERR_OK);
    ck_assert_uint_eq(tlbi_events(), 0);
    ck_assert_uint_eq(snapshot(&as), h);
    aspace_destroy(&as);
    drop_frames(f, 1);
}
END_TEST

START_TEST(test_stage1_unmap_invalidates_el2_va)
{
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE1_EL2, 39, 0, OWNER_HYP), ERR_OK);
    paddr_t f = frames(1);
    ck_assert_int_eq(pt_map_frames(&as, 0x7000000000, f, 2 * PAGE_SIZE, PT_R | PT_W), ERR_OK);
    fake_events_reset();
    ck_assert_int_eq(pt_unmap(&as, 0x7000001000, PAGE_SIZE), ERR_OK);
    ck_assert_uint_eq(fake_events_of(EV_TLBI_EL2_VA), 1);
    ck_assert_uint_eq(tlbi_events(), 1);
    ck_assert_uint_eq(fake_event(1)->addr, 0x7000001000);
    aspace_destroy(&as);
    ck_assert_uint_eq(fake_events_of(EV_TLBI_EL2_ALL), 1);
    drop_frames(f, 2);
}
END_TEST

START_TEST(test_destroy_invalidates_then_returns_every_page)
{
    uint64_t free0 = page_alloc_free_pages();
    struct aspace as = s2_40();
    paddr_t f = frames(10);
    ck_assert_int_eq(pt_map_frames(&as, 0x40000000, f, 2 * MiB, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x80000000, pa_add(f, 2 * MiB), 5 * PAGE_SIZE, PT_R),
                     ERR_OK);
    ck_assert_int_eq(pt_map_frames(&as, 0x90000000, pa_add(f, 2 * MiB), PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_int_eq(pt_map_phys(&as, 0x09000000, pa(0x09000000), PAGE_SIZE, PT_R | PT_DEVICE),
                     ERR_OK);
    ck_assert_uint_eq(ref_of(pa_add(f, 2 * MiB)), 3);
    fake_events_reset();
    hook_arm(NULL, pa_add(f, 2 * MiB));
    uint64_t pt = census_of(PAGE_PT);
    aspace_destroy(&as);
    ck_assert_uint_eq(hk.n, 1);
    ck_assert_int_eq(hk.kind[0], EV_TLBI_VMID);
    ck_assert_uint_eq(hk.ref[0], 3);
    ck_assert_uint_eq(hk.pt_pages[0], pt);
    ck_assert_uint_eq(census_of(PAGE_PT), 0);
    assert_refs(f, 1024, 1);
    drop_frames(f, 1024);
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
}
END_TEST

/* --- bad input: the code, and nothing changed -------------------------------------------- */

struct before {
    uint64_t hash, tables;
    struct page_census census;
};

static struct before before(struct aspace *as)
{
    fake_events_reset();
    struct before b = {.hash = snapshot(as), .tables = as->nr_tables};
    page_census(&b.census);
    return b;
}

/* Same descriptors everywhere, same census to the page, nothing invalidated. */
static void assert_unchanged(struct aspace *as, struct before b)
{
    struct page_census now;
    page_census(&now);
    ck_assert_uint_eq(snapshot(as), b.hash);
    ck_assert_uint_eq(as->nr_tables, b.tables);
    ck_assert_uint_eq(now.free, b.census.free);
    ck_assert_uint_eq(now.unused, b.census.unused);
    for (unsigned u = 0; u < PAGE_USAGE_COUNT; u++)
        ck_assert_uint_eq(now.by_usage[u], b.census.by_usage[u]);
    ck_assert_uint_eq(fake_events_count(), 0);
}

#define EXPECT_FAIL(as, call, code)                                                                \
    do {                                                                                           \
        struct before b_ = before(as);                                                             \
        ck_assert_int_eq((call), (code));                                                          \
        assert_unchanged(as, b_);                                                                  \
    } while (0)

/* A populated space to fail against: a page at 1 GiB, a 2 MiB block at
 * 1 GiB + 2 MiB, an MMIO page. Of the 8 MiB of frames returned, the 4 MiB
 * from f + 4 MiB are left unmapped for the tests. */
static paddr_t populate(struct aspace *as)
{
    paddr_t f = frames(11);
    ck_assert_int_eq(pt_map_frames(as, GiB, f, PAGE_SIZE, PT_R | PT_W), ERR_OK);
    ck_assert_int_eq(pt_map_frames(as, GiB + 2 * MiB, pa_add(f, 2 * MiB), 2 * MiB, PT_R), ERR_OK);
    ck_assert_int_eq(pt_map_phys(as, 0x09000000, pa(0x09000000), PAGE_SIZE, PT_R | PT_DEVICE),
                     ERR_OK);
    return f;
}

static void unpopulate(struct aspace *as, paddr_t f)
{
    aspace_destroy(as);
    assert_refs(f, 2048, 1);
    drop_frames(f, 2048);
}

START_TEST(test_unaligned_input_is_err_align)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0x1000800, g, PAGE_SIZE, PT_R), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0x1000000, g, PAGE_SIZE + 1, PT_R), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0x1000000, pa_add(g, 8), PAGE_SIZE, PT_R), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_map_phys(&as, 0x1000000, pa(0x09000004), PAGE_SIZE, PT_R), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_unmap(&as, GiB + 4, PAGE_SIZE), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_unmap(&as, GiB, 100), ERR_ALIGN);
    EXPECT_FAIL(&as, pt_protect(&as, GiB + 2 * MiB + 1, PAGE_SIZE, PT_R), ERR_ALIGN);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_out_of_range_is_err_range)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    uint64_t top = 1ull << 40;
    EXPECT_FAIL(&as, pt_map_frames(&as, top, g, PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_map_frames(&as, top - PAGE_SIZE, g, 2 * PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_map_frames(&as, ~0ull - PAGE_SIZE + 1, g, 2 * PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_map_phys(&as, 0, pa(1ull << 48), PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_map_phys(&as, 0, pa((1ull << 48) - PAGE_SIZE), 2 * PAGE_SIZE, PT_R),
                ERR_RANGE);
    /* Not RAM: no slot, so not a frame. */
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, pa(0x09000000), PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_unmap(&as, top - PAGE_SIZE, 2 * PAGE_SIZE), ERR_RANGE);
    EXPECT_FAIL(&as, pt_protect(&as, top, PAGE_SIZE, PT_R), ERR_RANGE);
    EXPECT_FAIL(&as, pt_lookup(&as, top, NULL, NULL, NULL, NULL), ERR_RANGE);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_bad_prot_or_empty_size_is_err_inval)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, PAGE_SIZE, 0), ERR_INVAL);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, PAGE_SIZE, PT_W), ERR_INVAL);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, PAGE_SIZE, PT_R | 0x10), ERR_INVAL);
    EXPECT_FAIL(&as, pt_map_phys(&as, 0, pa(0x09001000), PAGE_SIZE, PT_R | PT_X | PT_DEVICE),
                ERR_INVAL);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, 0, PT_R), ERR_INVAL);
    EXPECT_FAIL(&as, pt_unmap(&as, GiB, 0), ERR_INVAL);
    EXPECT_FAIL(&as, pt_protect(&as, GiB, PAGE_SIZE, PT_X), ERR_INVAL);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_map_over_a_mapping_is_err_exist)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    /* Exactly over the page; a range ending on it; starting on it. */
    EXPECT_FAIL(&as, pt_map_frames(&as, GiB, g, PAGE_SIZE, PT_R), ERR_EXIST);
    EXPECT_FAIL(&as, pt_map_frames(&as, GiB - 3 * PAGE_SIZE, g, 4 * PAGE_SIZE, PT_R), ERR_EXIST);
    EXPECT_FAIL(&as, pt_map_frames(&as, GiB, g, 8 * PAGE_SIZE, PT_R), ERR_EXIST);
    /* A 2 MiB block over the L3 table holding the page. */
    EXPECT_FAIL(&as, pt_map_frames(&as, GiB, pa_add(f, 2 * MiB), 2 * MiB, PT_R), ERR_EXIST);
    /* Pages inside the 2 MiB block; the block itself; a 1 GiB range over all. */
    EXPECT_FAIL(&as, pt_map_frames(&as, GiB + 3 * MiB, g, PAGE_SIZE, PT_R), ERR_EXIST);
    EXPECT_FAIL(&as, pt_map_phys(&as, GiB + 2 * MiB, pa(0x10000000), 2 * MiB, PT_R), ERR_EXIST);
    EXPECT_FAIL(&as, pt_map_phys(&as, GiB, pa(0x100000000), GiB, PT_R), ERR_EXIST);
    EXPECT_FAIL(&as, pt_map_phys(&as, 0x09000000, pa(0x09000000), PAGE_SIZE, PT_R), ERR_EXIST);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_unmap_or_protect_unmapped_is_err_noent)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    EXPECT_FAIL(&as, pt_unmap(&as, 0x20000000, PAGE_SIZE), ERR_NOENT);
    /* The mapped page plus the hole after it, inside one L3 table. */
    EXPECT_FAIL(&as, pt_unmap(&as, GiB, 2 * PAGE_SIZE), ERR_NOENT);
    /* A hole inside an L3 table that exists. */
    EXPECT_FAIL(&as, pt_unmap(&as, GiB + PAGE_SIZE, PAGE_SIZE), ERR_NOENT);
    /* The block and the hole after it: no split may happen. */
    EXPECT_FAIL(&as, pt_unmap(&as, GiB + 3 * MiB, 2 * MiB), ERR_NOENT);
    EXPECT_FAIL(&as, pt_protect(&as, GiB + 3 * MiB, 2 * MiB, PT_R | PT_W), ERR_NOENT);
    EXPECT_FAIL(&as, pt_protect(&as, GiB - PAGE_SIZE, 2 * PAGE_SIZE, PT_R), ERR_NOENT);
    EXPECT_FAIL(&as, pt_lookup(&as, GiB + PAGE_SIZE, NULL, NULL, NULL, NULL), ERR_NOENT);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_map_frames_of_non_frame_is_err_state_and_refs_roll_back)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    /* Three frames, then a page back in the allocator (unused). */
    paddr_t g = frames(2);
    drop_frames(pa_add(g, 3 * PAGE_SIZE), 1);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, 4 * PAGE_SIZE, PT_R), ERR_STATE);
    assert_refs(g, 3, 1);
    /* A page-table page: the root. */
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, aspace_root_pa(&as), PAGE_SIZE, PT_R), ERR_STATE);
    drop_frames(g, 3);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_reserved_page_is_err_state_for_frames_ok_for_phys)
{
    struct mem_bank b = {pa(0x40000000), SMALL_MIB * MiB};
    sim_ram_setup(&b, 1, 16); /* 16 reserved pages at the start */
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, pa(0x40000000), PAGE_SIZE, PT_R), ERR_STATE);
    /* Reserved RAM is never freed: a stage-2 pass-through may reach it. */
    ck_assert_int_eq(pt_map_phys(&as, 0, pa(0x40000000), 16 * PAGE_SIZE, PT_R), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, 0, 16 * PAGE_SIZE), ERR_OK);
    unpopulate(&as, f);
}
END_TEST

START_TEST(test_saturated_page_is_err_busy_and_refs_roll_back)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    struct meta_slot *s = meta_slot(pa_add(g, 2 * PAGE_SIZE));
    /* Stand in for 2^30 - 1 other holders of the third page. */
    atomic_store_u32(&s->ref_count, REF_MAX, MO_RELAXED);
    EXPECT_FAIL(&as, pt_map_frames(&as, 0, g, 4 * PAGE_SIZE, PT_R), ERR_BUSY);
    assert_refs(g, 2, 1);
    ck_assert_uint_eq(ref_of(pa_add(g, 3 * PAGE_SIZE)), 1);
    ck_assert_uint_eq(page_slot_ref_count(s), REF_MAX);
    atomic_store_u32(&s->ref_count, 1, MO_RELAXED);
    ck_assert_int_eq(pt_map_frames(&as, 0, g, 4 * PAGE_SIZE, PT_R), ERR_OK);
    assert_refs(g, 4, 2);
    unpopulate(&as, f);
}
END_TEST

/* Take every free page but `leave`; returns how many were taken. */
static uint64_t exhaust(paddr_t *taken, uint64_t max, uint64_t leave)
{
    uint64_t n = 0;
    while (page_alloc_free_pages() > leave) {
        ck_assert_uint_lt(n, max);
        ck_assert_int_eq(page_alloc(0, &taken[n]), ERR_OK);
        n++;
    }
    return n;
}

START_TEST(test_out_of_memory_part_way_changes_nothing)
{
    struct aspace as = s2_40();
    paddr_t f = populate(&as);
    paddr_t g = pa_add(f, 4 * MiB);
    static paddr_t taken[SMALL_MIB * 256];
    uint64_t n = exhaust(taken, ARRAY_SIZE(taken), 2);
    /* Needs three tables (an L2 for the empty 1 GiB slot, an L3 on each side
     * of the 2 MiB boundary) and gets two: ERR_NOMEM after a partial fill. */
    EXPECT_FAIL(&as, pt_map_frames(&as, 2 * GiB + 2 * MiB - PAGE_SIZE, g, 2 * PAGE_SIZE, PT_R),
                ERR_NOMEM);
    /* An unmap that must split the 2 MiB block needs one table: leave none. */
    paddr_t more[2];
    uint64_t m = exhaust(more, 2, 0);
    EXPECT_FAIL(&as, pt_unmap(&as, GiB + 2 * MiB, PAGE_SIZE), ERR_NOMEM);
    EXPECT_FAIL(&as, pt_protect(&as, GiB + 2 * MiB, PAGE_SIZE, PT_R | PT_W), ERR_NOMEM);
    /* Memory back: both succeed. */
    for (uint64_t i = 0; i < m; i++)
        page_free(more[i], 0);
    for (uint64_t i = 0; i < n; i++)
        page_free(taken[i], 0);
    ck_assert_int_eq(pt_map_frames(&as, 2 * GiB + 2 * MiB - PAGE_SIZE, g, 2 * PAGE_SIZE, PT_R),
                     ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, GiB + 2 * MiB, PAGE_SIZE), ERR_OK);
    ck_assert_int_eq(pt_unmap(&as, 2 * GiB + 2 * MiB - PAGE_SIZE, 2 * PAGE_SIZE), ERR_OK);
    unpopulate(&as, f);
}
END_TEST

Suite *pgtable_suite(void)
{
    Suite *s = suite_create("pgtable");
    TCase *tc = tcase_create("descriptors");
    tcase_add_checked_fixture(tc, setup_small, teardown);
    tcase_add_test(tc, test_init_picks_start_level_and_register_fields);
    tcase_add_test(tc, test_init_rejects_bad_stage_and_input_size);
    tcase_add_test(tc, test_s2_page_descriptors_level_by_level);
    tcase_add_test(tc, test_s2_fwb_forces_write_back_for_normal_memory_only);
    tcase_add_test(tc, test_s1_descriptors_encode_ap_xn_attrindx);
    tcase_add_test(tc, test_s1_block_descriptors_at_level_1_and_2);
    tcase_add_test(tc, test_s2_2m_block_owns_one_ref_per_page);
    tcase_add_test(tc, test_map_uses_pages_where_pa_is_not_block_aligned);
    tcase_add_test(tc, test_map_mixed_range_uses_largest_leaf_that_fits);
    tcase_add_test(tc, test_map_phys_owns_no_references);
    tcase_add_test(tc, test_map_phys_of_tracked_ram_stage2_refused_stage1_untouched);
    tcase_add_test(tc, test_kstack_pages_map_with_a_reference);
    tcase_add_test(tc, test_walk_visits_tables_and_leaves_in_order);
    suite_add_tcase(s, tc);

    TCase *ch = tcase_create("changes");
    tcase_add_checked_fixture(ch, setup_small, teardown);
    tcase_add_test(ch, test_unmap_page_invalidates_before_dropping_ref_and_tables);
    tcase_add_test(ch, test_mapping_keeps_frame_alive_until_unmap_after_tlbi);
    tcase_add_test(ch, test_unmap_keeps_table_until_its_last_entry_goes);
    tcase_add_test(ch, test_emptied_table_is_not_zeroed_again);
    tcase_add_test(ch, test_unmap_with_tlbi_range_invalidates_each_run_at_once);
    tcase_add_test(ch, test_single_page_map_unmap_where_tables_exist);
    tcase_add_test(ch, test_unmap_invalidates_by_address_up_to_64_entries_then_whole_vmid);
    tcase_add_test(ch, test_unmap_whole_table_range_detaches_subtree_after_one_tlbi);
    tcase_add_test(ch, test_protect_part_of_block_splits_and_keeps_refs);
    tcase_add_test(ch, test_protect_breaks_before_make);
    tcase_add_test(ch, test_stage1_unmap_invalidates_el2_va);
    tcase_add_test(ch, test_destroy_invalidates_then_returns_every_page);
    suite_add_tcase(s, ch);

    TCase *big = tcase_create("1g");
    tcase_add_checked_fixture(big, setup_big, teardown);
    /* Each test types 1 GiB of frames (zeroed): minutes under TSan on a loaded machine. */
    tcase_set_timeout(big, 600);
    tcase_add_test(big, test_s2_1g_block_owns_one_ref_per_page);
    tcase_add_test(big, test_unmap_page_in_1g_block_splits_1g_2m_4k_exactly);
    tcase_add_test(big, test_compound_1g_block_owns_one_ref_and_splits_convert_exactly);
    tcase_add_test(big, test_compound_2m_blocks_and_pages_take_one_ref_each_all_or_nothing);
    tcase_add_test(big, test_break_block_gives_every_page_its_own_count);
    tcase_add_test(big, test_break_block_of_page_entries_and_refusals);
    tcase_add_test(big, test_random_compound_maps_keep_block_and_page_accounting_exact);
    tcase_add_test(big, test_protect_page_in_1g_block_splits_1g_2m_4k_refs_unchanged);
    suite_add_tcase(s, big);

    TCase *bad = tcase_create("bad input");
    tcase_add_checked_fixture(bad, setup_small, teardown);
    tcase_add_test(bad, test_unaligned_input_is_err_align);
    tcase_add_test(bad, test_out_of_range_is_err_range);
    tcase_add_test(bad, test_bad_prot_or_empty_size_is_err_inval);
    tcase_add_test(bad, test_map_over_a_mapping_is_err_exist);
    tcase_add_test(bad, test_unmap_or_protect_unmapped_is_err_noent);
    tcase_add_test(bad, test_map_frames_of_non_frame_is_err_state_and_refs_roll_back);
    tcase_add_test(bad, test_reserved_page_is_err_state_for_frames_ok_for_phys);
    tcase_add_test(bad, test_saturated_page_is_err_busy_and_refs_roll_back);
    tcase_add_test(bad, test_out_of_memory_part_way_changes_nothing);
    suite_add_tcase(s, bad);
    return s;
}
