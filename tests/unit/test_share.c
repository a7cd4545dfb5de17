// SPDX-License-Identifier: MIT
// Sharing core (mm/share.c): every transition with exact states, mappings,
// reference counts and per-VM counts; teardown with live sharing; hostile
// requests, each with its own error code and nothing changed (census,
// counts, every entry, every frame).
#include "../host/harness.h"
#include "../host/share_fixture.h"

#include <stdlib.h>
#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/share.h>

TALLY_SUITE(share)

#define PAGES  64
#define RWX    (PT_R | PT_W | PT_X)
#define IPA(i) (TVM_RAM_IPA + ((uint64_t)(i) << PAGE_SHIFT))
#define WIN(i) (TVM_BORROW_IPA + ((uint64_t)(i) << PAGE_SHIFT))

static struct test_vm a, b, c;
static struct test_vm *const all[] = {&a, &b, &c};
static struct aspace hyp;

static void setup(void)
{
    sim_ram_setup_simple(64);
    test_world_create(all, 3, PAGES, &hyp);
}

static void teardown(void)
{
    /* Every frame and table came back. */
    ck_assert_uint_eq(test_world_destroy(all, 3, &hyp), 0);
    sim_ram_teardown();
}

static void assert_invariants(void)
{
    char msg[256];
    if (!share_invariants(all, 3, &hyp, msg, sizeof(msg)))
        ck_abort_msg("%s", msg);
}

static paddr_t pa_of(struct test_vm *t, uint64_t ipa)
{
    paddr_t p;
    ck_assert_int_eq(pt_lookup(&t->s2, ipa, &p, NULL, NULL, NULL), ERR_OK);
    return p;
}

static unsigned prot_of(struct test_vm *t, uint64_t ipa)
{
    unsigned prot;
    ck_assert_int_eq(pt_lookup(&t->s2, ipa, NULL, &prot, NULL, NULL), ERR_OK);
    return prot;
}

static struct frame_meta *fm_of(paddr_t p)
{
    return &meta_slot(p)->m.frame;
}

static uint32_t refs(paddr_t p)
{
    return page_slot_ref_count(meta_slot(p));
}

static struct share_counts counts(struct test_vm *t)
{
    struct share_counts x;
    share_vm_counts(&t->sh, &x);
    return x;
}

static uint64_t frames_in_use(void)
{
    struct page_census cs;
    page_census(&cs);
    return cs.by_usage[PAGE_FRAME];
}

/* --- transitions ------------------------------------------------------------------ */

START_TEST(test_share_rw_maps_borrower_and_unshare_restores)
{
    paddr_t p0 = pa_of(&a, IPA(3)), p1 = pa_of(&a, IPA(4));
    ck_assert_int_eq(share_share(&a.sh, IPA(3), 2, &b.sh, WIN(10), 0), ERR_OK);
    ck_assert_uint_eq(fm_of(p0)->share, FRAME_SHARED_OWNED);
    ck_assert_uint_eq(fm_of(p0)->borrower, 1);
    ck_assert_uint_eq(fm_of(p1)->owner_vm, 0);
    ck_assert_uint_eq(refs(p0), 2);
    ck_assert_uint_eq(refs(p1), 2);
    ck_assert_uint_eq(pa_val(pa_of(&b, WIN(10))), pa_val(p0));
    ck_assert_uint_eq(pa_val(pa_of(&b, WIN(11))), pa_val(p1));
    ck_assert_uint_eq(prot_of(&b, WIN(10)), PT_R | PT_W);
    ck_assert_uint_eq(prot_of(&a, IPA(3)), RWX);
    ck_assert_uint_eq(counts(&a).shared, 2);
    ck_assert_uint_eq(counts(&b).borrowed, 2);
    assert_invariants();

    ck_assert_int_eq(share_unshare(&a.sh, IPA(3), 2, &b.sh, WIN(10)), ERR_OK);
    ck_assert_uint_eq(fm_of(p0)->share, FRAME_OWNED);
    ck_assert_uint_eq(refs(p0), 1);
    ck_assert_int_eq(pt_lookup(&b.s2, WIN(10), NULL, NULL, NULL, NULL), ERR_NOENT);
    ck_assert_uint_eq(counts(&a).shared, 0);
    ck_assert_uint_eq(counts(&b).borrowed, 0);
    assert_invariants();
}
END_TEST

START_TEST(test_share_ro_maps_borrower_read_only)
{
    paddr_t p = pa_of(&a, IPA(0));
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), SHARE_RO), ERR_OK);
    ck_assert_uint_eq(prot_of(&b, WIN(0)), PT_R);
    ck_assert_uint_eq(fm_of(p)->flags, FRAME_F_RO);
    /* The raw descriptor: S2AP read only, execute never. */
    pte_t e = pt_prot_to_attrs(PT_STAGE2, PT_R);
    ck_assert(!(e & PTE_S2_AP_W) && (e & PTE_S2_AP_R) && (e & PTE_XN));
    assert_invariants();
}
END_TEST

START_TEST(test_lend_leaves_owner_no_access_and_reclaim_gives_it_back)
{
    paddr_t p = pa_of(&a, IPA(5));
    ck_assert_int_eq(share_lend(&a.sh, IPA(5), 1, &b.sh, WIN(0)), ERR_OK);
    ck_assert_uint_eq(fm_of(p)->share, FRAME_LENT);
    ck_assert_uint_eq(prot_of(&a, IPA(5)), 0); /* mapped, no access, still owning */
    ck_assert_uint_eq(prot_of(&b, WIN(0)), PT_R | PT_W);
    ck_assert_uint_eq(refs(p), 2);
    ck_assert_uint_eq(counts(&a).lent, 1);
    ck_assert_uint_eq(counts(&b).borrowed, 1);
    assert_invariants();

    ck_assert_int_eq(share_reclaim(&a.sh, IPA(5), 1, &b.sh, WIN(0)), ERR_OK);
    ck_assert_uint_eq(prot_of(&a, IPA(5)), RWX);
    ck_assert_int_eq(pt_lookup(&b.s2, WIN(0), NULL, NULL, NULL, NULL), ERR_NOENT);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(counts(&a).lent, 0);
    ck_assert_uint_eq(counts(&b).borrowed, 0);
    assert_invariants();
}
END_TEST

START_TEST(test_donate_moves_ownership)
{
    paddr_t p = pa_of(&a, IPA(7));
    ck_assert_int_eq(share_donate(&a.sh, IPA(7), 1, &b.sh, WIN(3)), ERR_OK);
    ck_assert_int_eq(pt_lookup(&a.s2, IPA(7), NULL, NULL, NULL, NULL), ERR_NOENT);
    ck_assert_uint_eq(prot_of(&b, WIN(3)), RWX);
    ck_assert_uint_eq(fm_of(p)->owner_vm, 1);
    ck_assert_uint_eq(fm_of(p)->share, FRAME_OWNED);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(counts(&a).owned, PAGES - 1);
    ck_assert_uint_eq(counts(&b).owned, PAGES + 1);
    assert_invariants();
    /* The new owner may share it on; the old one may not. */
    ck_assert_int_eq(share_share(&a.sh, IPA(7), 1, &c.sh, WIN(0), 0), ERR_NOENT);
    ck_assert_int_eq(share_share(&b.sh, WIN(3), 1, &c.sh, WIN(0), 0), ERR_OK);
    assert_invariants();
}
END_TEST

START_TEST(test_share_with_hyp_maps_in_tally_stage1)
{
    paddr_t p = pa_of(&a, IPA(9));
    ck_assert_int_eq(share_with_hyp(&a.sh, IPA(9), 1), ERR_OK);
    paddr_t q;
    bool owned;
    unsigned prot;
    ck_assert_int_eq(pt_lookup(&hyp, share_hyp_va(p), &q, &prot, NULL, &owned), ERR_OK);
    ck_assert_uint_eq(pa_val(q), pa_val(p));
    ck_assert(owned);
    ck_assert_uint_eq(prot, PT_R | PT_W);
    ck_assert_uint_eq(refs(p), 2);
    ck_assert_uint_eq(fm_of(p)->borrower, OWNER_HYP);
    ck_assert_uint_eq(counts(&a).hyp_shared, 1);
    assert_invariants();
    ck_assert_int_eq(share_unshare_hyp(&a.sh, IPA(9), 1), ERR_OK);
    ck_assert_int_eq(pt_lookup(&hyp, share_hyp_va(p), NULL, NULL, NULL, NULL), ERR_NOENT);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(counts(&a).hyp_shared, 0);
    assert_invariants();
}
END_TEST

START_TEST(test_relinquish_shared_returns_page_to_owner)
{
    paddr_t p = pa_of(&a, IPA(1));
    ck_assert_int_eq(share_share(&a.sh, IPA(1), 1, &b.sh, WIN(0), 0), ERR_OK);
    ck_assert_int_eq(share_relinquish(&b.sh, WIN(0), 1), ERR_OK);
    ck_assert_uint_eq(fm_of(p)->share, FRAME_OWNED);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(counts(&a).shared, 0);
    ck_assert_uint_eq(counts(&b).borrowed, 0);
    assert_invariants();
}
END_TEST

START_TEST(test_relinquish_lent_then_reclaim_without_borrower)
{
    paddr_t p = pa_of(&a, IPA(2));
    ck_assert_int_eq(share_lend(&a.sh, IPA(2), 1, &b.sh, WIN(0)), ERR_OK);
    ck_assert_int_eq(share_relinquish(&b.sh, WIN(0), 1), ERR_OK);
    ck_assert_uint_eq(fm_of(p)->share, FRAME_LENT);
    ck_assert_uint_eq(fm_of(p)->borrower, FRAME_NO_VM);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(counts(&a).lent, 1);
    assert_invariants();
    ck_assert_int_eq(share_reclaim(&a.sh, IPA(2), 1, NULL, 0), ERR_OK);
    ck_assert_uint_eq(prot_of(&a, IPA(2)), RWX);
    ck_assert_uint_eq(counts(&a).lent, 0);
    assert_invariants();
}
END_TEST

/* --- teardown with live sharing ---------------------------------------------------- */

START_TEST(test_owner_teardown_keeps_page_borrower_maps_until_it_lets_go)
{
    paddr_t p = pa_of(&a, IPA(4));
    memset(arch_phys_to_virt(p), 0xab, PAGE_SIZE);
    ck_assert_int_eq(share_share(&a.sh, IPA(4), 1, &b.sh, WIN(8), 0), ERR_OK);
    uint64_t frames0 = frames_in_use();
    test_vm_destroy(&a);
    /* A's other 63 frames went; the shared one stayed. */
    ck_assert_uint_eq(frames_in_use(), frames0 - (PAGES - 1));
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(fm_of(p)->owner_vm, FRAME_NO_VM);
    ck_assert_uint_eq(*(uint8_t *)arch_phys_to_virt(p), 0xab);
    ck_assert_uint_eq(counts(&b).borrowed, 1);
    assert_invariants();

    /* B lets go: the page is freed exactly now. */
    ck_assert_int_eq(share_relinquish(&b.sh, WIN(8), 1), ERR_OK);
    ck_assert_uint_eq(frames_in_use(), frames0 - PAGES);
    ck_assert_uint_eq(page_slot_usage(meta_slot(p)), PAGE_UNUSED);
    ck_assert_uint_eq(counts(&b).borrowed, 0);
    assert_invariants();
    /* Whoever gets it next sees zeros (the per-CPU cache gives it back
     * first; a few tries allow for a table freed after it). */
    paddr_t q = pa(0), other[8];
    unsigned n = 0;
    for (; n < 8; n++) {
        ck_assert_int_eq(page_alloc(0, &q), ERR_OK);
        if (pa_val(q) == pa_val(p))
            break;
        other[n] = q;
    }
    ck_assert_uint_eq(pa_val(q), pa_val(p));
    for (unsigned i = 0; i < n; i++)
        page_free(other[i], 0);
    struct frame f = frame_from_unused(q, (struct frame_meta){.owner_vm = 2});
    const uint8_t *d = frame_data(f);
    for (unsigned i = 0; i < PAGE_SIZE; i++)
        ck_assert_uint_eq(d[i], 0);
    frame_drop(f);
}
END_TEST

START_TEST(test_borrower_teardown_returns_shared_and_lent_pages)
{
    paddr_t s = pa_of(&a, IPA(0)), l = pa_of(&a, IPA(1));
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), SHARE_RO), ERR_OK);
    ck_assert_int_eq(share_lend(&a.sh, IPA(1), 1, &b.sh, WIN(1)), ERR_OK);
    test_vm_destroy(&b);
    ck_assert_uint_eq(fm_of(s)->share, FRAME_OWNED);
    ck_assert_uint_eq(refs(s), 1);
    ck_assert_uint_eq(fm_of(l)->share, FRAME_LENT);
    ck_assert_uint_eq(fm_of(l)->borrower, FRAME_NO_VM);
    ck_assert_uint_eq(refs(l), 1);
    ck_assert_uint_eq(counts(&a).shared, 0);
    ck_assert_uint_eq(counts(&a).lent, 1);
    assert_invariants();
    ck_assert_int_eq(share_reclaim(&a.sh, IPA(1), 1, NULL, 0), ERR_OK);
    assert_invariants();
}
END_TEST

START_TEST(test_owner_teardown_revokes_tally_mapping)
{
    paddr_t p = pa_of(&a, IPA(6));
    ck_assert_int_eq(share_with_hyp(&a.sh, IPA(6), 1), ERR_OK);
    test_vm_destroy(&a);
    ck_assert_int_eq(pt_lookup(&hyp, share_hyp_va(p), NULL, NULL, NULL, NULL), ERR_NOENT);
    ck_assert_uint_eq(page_slot_usage(meta_slot(p)), PAGE_UNUSED); /* freed */
    assert_invariants();
}
END_TEST

START_TEST(test_owner_teardown_with_lent_page_borrower_keeps_it)
{
    paddr_t p = pa_of(&a, IPA(6));
    ck_assert_int_eq(share_lend(&a.sh, IPA(6), 1, &b.sh, WIN(5)), ERR_OK);
    test_vm_destroy(&a);
    ck_assert_uint_eq(refs(p), 1);
    ck_assert_uint_eq(prot_of(&b, WIN(5)), PT_R | PT_W);
    assert_invariants();
    test_vm_destroy(&b); /* its mapping was the last: freed */
    ck_assert_uint_eq(page_slot_usage(meta_slot(p)), PAGE_UNUSED);
    assert_invariants();
}
END_TEST

START_TEST(test_vm_rebuilt_with_same_id_starts_clean)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 4, &b.sh, WIN(0), 0), ERR_OK);
    test_vm_destroy(&b);
    test_vm_create(&b, 1, PAGES, false);
    ck_assert_uint_eq(counts(&b).borrowed, 0);
    ck_assert_uint_eq(counts(&a).shared, 0);
    /* The same window is free again. */
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 4, &b.sh, WIN(0), 0), ERR_OK);
    assert_invariants();
}
END_TEST

START_TEST(test_lend_from_block_mapped_ram_splits_and_counts_stay_exact)
{
    struct test_vm d;
    test_vm_create(&d, 3, 512, true);
    struct test_vm *const four[] = {&a, &b, &c, &d};
    paddr_t p = pa_of(&d, IPA(100));
    ck_assert_int_eq(share_lend(&d.sh, IPA(100), 3, &a.sh, WIN(0)), ERR_OK);
    ck_assert_uint_eq(prot_of(&d, IPA(99)), RWX);
    ck_assert_uint_eq(prot_of(&d, IPA(100)), 0);
    ck_assert_uint_eq(prot_of(&d, IPA(103)), RWX);
    ck_assert_uint_eq(refs(p), 2);
    char msg[256];
    ck_assert_msg(share_invariants(four, 4, &hyp, msg, sizeof(msg)), "%s", msg);
    ck_assert_int_eq(share_reclaim(&d.sh, IPA(100), 3, &a.sh, WIN(0)), ERR_OK);
    ck_assert_msg(share_invariants(four, 4, &hyp, msg, sizeof(msg)), "%s", msg);
    test_vm_destroy(&d);
}
END_TEST

/* --- hostile requests: own code, nothing changed ----------------------------------- */

static struct share_snapshot before;

static void snap(void)
{
    share_snapshot(all, 3, &hyp, &before);
}

/* The call failed with `want` and changed nothing at all. */
#define REFUSED(call, want)                                                                        \
    do {                                                                                           \
        snap();                                                                                    \
        ck_assert_int_eq((call), (want));                                                          \
        struct share_snapshot after_;                                                              \
        share_snapshot(all, 3, &hyp, &after_);                                                     \
        ck_assert_msg(share_snapshot_eq(&before, &after_), "%s changed state", #call);             \
        assert_invariants();                                                                       \
    } while (0)

START_TEST(test_hostile_zero_pages)
{
    REFUSED(share_share(&a.sh, IPA(0), 0, &b.sh, WIN(0), 0), ERR_INVAL);
}
END_TEST

START_TEST(test_hostile_too_many_pages)
{
    REFUSED(share_share(&a.sh, IPA(0), SHARE_MAX_PAGES + 1, &b.sh, WIN(0), 0), ERR_TOOBIG);
}
END_TEST

START_TEST(test_hostile_request_larger_than_vm)
{
    /* 64 pages of RAM, 65 asked: the 65th is not mapped. */
    REFUSED(share_share(&a.sh, IPA(0), PAGES + 1, &b.sh, WIN(0), 0), ERR_NOENT);
    ck_assert_int_eq(pt_lookup(&b.s2, WIN(0), NULL, NULL, NULL, NULL), ERR_NOENT);
}
END_TEST

START_TEST(test_hostile_unaligned_ipa)
{
    REFUSED(share_share(&a.sh, IPA(0) + 8, 1, &b.sh, WIN(0), 0), ERR_ALIGN);
    REFUSED(share_lend(&a.sh, IPA(0) + 0x800, 1, &b.sh, WIN(0)), ERR_ALIGN);
}
END_TEST

START_TEST(test_hostile_unaligned_target_ipa)
{
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0) + 4, 0), ERR_ALIGN);
}
END_TEST

START_TEST(test_hostile_ipa_beyond_space)
{
    REFUSED(share_share(&a.sh, 1ull << TVM_IA_BITS, 1, &b.sh, WIN(0), 0), ERR_RANGE);
    REFUSED(share_donate(&a.sh, ~0ull & ~0xfffull, 1, &b.sh, WIN(0)), ERR_RANGE);
}
END_TEST

START_TEST(test_hostile_range_wraps_past_end)
{
    REFUSED(share_share(&a.sh, (1ull << TVM_IA_BITS) - PAGE_SIZE, 2, &b.sh, WIN(0), 0), ERR_RANGE);
}
END_TEST

START_TEST(test_hostile_target_ipa_outside_window)
{
    /* Into the target's own RAM. */
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, IPA(0), 0), ERR_RANGE);
    /* Running off the window's end. */
    REFUSED(share_share(&a.sh, IPA(0), 2, &b.sh, TVM_BORROW_IPA + TVM_BORROW_SZ - PAGE_SIZE, 0),
            ERR_RANGE);
}
END_TEST

START_TEST(test_hostile_missing_vm)
{
    REFUSED(share_share(&a.sh, IPA(0), 1, NULL, WIN(0), 0), ERR_NOVM);
    REFUSED(share_lend(&a.sh, IPA(0), 1, NULL, WIN(0)), ERR_NOVM);
    REFUSED(share_donate(&a.sh, IPA(0), 1, NULL, WIN(0)), ERR_NOVM);
    REFUSED(share_unshare(&a.sh, IPA(0), 1, NULL, WIN(0)), ERR_NOVM);
}
END_TEST

START_TEST(test_hostile_share_with_self)
{
    REFUSED(share_share(&a.sh, IPA(0), 1, &a.sh, WIN(0), 0), ERR_SELF);
    REFUSED(share_lend(&a.sh, IPA(0), 1, &a.sh, WIN(0)), ERR_SELF);
    REFUSED(share_donate(&a.sh, IPA(0), 1, &a.sh, WIN(0)), ERR_SELF);
}
END_TEST

START_TEST(test_hostile_race_with_target_teardown)
{
    /* B is between share_vm_teardown() and aspace_destroy(): dying. */
    share_vm_teardown(&b.sh);
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_DYING);
    REFUSED(share_lend(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_DYING);
    REFUSED(share_donate(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_DYING);
    aspace_destroy(&b.s2);
    b.live = false;
    /* Gone: the registry no longer knows it. */
    ck_assert_ptr_eq(share_vm_get(1), NULL);
}
END_TEST

START_TEST(test_hostile_unmapped_ipa)
{
    REFUSED(share_share(&a.sh, IPA(PAGES + 100), 1, &b.sh, WIN(0), 0), ERR_NOENT);
    REFUSED(share_with_hyp(&a.sh, 0x3f00000000ull, 1), ERR_NOENT);
}
END_TEST

START_TEST(test_hostile_hypervisor_memory)
{
    /* IPA equal to where Tally's own pages sit in PA: never mapped for a guest. */
    REFUSED(share_share(&a.sh, 0x40000000ull - PAGE_SIZE, 1, &b.sh, WIN(0), 0), ERR_NOENT);
}
END_TEST

START_TEST(test_hostile_mmio_page)
{
    REFUSED(share_share(&a.sh, TVM_MMIO_IPA, 1, &b.sh, WIN(0), 0), ERR_DEVICE);
    REFUSED(share_with_hyp(&a.sh, TVM_MMIO_IPA, 1), ERR_DEVICE);
    REFUSED(share_donate(&a.sh, TVM_MMIO_IPA, 1, &b.sh, WIN(0)), ERR_DEVICE);
}
END_TEST

START_TEST(test_hostile_share_borrowed_page_onward)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_OK);
    REFUSED(share_share(&b.sh, WIN(0), 1, &c.sh, WIN(0), 0), ERR_PERM);
    REFUSED(share_donate(&b.sh, WIN(0), 1, &c.sh, WIN(0)), ERR_PERM);
    REFUSED(share_unshare(&b.sh, WIN(0), 1, &a.sh, IPA(0)), ERR_PERM);
}
END_TEST

START_TEST(test_hostile_double_share)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_OK);
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(1), 0), ERR_SHARED);
    REFUSED(share_share(&a.sh, IPA(0), 1, &c.sh, WIN(0), 0), ERR_SHARED);
    REFUSED(share_lend(&a.sh, IPA(0), 1, &c.sh, WIN(0)), ERR_SHARED);
    REFUSED(share_donate(&a.sh, IPA(0), 1, &c.sh, WIN(0)), ERR_SHARED);
    REFUSED(share_with_hyp(&a.sh, IPA(0), 1), ERR_SHARED);
}
END_TEST

START_TEST(test_hostile_share_of_lent_page)
{
    ck_assert_int_eq(share_lend(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_OK);
    REFUSED(share_share(&a.sh, IPA(0), 1, &c.sh, WIN(0), 0), ERR_LENT);
    REFUSED(share_lend(&a.sh, IPA(0), 1, &c.sh, WIN(0)), ERR_LENT);
    REFUSED(share_with_hyp(&a.sh, IPA(0), 1), ERR_LENT);
    REFUSED(share_unshare(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_LENT);
}
END_TEST

START_TEST(test_hostile_unshare_not_shared)
{
    REFUSED(share_unshare(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_NOTSHARED);
    REFUSED(share_unshare_hyp(&a.sh, IPA(0), 1), ERR_NOTSHARED);
    REFUSED(share_reclaim(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_NOTSHARED);
    REFUSED(share_relinquish(&b.sh, IPA(0), 1), ERR_NOTSHARED);
}
END_TEST

START_TEST(test_hostile_unshare_wrong_target_or_address)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(4), 0), ERR_OK);
    REFUSED(share_unshare(&a.sh, IPA(0), 1, &c.sh, WIN(4)), ERR_NOTSHARED);
    REFUSED(share_unshare(&a.sh, IPA(0), 1, &b.sh, WIN(5)), ERR_NOTSHARED);
    REFUSED(share_unshare_hyp(&a.sh, IPA(0), 1), ERR_NOTSHARED);
}
END_TEST

START_TEST(test_hostile_reclaim_without_naming_live_borrower)
{
    ck_assert_int_eq(share_lend(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_OK);
    REFUSED(share_reclaim(&a.sh, IPA(0), 1, NULL, 0), ERR_NOTSHARED);
    REFUSED(share_reclaim(&a.sh, IPA(0), 1, &c.sh, WIN(0)), ERR_NOTSHARED);
}
END_TEST

START_TEST(test_hostile_overlapping_target_range)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 2, &b.sh, WIN(0), 0), ERR_OK);
    /* Different pages, target range overlapping the first share's. */
    REFUSED(share_share(&a.sh, IPA(2), 2, &b.sh, WIN(1), 0), ERR_EXIST);
    REFUSED(share_share(&c.sh, IPA(0), 4, &b.sh, WIN(1), 0), ERR_EXIST);
}
END_TEST

START_TEST(test_hostile_overlapping_source_range)
{
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 2, &b.sh, WIN(0), 0), ERR_OK);
    /* Pages 2-3 would be fine, page 1 is shared already: nothing happens. */
    REFUSED(share_share(&a.sh, IPA(1), 3, &b.sh, WIN(8), 0), ERR_SHARED);
    ck_assert_int_eq(pt_lookup(&b.s2, WIN(9), NULL, NULL, NULL, NULL), ERR_NOENT);
}
END_TEST

START_TEST(test_hostile_count_would_saturate)
{
    /* The last page's count sits at the limit: the whole request fails,
     * including the pages already mapped into the target before it. */
    paddr_t p = pa_of(&a, IPA(3));
    /* A's RAM is compound pages: the page needs a count of its own first. */
    ck_assert_int_eq(pt_break_block(&a.s2, IPA(3)), ERR_OK);
    ck_assert_uint_eq(page_block_order(p), 0);
    struct meta_slot *s = meta_slot(p);
    atomic_store_u32(&s->ref_count, REF_MAX, MO_RELAXED);
    snap();
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 4, &b.sh, WIN(0), 0), ERR_BUSY);
    struct share_snapshot after;
    share_snapshot(all, 3, &hyp, &after);
    ck_assert(share_snapshot_eq(&before, &after));
    ck_assert_int_eq(share_with_hyp(&a.sh, IPA(3), 1), ERR_BUSY);
    share_snapshot(all, 3, &hyp, &after);
    ck_assert(share_snapshot_eq(&before, &after));
    atomic_store_u32(&s->ref_count, 1, MO_RELAXED);
    assert_invariants();
}
END_TEST

START_TEST(test_hostile_bad_flags)
{
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0x2), ERR_INVAL);
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 1ull << 32), ERR_INVAL);
}
END_TEST

START_TEST(test_hostile_double_share_with_tally)
{
    ck_assert_int_eq(share_with_hyp(&a.sh, IPA(0), 1), ERR_OK);
    REFUSED(share_with_hyp(&a.sh, IPA(0), 1), ERR_SHARED);
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_SHARED);
    REFUSED(share_unshare(&a.sh, IPA(0), 1, &b.sh, WIN(0)), ERR_NOTSHARED);
    /* Another VM's page at the same IPA is another page. */
    ck_assert_int_eq(share_with_hyp(&b.sh, IPA(0), 1), ERR_OK);
    ck_assert_int_eq(share_unshare_hyp(&b.sh, IPA(0), 1), ERR_OK);
    assert_invariants();
}
END_TEST

START_TEST(test_hostile_no_memory_for_tables)
{
    /* Hoard every free page: the target's first table cannot be had. */
    page_alloc_drain();
    uint64_t n = page_alloc_free_pages();
    paddr_t *hoard = malloc(n * sizeof(*hoard));
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(page_alloc(0, &hoard[i]), ERR_OK);
    REFUSED(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_NOMEM);
    REFUSED(share_with_hyp(&a.sh, IPA(0), 1), ERR_NOMEM);
    for (uint64_t i = 0; i < n; i++)
        page_free(hoard[i], 0);
    free(hoard);
}
END_TEST

START_TEST(test_hostile_lend_split_without_memory_undoes_target_map)
{
    /* D's RAM is one 2 MiB block: lending one page needs a table for the
     * split. B's window table is made first by a successful share, so the
     * target map itself needs nothing; the split then fails. */
    struct test_vm d;
    test_vm_create(&d, 3, 512, true);
    ck_assert_int_eq(share_share(&a.sh, IPA(0), 1, &b.sh, WIN(0), 0), ERR_OK);
    page_alloc_drain();
    uint64_t n = page_alloc_free_pages();
    paddr_t *hoard = malloc(n * sizeof(*hoard));
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(page_alloc(0, &hoard[i]), ERR_OK);
    struct test_vm *const four[] = {&a, &b, &c, &d};
    struct share_snapshot s0, s1;
    share_snapshot(four, 4, &hyp, &s0);
    ck_assert_int_eq(share_lend(&d.sh, IPA(10), 1, &b.sh, WIN(1)), ERR_NOMEM);
    ck_assert_int_eq(share_donate(&d.sh, IPA(10), 1, &b.sh, WIN(1)), ERR_NOMEM);
    share_snapshot(four, 4, &hyp, &s1);
    ck_assert(share_snapshot_eq(&s0, &s1));
    for (uint64_t i = 0; i < n; i++)
        page_free(hoard[i], 0);
    free(hoard);
    test_vm_destroy(&d);
}
END_TEST

START_TEST(test_hostile_tally_sharing_not_set_up)
{
    share_hyp_reset();
    ck_assert_int_eq(share_with_hyp(&a.sh, IPA(0), 1), ERR_NOTSUP);
    ck_assert_int_eq(share_unshare_hyp(&a.sh, IPA(0), 1), ERR_NOTSUP);
    uint64_t size = ALIGN_UP(meta_nr_slots() << PAGE_SHIFT, 1ull << 30);
    ck_assert_int_eq(share_hyp_init(&hyp, THYP_VA_BASE, PAGE_SIZE), ERR_RANGE);
    ck_assert_int_eq(share_hyp_init(&hyp, THYP_VA_BASE + 1, size), ERR_ALIGN);
    ck_assert_int_eq(share_hyp_init(&hyp, THYP_VA_BASE, size), ERR_OK);
}
END_TEST

START_TEST(test_hostile_every_code_distinct)
{
    static const int codes[] = {ERR_NOMEM,  ERR_INVAL,  ERR_ALIGN,  ERR_RANGE, ERR_EXIST,
                                ERR_NOENT,  ERR_BUSY,   ERR_STATE,  ERR_PERM,  ERR_NOTSUP,
                                ERR_NOVM,   ERR_SELF,   ERR_SHARED, ERR_LENT,  ERR_NOTSHARED,
                                ERR_DEVICE, ERR_TOOBIG, ERR_DYING};
    for (unsigned i = 0; i < ARRAY_SIZE(codes); i++) {
        ck_assert_int_eq(codes[i], -(int)i - 1);
        ck_assert_str_ne(tally_strerror(codes[i]), "unknown error");
    }
}
END_TEST

Suite *share_suite(void)
{
    Suite *s = suite_create("share");
    TCase *t = tcase_create("transitions");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_share_rw_maps_borrower_and_unshare_restores);
    tcase_add_test(t, test_share_ro_maps_borrower_read_only);
    tcase_add_test(t, test_lend_leaves_owner_no_access_and_reclaim_gives_it_back);
    tcase_add_test(t, test_donate_moves_ownership);
    tcase_add_test(t, test_share_with_hyp_maps_in_tally_stage1);
    tcase_add_test(t, test_relinquish_shared_returns_page_to_owner);
    tcase_add_test(t, test_relinquish_lent_then_reclaim_without_borrower);
    tcase_add_test(t, test_lend_from_block_mapped_ram_splits_and_counts_stay_exact);
    suite_add_tcase(s, t);

    t = tcase_create("teardown");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_owner_teardown_keeps_page_borrower_maps_until_it_lets_go);
    tcase_add_test(t, test_borrower_teardown_returns_shared_and_lent_pages);
    tcase_add_test(t, test_owner_teardown_revokes_tally_mapping);
    tcase_add_test(t, test_owner_teardown_with_lent_page_borrower_keeps_it);
    tcase_add_test(t, test_vm_rebuilt_with_same_id_starts_clean);
    suite_add_tcase(s, t);

    t = tcase_create("hostile");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_hostile_zero_pages);
    tcase_add_test(t, test_hostile_too_many_pages);
    tcase_add_test(t, test_hostile_request_larger_than_vm);
    tcase_add_test(t, test_hostile_unaligned_ipa);
    tcase_add_test(t, test_hostile_unaligned_target_ipa);
    tcase_add_test(t, test_hostile_ipa_beyond_space);
    tcase_add_test(t, test_hostile_range_wraps_past_end);
    tcase_add_test(t, test_hostile_target_ipa_outside_window);
    tcase_add_test(t, test_hostile_missing_vm);
    tcase_add_test(t, test_hostile_share_with_self);
    tcase_add_test(t, test_hostile_race_with_target_teardown);
    tcase_add_test(t, test_hostile_unmapped_ipa);
    tcase_add_test(t, test_hostile_hypervisor_memory);
    tcase_add_test(t, test_hostile_mmio_page);
    tcase_add_test(t, test_hostile_share_borrowed_page_onward);
    tcase_add_test(t, test_hostile_double_share);
    tcase_add_test(t, test_hostile_share_of_lent_page);
    tcase_add_test(t, test_hostile_unshare_not_shared);
    tcase_add_test(t, test_hostile_unshare_wrong_target_or_address);
    tcase_add_test(t, test_hostile_reclaim_without_naming_live_borrower);
    tcase_add_test(t, test_hostile_overlapping_target_range);
    tcase_add_test(t, test_hostile_overlapping_source_range);
    tcase_add_test(t, test_hostile_count_would_saturate);
    tcase_add_test(t, test_hostile_bad_flags);
    tcase_add_test(t, test_hostile_double_share_with_tally);
    tcase_add_test(t, test_hostile_no_memory_for_tables);
    tcase_add_test(t, test_hostile_lend_split_without_memory_undoes_target_map);
    tcase_add_test(t, test_hostile_tally_sharing_not_set_up);
    tcase_add_test(t, test_hostile_every_code_distinct);
    suite_add_tcase(s, t);
    return s;
}
