// SPDX-License-Identifier: MIT
/*
 * Page handles: building a page from an unused one, the last drop, and the
 * checked paths (from_raw, try_get) that the inline fast paths in
 * <tally/page.h> leave out of line.
 *
 * The state machine is in <tally/meta.h>. Every transition is one atomic on
 * ref_count, so from_unused, the last drop and a racing try_get/from_raw
 * cannot overlap: from_unused only wins UNUSED->BUSY, the last drop owns the
 * slot while it is BUSY, and try_get only increments counts in [1, REF_MAX).
 */
#include <string.h>

#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

#include "mm_internal.h"

static const char *ref_state_name(uint32_t ref)
{
    if (ref == REF_UNUSED)
        return "unused";
    if (ref == REF_FIXED)
        return "untracked";
    if (ref == REF_BUSY)
        return "busy";
    if (ref > REF_MAX)
        return "corrupt";
    return "in use";
}

struct meta_slot *page_from_unused(paddr_t p, enum page_usage u, uint64_t meta)
{
    BUG_ON(u != PAGE_FRAME && u != PAGE_PT && u != PAGE_KSTACK);
    if (!IS_ALIGNED(pa_val(p), PAGE_SIZE))
        panic("from_unused: %#llx is not page aligned", (unsigned long long)pa_val(p));
    struct meta_slot *s = meta_slot(p);
    uint32_t expected = REF_UNUSED;
    /* Acquire: pairs with the release store of REF_UNUSED at the end of
     * page_drop_last(), so the destructor's zeroing and the cleared slot
     * happen before we build on them. */
    if (!atomic_cas_u32(&s->ref_count, &expected, REF_BUSY, MO_ACQUIRE))
        panic("from_unused: page %#llx is %s (usage %s, ref_count %u)",
              (unsigned long long)pa_val(p), ref_state_name(expected),
              page_usage_name(page_slot_usage(s)), expected);
    uint8_t flags = slot_flags(s);
    if (flags & (SLOT_F_FREE_HEAD | SLOT_F_PCP))
        panic("from_unused: page %#llx is still in the allocator's free lists",
              (unsigned long long)pa_val(p));
    /* A page is zeroed before its next use, not when its last reference
     * goes: whatever a guest, a stack or firmware left there never reaches
     * the new owner, and pages nobody uses again are never written. */
    if (flags & SLOT_F_DIRTY) {
        arch_page_zero(p, 1);
        atomic_store_u8(&s->flags, 0, MO_RELAXED);
    }
    s->m.word = meta;
    atomic_store_u8(&s->raw, 0, MO_RELAXED);
    atomic_store_u8(&s->usage, u, MO_RELAXED);
    meta_census_move(PAGE_UNUSED, u, 1);
    /* Release: publishes usage and metadata; pairs with the acquire CAS in
     * page_try_get() and with whoever receives this handle. */
    atomic_store_u32(&s->ref_count, 1, MO_RELEASE);
    return s;
}

void page_bad_ref(struct meta_slot *s, uint32_t old, const char *op)
{
    const char *why;
    if (old == REF_BUSY)
        why = !strcmp(op, "drop") ? "drop below zero" : "no reference to clone";
    else if (old == REF_FIXED)
        why = "untracked usage";
    else if (old == REF_UNUSED)
        why = "page is unused";
    else if (old >= REF_MAX && old <= REF_MAX + TALLY_MAX_CPUS * 64)
        why = "reference count saturated";
    else
        why = "corrupt reference count";
    panic("%s of page %#llx (usage %s, ref_count %u): %s", op,
          (unsigned long long)pa_val(meta_slot_paddr(s)), page_usage_name(page_slot_usage(s)), old,
          why);
}

/* Run the usage's destructor and make the slot unused; the page is not yet
 * back in the allocator. */
static void page_release(struct meta_slot *s)
{
    enum page_usage u = page_slot_usage(s);
    usage_destroy(s, u);
    /* Zeroed when next typed (page_from_unused). */
    atomic_store_u8(&s->flags, SLOT_F_DIRTY, MO_RELAXED);
    s->m.word = 0;
    atomic_store_u8(&s->raw, 0, MO_RELAXED);
    atomic_store_u8(&s->usage, PAGE_UNUSED, MO_RELAXED);
    meta_census_move(u, PAGE_UNUSED, 1);
    /* Release: the cleared slot (and everything the destructor and the
     * holders did) is visible to the next from_unused(), whose acquire CAS
     * pairs with this store. */
    atomic_store_u32(&s->ref_count, REF_UNUSED, MO_RELEASE);
}

void page_drop_last(struct meta_slot *s)
{
    page_release(s);
    page_free(meta_slot_paddr(s), 0);
}

/* Free [p, p + n pages) in the largest naturally aligned blocks it holds. */
static void free_run(paddr_t p, uint64_t n)
{
    while (n) {
        unsigned k = 0;
        while (k < PAGE_MAX_ORDER && IS_ALIGNED(pa_val(p), PAGE_SIZE << (k + 1)) &&
               (2ull << k) <= n)
            k++;
        page_free(p, k);
        p = pa_add(p, PAGE_SIZE << k);
        n -= 1ull << k;
    }
}

void page_drop_block(paddr_t p, unsigned order)
{
    uint64_t n = 1ull << order, run = 0;
    paddr_t run_start = p;
    for (uint64_t i = 0; i < n; i++) {
        paddr_t q = pa_add(p, i << PAGE_SHIFT);
        struct meta_slot *s = page_from_raw(q, PAGE_UNUSED);
        /* Release, then acquire on the last reference: as page_slot_drop(). */
        uint32_t old = atomic_fetch_sub_u32(&s->ref_count, 1, MO_RELEASE);
        if (likely(old - 2 < REF_MAX - 1)) {
            /* Still held elsewhere: the run of released pages ends here. */
            free_run(run_start, run);
            run = 0;
            run_start = pa_add(q, PAGE_SIZE);
            continue;
        }
        if (old != 1)
            page_bad_ref(s, old, "drop");
        atomic_fence(MO_ACQUIRE);
        page_release(s);
        run++;
    }
    /* A block whose every page went returns whole: one buddy operation. */
    free_run(run_start, run);
}

void page_into_raw_debug(struct meta_slot *s)
{
    uint8_t r = atomic_load_u8(&s->raw, MO_RELAXED);
    do {
        if (r == UINT8_MAX)
            return; /* saturated: stop counting for this page */
        /* Relaxed: a debug counter; the reference itself orders nothing. */
    } while (!atomic_cas_u8(&s->raw, &r, (uint8_t)(r + 1), MO_RELAXED));
}

struct meta_slot *page_from_raw(paddr_t p, enum page_usage u)
{
    struct meta_slot *s = meta_slot(p);
#ifdef TALLY_DEBUG
    uint32_t ref = page_slot_ref_count(s);
    enum page_usage have = page_slot_usage(s);
    if (ref == REF_BUSY || ref > REF_MAX)
        panic("from_raw of page %#llx which is %s (usage %s)", (unsigned long long)pa_val(p),
              ref_state_name(ref), page_usage_name(have));
    if (u != PAGE_UNUSED && have != u)
        panic("from_raw of page %#llx as %s but it is %s", (unsigned long long)pa_val(p),
              page_usage_name(u), page_usage_name(have));
    uint8_t r = atomic_load_u8(&s->raw, MO_RELAXED);
    do {
        if (r == UINT8_MAX)
            break;
        if (r == 0)
            panic("from_raw of page %#llx (usage %s) with no outstanding into_raw",
                  (unsigned long long)pa_val(p), page_usage_name(have));
        /* Relaxed: debug counter only. */
    } while (!atomic_cas_u8(&s->raw, &r, (uint8_t)(r - 1), MO_RELAXED));
#else
    (void)u;
#endif
    return s;
}

int page_try_get(paddr_t p, enum page_usage u, struct dyn_page *out)
{
    struct meta_slot *s = meta_slot_lookup(p);
    if (!s || !IS_ALIGNED(pa_val(p), PAGE_SIZE))
        return ERR_RANGE;
    uint32_t old = atomic_load_u32(&s->ref_count, MO_RELAXED);
    do {
        if (old == REF_BUSY || old > REF_MAX)
            return ERR_STATE;
        if (old == REF_MAX)
            return ERR_BUSY;
        /* Acquire on success: pairs with the release store of 1 in
         * page_from_unused(), so usage and metadata read below are the
         * ones of the live page. */
    } while (!atomic_cas_u32(&s->ref_count, &old, old + 1, MO_ACQUIRE));
    /* Checked after taking the reference: before it, the page could have
     * been torn down and rebuilt with another usage. */
    if (u != PAGE_UNUSED && page_slot_usage(s) != u) {
        page_slot_drop(s);
        return ERR_STATE;
    }
    out->slot = s;
    return ERR_OK;
}

static struct meta_slot *alloc_typed(enum page_usage u, uint64_t meta, int *err)
{
    paddr_t p;
    int e = page_alloc(0, &p);
    if (err)
        *err = e;
    if (e != ERR_OK)
        return NULL;
    return page_from_unused(p, u, meta);
}

#define META_WORD(m)                                                                               \
    ({                                                                                             \
        union {                                                                                    \
            __typeof__(m) v;                                                                       \
            uint64_t w;                                                                            \
        } _u = {.w = 0};                                                                           \
        _u.v = (m);                                                                                \
        _u.w;                                                                                      \
    })

struct frame frame_alloc(struct frame_meta m, int *err)
{
    return (struct frame){alloc_typed(PAGE_FRAME, META_WORD(m), err)};
}

struct pt_page pt_page_alloc(struct pt_meta m, int *err)
{
    return (struct pt_page){alloc_typed(PAGE_PT, META_WORD(m), err)};
}

struct kstack kstack_alloc(struct kstack_meta m, int *err)
{
    return (struct kstack){alloc_typed(PAGE_KSTACK, META_WORD(m), err)};
}

void *frame_data(struct frame f)
{
    return arch_phys_to_virt(frame_paddr(f));
}

void *pt_page_data(struct pt_page p)
{
    return arch_phys_to_virt(pt_page_paddr(p));
}
