// SPDX-License-Identifier: MIT
// Test VMs and the sharing invariants (share_fixture.h).
#include "share_fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tally/page_alloc.h>
#include <tally/panic.h>

#define RWX (PT_R | PT_W | PT_X)

static void vm_create(struct test_vm *t, uint16_t id, uint64_t pages, unsigned order, bool compound)
{
    memset(t, 0, sizeof(*t));
    BUG_ON(aspace_init(&t->s2, PT_STAGE2, TVM_IA_BITS, (uint16_t)(id + 1), id) != ERR_OK);
    uint64_t step = 1ull << order;
    BUG_ON(pages % step);
    for (uint64_t i = 0; i < pages; i += step) {
        paddr_t p;
        BUG_ON(page_alloc(order, &p) != ERR_OK);
        if (compound)
            frame_block_from_unused(p, order, (struct frame_meta){.owner_vm = id});
        else
            for (uint64_t k = 0; k < step; k++)
                frame_from_unused(pa_add(p, k << PAGE_SHIFT), (struct frame_meta){.owner_vm = id});
        BUG_ON(pt_map_frames(&t->s2, TVM_RAM_IPA + (i << PAGE_SHIFT), p, step << PAGE_SHIFT, RWX) !=
               ERR_OK);
        for (uint64_t k = 0; k < (compound ? 1 : step); k++)
            frame_drop((struct frame){meta_slot(pa_add(p, k << PAGE_SHIFT))});
    }
    BUG_ON(pt_map_phys(&t->s2, TVM_MMIO_IPA, pa(TVM_MMIO_PA), PAGE_SIZE, PT_R | PT_W | PT_DEVICE) !=
           ERR_OK);
    t->pages = pages;
    share_vm_init(&t->sh, id, &t->s2, pages, TVM_BORROW_IPA, TVM_BORROW_SZ);
    t->live = true;
}

void test_vm_create(struct test_vm *t, uint16_t id, uint64_t pages, bool blocks)
{
    vm_create(t, id, pages, blocks ? 9 : 0, false);
}

void test_vm_create_compound(struct test_vm *t, uint16_t id, uint64_t pages, unsigned order)
{
    vm_create(t, id, pages, order, true);
}

void test_vm_destroy(struct test_vm *t)
{
    share_vm_teardown(&t->sh);
    aspace_destroy(&t->s2);
    t->live = false;
}

void test_hyp_create(struct aspace *hyp)
{
    BUG_ON(aspace_init(hyp, PT_STAGE1_EL2, THYP_IA_BITS, 0, OWNER_HYP) != ERR_OK);
    uint64_t size = ALIGN_UP(meta_nr_slots() << PAGE_SHIFT, 1ull << 30);
    BUG_ON(share_hyp_init(hyp, THYP_VA_BASE, size) != ERR_OK);
}

void test_hyp_destroy(struct aspace *hyp)
{
    share_hyp_reset();
    aspace_destroy(hyp);
}

/* VM 0 of a world has its RAM in compound pages of 16 frames, as Tally
 * types a VM's RAM (in 2 MiB pieces), so every call on it breaks blocks;
 * the others have pages of their own. */
static void world_vm_create(struct test_vm *t, uint16_t id, uint64_t pages)
{
    if (id == 0 && pages % 16 == 0)
        test_vm_create_compound(t, id, pages, 4);
    else
        test_vm_create(t, id, pages, false);
}

void test_world_create(struct test_vm *const *vms, unsigned n, uint64_t pages, struct aspace *hyp)
{
    for (unsigned i = 0; i < n; i++)
        world_vm_create(vms[i], (uint16_t)i, pages);
    test_hyp_create(hyp);
}

uint64_t test_world_destroy(struct test_vm *const *vms, unsigned n, struct aspace *hyp)
{
    for (unsigned i = 0; i < n; i++)
        if (vms[i]->live)
            test_vm_destroy(vms[i]);
    test_hyp_destroy(hyp);
    struct page_census c;
    page_census(&c);
    return c.by_usage[PAGE_FRAME] + c.by_usage[PAGE_PT];
}

/* --- invariants ------------------------------------------------------------------ */

#define WHO_HYP  0xff
#define MAX_MAPS 4

struct map_rec {
    uint8_t n;
    struct {
        uint8_t who; /* index into vms[], or WHO_HYP */
        uint8_t prot;
        uint64_t ia;
    } m[MAX_MAPS];
};

struct inv {
    struct map_rec *maps; /* by slot index */
    uint32_t *refs;       /* by slot index: references the entries own on it */
    uint8_t who;
    enum pt_stage stage;
    bool overflow;
    uint64_t overflow_slot;
};

static int record_leaf(const struct pt_visit *v, void *ctx)
{
    struct inv *in = ctx;
    if (!(v->pte & PTE_SW_OWNED))
        return 0;
    uint64_t n = pte_level_size(v->level) >> PAGE_SHIFT;
    /* One reference on the slot that counts the page (its compound page's
     * head, or its own): per entry for a page or a PTE_SW_BLOCKREF block,
     * else per page. */
    bool one = v->level == 3 || (v->pte & PTE_SW_BLOCKREF);
    for (uint64_t i = 0; i < (one ? 1 : n); i++)
        in->refs[meta_slot_index(page_owner_slot(pa(pte_oa(v->pte) + (i << PAGE_SHIFT))))]++;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t idx = meta_slot_index(meta_slot(pa(pte_oa(v->pte) + (i << PAGE_SHIFT))));
        struct map_rec *r = &in->maps[idx];
        if (r->n == MAX_MAPS) {
            in->overflow = true;
            in->overflow_slot = idx;
            continue;
        }
        r->m[r->n].who = in->who;
        r->m[r->n].prot = (uint8_t)pt_attrs_to_prot(in->stage, v->pte);
        r->m[r->n].ia = v->ia + (i << PAGE_SHIFT);
        r->n++;
    }
    return 0;
}

static bool fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return false;
}

/* The index in vms[] of the live VM with this id, or -1. */
static int live_index(struct test_vm *const *vms, unsigned n, uint16_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (vms[i]->live && vms[i]->sh.id == id)
            return (int)i;
    return -1;
}

/* The mapping of frame rec by `who`, or NULL. */
static const void *find_map(const struct map_rec *r, uint8_t who, unsigned *prot, uint64_t *ia)
{
    for (unsigned k = 0; k < r->n; k++)
        if (r->m[k].who == who) {
            *prot = r->m[k].prot;
            *ia = r->m[k].ia;
            return r;
        }
    return NULL;
}

static bool check_frame(struct test_vm *const *vms, unsigned n, uint64_t idx,
                        const struct map_rec *r, struct share_counts *want, char *msg, size_t len)
{
    struct meta_slot *s = meta_slot_at((uint32_t)idx);
    paddr_t p = meta_slot_paddr(s);
    const struct frame_meta *fm = &s->m.frame;
    /* Only the owner maps a page of a compound page: anyone else's
     * reference would keep the whole block alive (share.c breaks it). */
    if (page_block_order(p) && (fm->share != FRAME_OWNED || fm->owner_vm == FRAME_NO_VM))
        return fail(msg, len, "frame %#lx: state %u but still a page of a block of order %u",
                    pa_val(p), fm->share, page_block_order(p));
    int o = live_index(vms, n, fm->owner_vm);
    unsigned expect_maps = 0, prot;
    uint64_t ia;
    if (fm->owner_vm != FRAME_NO_VM) {
        if (o < 0)
            return fail(msg, len, "frame %#lx: owner %u is not a live VM", pa_val(p), fm->owner_vm);
        if (!find_map(r, (uint8_t)o, &prot, &ia))
            return fail(msg, len, "frame %#lx: owner %u does not map it", pa_val(p), fm->owner_vm);
        unsigned want_prot = fm->share == FRAME_LENT ? 0 : RWX;
        if (prot != want_prot)
            return fail(msg, len, "frame %#lx (state %u): owner maps it with prot %#x", pa_val(p),
                        fm->share, prot);
        expect_maps++;
        want[o].owned++;
    } else if (fm->share == FRAME_OWNED) {
        return fail(msg, len, "frame %#lx: owned by nobody", pa_val(p));
    }
    if (fm->share != FRAME_OWNED) {
        if (fm->borrower == OWNER_HYP) {
            if (fm->share != FRAME_SHARED_OWNED || !find_map(r, WHO_HYP, &prot, &ia) ||
                ia != share_hyp_va(p) || o < 0)
                return fail(msg, len, "frame %#lx: shared with Tally but not mapped there",
                            pa_val(p));
            expect_maps++;
            want[o].hyp_shared++;
        } else if (fm->borrower != FRAME_NO_VM) {
            int b = live_index(vms, n, fm->borrower);
            if (b < 0 || b == o || !find_map(r, (uint8_t)b, &prot, &ia))
                return fail(msg, len, "frame %#lx: borrower %u does not map it", pa_val(p),
                            fm->borrower);
            unsigned want_prot = fm->share == FRAME_LENT    ? (PT_R | PT_W)
                                 : (fm->flags & FRAME_F_RO) ? PT_R
                                                            : (PT_R | PT_W);
            if (prot != want_prot || ia < TVM_BORROW_IPA)
                return fail(msg, len, "frame %#lx: borrower maps it at %#lx with prot %#x",
                            pa_val(p), ia, prot);
            expect_maps++;
            want[b].borrowed++;
            if (o >= 0 && fm->share == FRAME_SHARED_OWNED)
                want[o].shared++;
        } else if (fm->share != FRAME_LENT || o < 0) {
            return fail(msg, len, "frame %#lx: state %u with no borrower", pa_val(p), fm->share);
        }
        if (o >= 0 && fm->share == FRAME_LENT)
            want[o].lent++;
    }
    if (expect_maps != r->n)
        return fail(msg, len, "frame %#lx: %u mappings, its state accounts for %u", pa_val(p), r->n,
                    expect_maps);
    return true;
}

bool share_invariants(struct test_vm *const *vms, unsigned n, struct aspace *hyp, char *msg,
                      size_t len)
{
    uint64_t nslots = meta_nr_slots();
    struct inv in = {.maps = calloc(nslots, sizeof(struct map_rec)),
                     .refs = calloc(nslots, sizeof(uint32_t))};
    BUG_ON(!in.maps || !in.refs);
    bool ok = true;
    for (unsigned i = 0; i < n; i++) {
        if (!vms[i]->live)
            continue;
        in.who = (uint8_t)i;
        in.stage = PT_STAGE2;
        pt_walk(&vms[i]->s2, 0, 1ull << TVM_IA_BITS, &(struct pt_visitor){.leaf = record_leaf},
                &in);
    }
    if (hyp) {
        in.who = WHO_HYP;
        in.stage = PT_STAGE1_EL2;
        pt_walk(hyp, 0, 1ull << hyp->ia_bits, &(struct pt_visitor){.leaf = record_leaf}, &in);
    }
    if (in.overflow)
        ok = fail(msg, len, "slot %lu mapped more than %u times", in.overflow_slot, MAX_MAPS);
    struct share_counts want[8];
    BUG_ON(n > 8);
    memset(want, 0, sizeof(want));
    uint64_t reached = 0;
    for (uint64_t idx = 0; idx < nslots && ok; idx++) {
        struct meta_slot *s = meta_slot_at((uint32_t)idx);
        bool frame = page_slot_usage(s) == PAGE_FRAME && page_slot_ref_count(s) != REF_UNUSED;
        if (!in.maps[idx].n) {
            if (frame)
                ok = fail(msg, len, "frame %#lx (%u refs) mapped nowhere: leaked",
                          pa_val(meta_slot_paddr(s)), page_slot_ref_count(s));
            continue;
        }
        if (!frame) {
            ok = fail(msg, len, "page %#lx is mapped but is not a live frame",
                      pa_val(meta_slot_paddr(s)));
            break;
        }
        reached++;
        /* The counting slots (a head, or a page of its own) hold exactly
         * the references the entries own. */
        if (page_owner_slot(meta_slot_paddr(s)) == s && page_slot_ref_count(s) != in.refs[idx]) {
            ok = fail(msg, len, "frame %#lx: %u references, the entries own %u",
                      pa_val(meta_slot_paddr(s)), page_slot_ref_count(s), in.refs[idx]);
            break;
        }
        ok = check_frame(vms, n, idx, &in.maps[idx], want, msg, len);
    }
    free(in.maps);
    free(in.refs);
    if (!ok)
        return false;
    struct page_census c;
    page_census(&c);
    if (c.by_usage[PAGE_FRAME] != reached)
        return fail(msg, len, "census: %lu frames, %lu reached", c.by_usage[PAGE_FRAME], reached);
    for (unsigned i = 0; i < n; i++) {
        /* A dying VM's counts are zero while its stage-2 still maps. */
        if (!vms[i]->live || vms[i]->sh.dying)
            continue;
        struct share_counts got;
        share_vm_counts(&vms[i]->sh, &got);
        if (memcmp(&got, &want[i], sizeof(got)))
            return fail(msg, len,
                        "VM %u counts: owned %lu shared %lu lent %lu hyp %lu borrowed %lu; "
                        "frames say %lu %lu %lu %lu %lu",
                        vms[i]->sh.id, got.owned, got.shared, got.lent, got.hyp_shared,
                        got.borrowed, want[i].owned, want[i].shared, want[i].lent,
                        want[i].hyp_shared, want[i].borrowed);
    }
    return true;
}

/* --- snapshots -------------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int hash_entry(const struct pt_visit *v, void *ctx)
{
    uint64_t *h = ctx;
    /* Without PTE_SW_BLOCKREF: how an entry's references are counted is
     * not state (share_snapshot_eq). */
    *h = mix(mix(mix(*h, v->ia), v->level), v->pte & ~PTE_SW_BLOCKREF);
    return 0;
}

void share_snapshot(struct test_vm *const *vms, unsigned n, struct aspace *hyp,
                    struct share_snapshot *s)
{
    static const struct pt_visitor hv = {.table_pre = hash_entry, .leaf = hash_entry};
    memset(s, 0, sizeof(*s));
    BUG_ON(n > 8);
    page_alloc_drain();
    struct page_census c;
    page_census(&c);
    memcpy(s->census, c.by_usage, sizeof(c.by_usage));
    s->census[PAGE_USAGE_COUNT] = c.free;
    for (unsigned i = 0; i < n; i++) {
        if (!vms[i]->live)
            continue;
        share_vm_counts(&vms[i]->sh, &s->counts[i]);
        s->tables[i] = vms[i]->s2.nr_tables;
        s->entries_hash = mix(s->entries_hash, i);
        pt_walk(&vms[i]->s2, 0, 1ull << TVM_IA_BITS, &hv, &s->entries_hash);
    }
    if (hyp)
        pt_walk(hyp, 0, 1ull << hyp->ia_bits, &hv, &s->entries_hash);
    for (uint64_t idx = 0; idx < meta_nr_slots(); idx++) {
        struct meta_slot *sl = meta_slot_at((uint32_t)idx);
        if (page_slot_usage(sl) != PAGE_FRAME)
            continue;
        /* A page of a compound page counts as one reference, its owner's
         * entry's (share_invariants checks that its owner alone maps it):
         * what it is after a break (pt_break_block). */
        uint32_t refs = page_block_order(meta_slot_paddr(sl)) ? 1 : page_slot_ref_count(sl);
        s->frames_hash = mix(mix(mix(s->frames_hash, idx), refs), sl->m.word);
    }
}

bool share_snapshot_eq(const struct share_snapshot *a, const struct share_snapshot *b)
{
    return !memcmp(a, b, sizeof(*a));
}

/* --- driving calls ------------------------------------------------------------------ */

int share_apply(struct test_vm *const *vms, unsigned n, const struct share_op *op)
{
    struct test_vm *f = vms[op->from % n];
    struct test_vm *t = op->to < n && vms[op->to]->live ? vms[op->to] : NULL;
    struct share_vm *to = t ? &t->sh : NULL;
    uint64_t ipa = (op->page & 0x8000) ? TVM_BORROW_IPA + ((uint64_t)(op->page & 0xff) << 12)
                                       : TVM_RAM_IPA + ((uint64_t)(op->page & 0xff) << 12);
    uint64_t to_ipa = TVM_BORROW_IPA + ((uint64_t)(op->to_page & 0xff) << 12);
    if (op->kind % SOP_COUNT == SOP_REBUILD) {
        uint16_t id = f->sh.id;
        uint64_t pages = f->pages;
        if (f->live)
            test_vm_destroy(f);
        world_vm_create(f, id, pages);
        return ERR_OK;
    }
    if (!f->live)
        return ERR_NOVM;
    switch (op->kind % SOP_COUNT) {
    case SOP_SHARE:
        return share_share(&f->sh, ipa, op->nr, to, to_ipa, 0);
    case SOP_SHARE_RO:
        return share_share(&f->sh, ipa, op->nr, to, to_ipa, SHARE_RO);
    case SOP_UNSHARE:
        return share_unshare(&f->sh, ipa, op->nr, to, to_ipa);
    case SOP_LEND:
        return share_lend(&f->sh, ipa, op->nr, to, to_ipa);
    case SOP_RECLAIM:
        return share_reclaim(&f->sh, ipa, op->nr, to, to_ipa);
    case SOP_RECLAIM_GONE:
        return share_reclaim(&f->sh, ipa, op->nr, NULL, 0);
    case SOP_DONATE:
        return share_donate(&f->sh, ipa, op->nr, to, to_ipa);
    case SOP_RELINQUISH:
        return share_relinquish(&f->sh, ipa, op->nr);
    case SOP_SHARE_HYP:
        return share_with_hyp(&f->sh, ipa, op->nr);
    default:
        return share_unshare_hyp(&f->sh, ipa, op->nr);
    }
}
