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
    if (ref > REF_TAIL && ref <= REF_TAIL + PAGE_MAX_ORDER)
        return "a tail page of a block";
    if (ref > REF_MAX)
        return "corrupt";
    return "in use";
}

/* Take an unused page's slot: UNUSED -> BUSY, or panic naming its state. */
static struct meta_slot *claim_unused(paddr_t p)
{
    struct meta_slot *s = meta_slot(p);
    uint32_t expected = REF_UNUSED;
    /* Acquire: pairs with the release store of REF_UNUSED at the end of
     * page_release(), so the destructor's work and the cleared slot (and a
     * compound page's cleared tails) happen before we build on them. */
    if (!atomic_cas_u32(&s->ref_count, &expected, REF_BUSY, MO_ACQUIRE))
        panic("from_unused: page %#llx is %s (usage %s, ref_count %u)",
              (unsigned long long)pa_val(p), ref_state_name(expected),
              page_usage_name(page_slot_usage(s)), expected);
    return s;
}

struct meta_slot *page_from_unused(paddr_t p, enum page_usage u, uint64_t meta)
{
    BUG_ON(u != PAGE_FRAME && u != PAGE_PT && u != PAGE_KSTACK);
    if (!IS_ALIGNED(pa_val(p), PAGE_SIZE))
        panic("from_unused: %#llx is not page aligned", (unsigned long long)pa_val(p));
    struct meta_slot *s = claim_unused(p);
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

static bool ref_is_tail(uint32_t ref)
{
    return ref - (REF_TAIL + 1) < PAGE_MAX_ORDER;
}

struct meta_slot *page_from_unused_block(paddr_t p, unsigned order, enum page_usage u,
                                         uint64_t meta)
{
    if (order == 0)
        return page_from_unused(p, u, meta);
    BUG_ON(u != PAGE_FRAME);
    if (order > PAGE_MAX_ORDER || !IS_ALIGNED(pa_val(p), PAGE_SIZE << order))
        panic("from_unused: block %#llx order %u is not naturally aligned",
              (unsigned long long)pa_val(p), order);
    struct meta_slot *s = claim_unused(p);
    uint64_t n = 1ull << order, dirty_from = 0, dirty = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct meta_slot *t = s + i;
        uint8_t flags = slot_flags(t);
        if ((i && page_slot_ref_count(t) != REF_UNUSED) ||
            (flags & (SLOT_F_FREE_HEAD | SLOT_F_PCP)))
            panic("from_unused: page %#llx of block %#llx is not an allocated unused page",
                  (unsigned long long)(pa_val(p) + i * PAGE_SIZE), (unsigned long long)pa_val(p));
        /* Zero the dirty pages in runs (one call for a wholly dirty block). */
        if (flags & SLOT_F_DIRTY) {
            if (!dirty++)
                dirty_from = i;
        } else if (dirty) {
            arch_page_zero(pa_add(p, dirty_from << PAGE_SHIFT), dirty);
            dirty = 0;
        }
        atomic_store_u8(&t->flags, 0, MO_RELAXED);
        atomic_store_u8(&t->raw, 0, MO_RELAXED);
        atomic_store_u8(&t->usage, u, MO_RELAXED);
        if (i) {
            /* Every page of the block carries the metadata: a frame's
             * (owner, sharing state) is per page, so a tail page is shared
             * or lent on its own. */
            t->m.word = meta;
            /* Relaxed: published with the head by the release store below;
             * a racing try_get re-checks the tail after its acquire. */
            atomic_store_u32(&t->ref_count, REF_TAIL + order, MO_RELAXED);
        }
    }
    if (dirty)
        arch_page_zero(pa_add(p, dirty_from << PAGE_SHIFT), dirty);
    s->m.word = meta;
    s->order = (uint8_t)order;
    meta_census_move(PAGE_UNUSED, u, n);
    /* Release: publishes head, tails and metadata; pairs with the acquire
     * CAS in page_try_get() and with whoever receives this handle. */
    atomic_store_u32(&s->ref_count, 1, MO_RELEASE);
    return s;
}

/* The head of the compound page whose tail slot t says REF_TAIL + order. */
static struct meta_slot *tail_head(struct meta_slot *t, uint32_t ref)
{
    uint64_t pfn = pa_val(meta_slot_paddr(t)) >> PAGE_SHIFT;
    /* A block never crosses a bank: slot indices follow page numbers. */
    return t - (pfn & ((1ull << (ref - REF_TAIL)) - 1));
}

unsigned page_block_order(paddr_t p)
{
    struct meta_slot *s = meta_slot(p);
    uint32_t ref = page_slot_ref_count(s);
    if (ref_is_tail(ref))
        return ref - REF_TAIL;
    return ref - 1 < REF_MAX ? s->order : 0;
}

struct meta_slot *page_owner_slot(paddr_t p)
{
    struct meta_slot *s = meta_slot(p);
    uint32_t ref = page_slot_ref_count(s);
    return ref_is_tail(ref) ? tail_head(s, ref) : s;
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
    else if (old > REF_TAIL && old <= REF_TAIL + PAGE_MAX_ORDER)
        why = "a tail page of a block (references live on its head)";
    else
        why = "corrupt reference count";
    panic("%s of page %#llx (usage %s, ref_count %u): %s", op,
          (unsigned long long)pa_val(meta_slot_paddr(s)), page_usage_name(page_slot_usage(s)), old,
          why);
}

/* Run the usage's destructor and make the slot unused (and a compound
 * page's tails); the pages are not yet back in the allocator. Returns the
 * order of what was released. */
static unsigned page_release(struct meta_slot *s)
{
    enum page_usage u = page_slot_usage(s);
    unsigned order = s->order;
    uint64_t n = 1ull << order; /* pages: a compound page goes whole */
    /* The destructor says whether it saw every byte of the page zero. */
    bool zero = usage_destroy(s, u);
    /* Zeroed when next typed (page_from_unused), unless known to be zero:
     * an emptied table is, and is not zeroed a second time. */
    atomic_store_u8(&s->flags, zero ? 0 : SLOT_F_DIRTY, MO_RELAXED);
    s->m.word = 0;
    s->order = 0;
    atomic_store_u8(&s->raw, 0, MO_RELAXED);
    atomic_store_u8(&s->usage, PAGE_UNUSED, MO_RELAXED);
    /* Tails: no reference can reach them while the head is BUSY (try_get
     * goes through the head), so plain order suffices; the allocator's lock
     * or per-CPU list publishes them with the block. */
    for (uint64_t i = 1; i < n; i++) {
        struct meta_slot *t = s + i;
        atomic_store_u8(&t->flags, SLOT_F_DIRTY, MO_RELAXED);
        atomic_store_u8(&t->raw, 0, MO_RELAXED);
        atomic_store_u8(&t->usage, PAGE_UNUSED, MO_RELAXED);
        t->m.word = 0;
        atomic_store_u32(&t->ref_count, REF_UNUSED, MO_RELAXED);
    }
    meta_census_move(u, PAGE_UNUSED, n);
    /* Release: the cleared slot (and everything the destructor and the
     * holders did) is visible to the next from_unused(), whose acquire CAS
     * pairs with this store. */
    atomic_store_u32(&s->ref_count, REF_UNUSED, MO_RELEASE);
    return order;
}

void page_drop_last(struct meta_slot *s)
{
    unsigned order = page_release(s);
    page_free_released(meta_slot_paddr(s), order);
}

/* Free [p, p + n pages) in the largest naturally aligned blocks it holds. */
static void free_run(paddr_t p, uint64_t n)
{
    while (n) {
        unsigned k = 0;
        while (k < PAGE_MAX_ORDER && IS_ALIGNED(pa_val(p), PAGE_SIZE << (k + 1)) &&
               (2ull << k) <= n)
            k++;
        page_free_released(p, k);
        p = pa_add(p, PAGE_SIZE << k);
        n -= 1ull << k;
    }
}

void page_drop_run(paddr_t p, uint64_t n)
{
    if (n == 0)
        return;
    struct meta_slot *s0 = meta_slot(p);
    /* Banks are laid out in address order, so consecutive RAM pages have
     * consecutive slots; the last page's slot proves none in between is
     * missing (a gap between banks would make it land short). */
    if (meta_slot(pa_add(p, (n - 1) << PAGE_SHIFT)) != s0 + (n - 1))
        panic("drop of %llu pages from %#llx: the run is not all RAM", (unsigned long long)n,
              (unsigned long long)pa_val(p));
#ifdef TALLY_DEBUG
    /* Each page's reference was handed out by into_raw: take it back. */
    for (uint64_t i = 0; i < n; i++)
        (void)page_from_raw(pa_add(p, i << PAGE_SHIFT), PAGE_UNUSED);
#endif
    uint64_t run = 0; /* released pages, ending at slot i, not yet freed */
    for (uint64_t i = 0; i < n;) {
        struct meta_slot *s = s0 + i;
        /* Relaxed: the references being dropped keep a compound page
         * whole, so a tail stays a tail of the same head. */
        uint32_t ref = page_slot_ref_count(s);
        struct meta_slot *h = ref_is_tail(ref) ? tail_head(s, ref) : s;
        unsigned order = ref_is_tail(ref) ? ref - REF_TAIL : s->order;
        if (unlikely(order)) {
            /* Pages of a compound page: their references are its head's,
             * one drop of all of them; its last drop frees the block. */
            uint64_t k = (1ull << order) - (uint64_t)(s - h);
            if (k > n - i)
                k = n - i;
            free_run(pa_add(p, (i - run) << PAGE_SHIFT), run);
            run = 0;
            page_slot_drop_n(h, (uint32_t)k);
            i += k;
            continue;
        }
        /* Release, then acquire on the last reference: as page_slot_drop(). */
        uint32_t old = atomic_fetch_sub_u32(&s->ref_count, 1, MO_RELEASE);
        if (likely(old - 2 < REF_MAX - 1)) {
            /* Still held elsewhere: the run of released pages ends here. */
            free_run(pa_add(p, (i - run) << PAGE_SHIFT), run);
            run = 0;
            i++;
            continue;
        }
        if (old != 1)
            page_bad_ref(s, old, "drop");
        page_slot_acquire_last(s);
        page_release(s);
        run++;
        i++;
    }
    /* Pages that all went return in the largest blocks they form. */
    free_run(pa_add(p, (n - run) << PAGE_SHIFT), run);
}

void page_drop_block(paddr_t p, unsigned order)
{
    page_drop_run(p, 1ull << order);
}

bool page_block_break(struct meta_slot *h, uint32_t refs)
{
    unsigned order = h->order;
    uint64_t n = 1ull << order;
    BUG_ON(!order || refs == 0 || refs >= REF_MAX);
    uint32_t expected = refs;
    /* Acquire: the holders' work on the block happens before the pages go
     * their own ways; BUSY keeps every try_get out (it refuses BUSY, and a
     * tail's goes through the head) until the release store below. */
    if (!atomic_cas_u32(&h->ref_count, &expected, REF_BUSY, MO_ACQUIRE))
        return false;
    /* Debug builds count raw references (into_raw) per counting slot: the
     * entries' refs ones on the head become one on each page (or stay
     * saturated: counting stopped). */
    uint8_t raw = atomic_load_u8(&h->raw, MO_RELAXED);
    raw = raw == UINT8_MAX ? UINT8_MAX : raw != 0;
    atomic_store_u8(&h->raw, raw, MO_RELAXED);
    for (uint64_t i = 1; i < n; i++) {
        struct meta_slot *t = h + i;
        if (page_slot_ref_count(t) != REF_TAIL + order)
            panic("break of block %#llx: page %#llx is not its tail (ref_count %u)",
                  (unsigned long long)pa_val(meta_slot_paddr(h)),
                  (unsigned long long)pa_val(meta_slot_paddr(t)), page_slot_ref_count(t));
        atomic_store_u8(&t->raw, raw, MO_RELAXED);
        /* Release: a try_get that sees the page's own count sees its
         * metadata, as after page_from_unused. */
        atomic_store_u32(&t->ref_count, 1, MO_RELEASE);
    }
    h->order = 0;
    atomic_store_u32(&h->ref_count, 1, MO_RELEASE);
    return true;
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
    /* Relaxed: the raw reference being taken back keeps the block alive, so
     * a tail stays a tail of the same head. */
    uint32_t tail = page_slot_ref_count(s);
    if (ref_is_tail(tail))
        s = tail_head(s, tail);
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
    struct meta_slot *s = meta_slot_lookup(p), *t = NULL;
    if (!s || !IS_ALIGNED(pa_val(p), PAGE_SIZE))
        return ERR_RANGE;
    uint32_t old = atomic_load_u32(&s->ref_count, MO_RELAXED), tail = 0;
    if (ref_is_tail(old)) {
        /* A page of a compound page: the reference is taken on its head. */
        t = s;
        tail = old;
        s = tail_head(t, tail);
        old = atomic_load_u32(&s->ref_count, MO_RELAXED);
    }
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
     * been torn down and rebuilt with another usage, and the block the tail
     * belonged to torn down and its head rebuilt as something else. With
     * the reference held neither can change any more. */
    if ((t && page_slot_ref_count(t) != tail) || (u != PAGE_UNUSED && page_slot_usage(s) != u)) {
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
