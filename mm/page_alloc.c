// SPDX-License-Identifier: MIT
/*
 * Buddy allocator over the metadata slots (see <tally/page_alloc.h>).
 *
 * Locking: the buddy free lists and their counters are guarded by
 * `buddy_lock`. Each per-CPU cache is touched only by its own CPU (no lock,
 * no atomic read-modify-write); its count is an atomic only so that the
 * census may read it from another CPU. That holds by construction: every
 * function that reaches a cache takes it as &pcp[arch_cpu_id()], the
 * drain included, so no CPU ever walks another's list (a CPU drains its own
 * before it goes offline).
 */
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>
#include <tally/spinlock.h>

#include "mm_internal.h"

#define NIL       UINT32_MAX
#define PCP_HIGH  64 /* a cache above this returns PCP_BATCH pages */
#define PCP_BATCH 32 /* pages moved per refill or spill */

static struct spinlock buddy_lock = SPINLOCK_INIT;
static uint32_t free_head[PAGE_MAX_ORDER + 1];   /* guarded by buddy_lock */
static uint64_t free_blocks[PAGE_MAX_ORDER + 1]; /* guarded by buddy_lock */
static atomic_u64 buddy_free_pages;              /* written under buddy_lock; read racily */

struct pcp {
    uint32_t head;    /* singly linked through m.free.next */
    atomic_u32 count; /* written by the owner CPU only */
} __attribute__((aligned(64)));
static struct pcp pcp[TALLY_MAX_CPUS];

static inline uint64_t slot_pfn(const struct meta_slot *s)
{
    return pa_val(meta_slot_paddr(s)) >> PAGE_SHIFT;
}

static void list_push(unsigned order, uint32_t idx)
{
    struct meta_slot *s = meta_slot_at(idx);
    slot_set_alloc_flags(s, SLOT_F_FREE_HEAD);
    s->order = (uint8_t)order;
    s->m.free.prev = NIL;
    s->m.free.next = free_head[order];
    if (free_head[order] != NIL)
        meta_slot_at(free_head[order])->m.free.prev = idx;
    free_head[order] = idx;
    free_blocks[order]++;
}

static void list_remove(unsigned order, uint32_t idx)
{
    struct meta_slot *s = meta_slot_at(idx);
    if (s->m.free.prev != NIL)
        meta_slot_at(s->m.free.prev)->m.free.next = s->m.free.next;
    else
        free_head[order] = s->m.free.next;
    if (s->m.free.next != NIL)
        meta_slot_at(s->m.free.next)->m.free.prev = s->m.free.prev;
    slot_set_alloc_flags(s, 0);
    s->order = 0;
    s->m.word = 0;
    free_blocks[order]--;
}

/* Free a block to the buddy lists, merging with free buddies. */
static void buddy_free(uint32_t idx, unsigned order)
{
    struct meta_slot *s = meta_slot_at(idx);
    uint64_t pfn = slot_pfn(s);
    int bank = meta_bank_of(pa(pfn << PAGE_SHIFT));
    const struct mem_bank *b = meta_bank((unsigned)bank);
    uint64_t bank_lo = pa_val(b->base) >> PAGE_SHIFT;
    uint64_t bank_hi = bank_lo + (b->size >> PAGE_SHIFT);

    atomic_store_u64(&buddy_free_pages,
                     atomic_load_u64(&buddy_free_pages, MO_RELAXED) + (1ull << order), MO_RELAXED);
    while (order < PAGE_MAX_ORDER) {
        uint64_t buddy_pfn = pfn ^ (1ull << order);
        if (buddy_pfn < bank_lo || buddy_pfn + (1ull << order) > bank_hi)
            break;
        /* Same bank, so slot indices and page numbers differ by a constant. */
        uint32_t buddy_idx = (uint32_t)(idx + (buddy_pfn - pfn));
        struct meta_slot *bs = meta_slot_at(buddy_idx);
        if (!(slot_flags(bs) & SLOT_F_FREE_HEAD) || bs->order != order)
            break;
        list_remove(order, buddy_idx);
        if (buddy_pfn < pfn) {
            idx = buddy_idx;
            pfn = buddy_pfn;
        }
        order++;
    }
    list_push(order, idx);
}

/* Take a block of exactly `order` from the buddy lists, splitting a larger one. */
static int buddy_alloc(unsigned order, uint32_t *out)
{
    unsigned k = order;
    while (k <= PAGE_MAX_ORDER && free_head[k] == NIL)
        k++;
    if (k > PAGE_MAX_ORDER)
        return ERR_NOMEM;
    uint32_t idx = free_head[k];
    list_remove(k, idx);
    while (k > order) {
        k--;
        list_push(k, idx + (1u << k)); /* the upper half stays free */
    }
    atomic_store_u64(&buddy_free_pages,
                     atomic_load_u64(&buddy_free_pages, MO_RELAXED) - (1ull << order), MO_RELAXED);
    *out = idx;
    return ERR_OK;
}

void page_alloc_init(void)
{
    spin_lock_init(&buddy_lock);
    for (unsigned k = 0; k <= PAGE_MAX_ORDER; k++) {
        free_head[k] = NIL;
        free_blocks[k] = 0;
    }
    atomic_store_u64(&buddy_free_pages, 0, MO_RELAXED);
    for (unsigned c = 0; c < TALLY_MAX_CPUS; c++) {
        pcp[c].head = NIL;
        atomic_store_u32(&pcp[c].count, 0, MO_RELAXED);
    }
}

void page_alloc_add(paddr_t start, uint64_t npages)
{
    if (!IS_ALIGNED(pa_val(start), PAGE_SIZE))
        panic("page_alloc_add: %#llx is not page aligned", (unsigned long long)pa_val(start));
    if (!npages)
        return;
    /* Within one bank the slots are consecutive: one lookup for the run
     * (boot hands over every free page here, 100,000s of them). */
    struct meta_slot *s0 = meta_slot(start);
    bool one_bank = meta_slot(pa_add(start, (npages - 1) * PAGE_SIZE)) == s0 + (npages - 1);
    uint64_t moved[PAGE_USAGE_COUNT] = {0};
    for (uint64_t i = 0; i < npages; i++) {
        struct meta_slot *s = one_bank ? s0 + i : meta_slot(pa_add(start, i * PAGE_SIZE));
        enum page_usage old = page_slot_usage(s);
        if (page_slot_ref_count(s) != REF_FIXED)
            panic("page_alloc_add: page %#llx is %s, not fixed",
                  (unsigned long long)(pa_val(start) + i * PAGE_SIZE), page_usage_name(old));
        atomic_store_u8(&s->usage, PAGE_UNUSED, MO_RELAXED);
        atomic_store_u32(&s->ref_count, REF_UNUSED, MO_RELAXED);
        /* Whatever firmware or a boot loader left here is unknown. */
        atomic_store_u8(&s->flags, SLOT_F_DIRTY, MO_RELAXED);
        moved[old]++;
    }
    for (unsigned u = 0; u < PAGE_USAGE_COUNT; u++)
        if (moved[u])
            meta_census_move((enum page_usage)u, PAGE_UNUSED, moved[u]);
    spin_lock(&buddy_lock);
    uint64_t pfn = pa_val(start) >> PAGE_SHIFT, end = pfn + npages;
    while (pfn < end) {
        unsigned order = 0;
        while (order < PAGE_MAX_ORDER && IS_ALIGNED(pfn, 2ull << order) &&
               pfn + (2ull << order) <= end)
            order++;
        buddy_free(meta_slot_index(meta_slot(pa(pfn << PAGE_SHIFT))), order);
        pfn += 1ull << order;
    }
    spin_unlock(&buddy_lock);
}

static noinline int pcp_refill(struct pcp *c)
{
    unsigned got = 0;
    spin_lock(&buddy_lock);
    while (got < PCP_BATCH) {
        uint32_t idx;
        if (buddy_alloc(0, &idx) != ERR_OK)
            break;
        struct meta_slot *s = meta_slot_at(idx);
        slot_set_alloc_flags(s, SLOT_F_PCP);
        s->m.free.next = c->head;
        c->head = idx;
        got++;
    }
    spin_unlock(&buddy_lock);
    atomic_store_u32(&c->count, got, MO_RELAXED);
    return got ? ERR_OK : ERR_NOMEM;
}

/* Return `n` pages from the cache to the buddy lists. */
static noinline void pcp_spill(struct pcp *c, unsigned n)
{
    uint32_t count = atomic_load_u32(&c->count, MO_RELAXED);
    spin_lock(&buddy_lock);
    while (n-- && count) {
        uint32_t idx = c->head;
        struct meta_slot *s = meta_slot_at(idx);
        c->head = s->m.free.next;
        slot_set_alloc_flags(s, 0);
        count--;
        buddy_free(idx, 0);
    }
    spin_unlock(&buddy_lock);
    atomic_store_u32(&c->count, count, MO_RELAXED);
}

static noinline int alloc_block(unsigned order, paddr_t *out)
{
    if (order > PAGE_MAX_ORDER)
        return ERR_INVAL;
    uint32_t idx;
    spin_lock(&buddy_lock);
    int err = buddy_alloc(order, &idx);
    spin_unlock(&buddy_lock);
    if (err == ERR_OK)
        *out = meta_slot_paddr(meta_slot_at(idx));
    return err;
}

static inline paddr_t pcp_pop(struct pcp *c, uint32_t count)
{
    uint32_t idx = c->head;
    struct meta_slot *s = meta_slot_at(idx);
    c->head = s->m.free.next;
    atomic_store_u32(&c->count, count - 1, MO_RELAXED);
    /* The link stays in m.free: from_unused() writes the metadata. */
    slot_set_alloc_flags(s, 0);
    /* In bank 0 a slot's index is its page's offset in the bank. */
    if (likely(idx < meta_bank0.npages))
        return pa((meta_bank0.base_pfn + idx) << PAGE_SHIFT);
    return meta_slot_paddr_slow(s);
}

static noinline int alloc_refill(struct pcp *c, paddr_t *out)
{
    if (pcp_refill(c) != ERR_OK)
        return ERR_NOMEM;
    *out = pcp_pop(c, atomic_load_u32(&c->count, MO_RELAXED));
    return ERR_OK;
}

/* Order 0 is the hot path: one per-CPU list pop, no lock, no atomic RMW. */
int page_alloc(unsigned order, paddr_t *out)
{
    if (unlikely(order != 0))
        return alloc_block(order, out);
    struct pcp *c = &pcp[arch_cpu_id()];
    uint32_t count = atomic_load_u32(&c->count, MO_RELAXED);
    if (unlikely(count == 0))
        return alloc_refill(c, out);
    *out = pcp_pop(c, count);
    return ERR_OK;
}

static noinline void free_block(paddr_t p, unsigned order)
{
    spin_lock(&buddy_lock);
    buddy_free(meta_slot_index(meta_slot(p)), order);
    spin_unlock(&buddy_lock);
}

static noinline void free_check(paddr_t p, unsigned order)
{
    if (order > PAGE_MAX_ORDER || !IS_ALIGNED(pa_val(p), PAGE_SIZE << order))
        panic("page_free: bad block %#llx order %u", (unsigned long long)pa_val(p), order);
}

#ifdef TALLY_DEBUG
/*
 * Every page of a block being freed must be allocated and unused. A page
 * inside a free buddy block looks exactly like that (REF_UNUSED, no flag:
 * only a free block's head is marked), so the enclosing free blocks are
 * looked for too. Buddy blocks are naturally aligned, so a free block of
 * order k holding pfn has its head at pfn rounded down to 2^k; a smaller
 * free block inside ours has its head flagged on one of our pages.
 */
static noinline void free_check_debug(paddr_t p, unsigned order)
{
    free_check(p, order);
    struct meta_slot *s = meta_slot(p);
    for (uint64_t i = 0; i < (1ull << order); i++) {
        struct meta_slot *t = s + i;
        bool free = slot_flags(t) & (SLOT_F_FREE_HEAD | SLOT_F_PCP);
        if (page_slot_ref_count(t) != REF_UNUSED || free)
            panic("page_free: page %#llx is %s (usage %s), not an allocated unused page",
                  (unsigned long long)(pa_val(p) + i * PAGE_SIZE), free ? "already free" : "in use",
                  page_usage_name(page_slot_usage(t)));
    }
    uint64_t pfn = pa_val(p) >> PAGE_SHIFT;
    /* The lock: heads and orders change only under it. */
    spin_lock(&buddy_lock);
    for (unsigned k = order + 1; k <= PAGE_MAX_ORDER; k++) {
        paddr_t head = pa(ALIGN_DOWN(pfn, 1ull << k) << PAGE_SHIFT);
        struct meta_slot *h = meta_slot_lookup(head);
        /* A head in another bank cannot cover pfn: blocks stay in their bank. */
        if (h && (slot_flags(h) & SLOT_F_FREE_HEAD) && h->order == k)
            panic("page_free: page %#llx is already free (in the free order-%u block at %#llx)",
                  (unsigned long long)pa_val(p), k, (unsigned long long)pa_val(head));
    }
    spin_unlock(&buddy_lock);
}
#endif

/* dirty: SLOT_F_DIRTY to mark the page, or 0 to keep what its slot says. */
static inline void pcp_push(struct meta_slot *s, uint32_t idx, uint8_t dirty)
{
    struct pcp *c = &pcp[arch_cpu_id()];
    uint32_t count = atomic_load_u32(&c->count, MO_RELAXED);
    slot_set_alloc_flags(s, SLOT_F_PCP | dirty);
    s->m.free.next = c->head;
    c->head = idx;
    atomic_store_u32(&c->count, count + 1, MO_RELAXED);
    if (unlikely(count + 1 > PCP_HIGH))
        pcp_spill(c, PCP_BATCH);
}

static noinline void free_slow(paddr_t p, unsigned order, uint8_t dirty)
{
    free_check(p, order);
    struct meta_slot *s = meta_slot(p);
    if (order != 0) {
        for (uint64_t i = 0; dirty && i < (1ull << order); i++)
            slot_set_alloc_flags(s + i, SLOT_F_DIRTY);
        free_block(p, order);
        return;
    }
    pcp_push(s, meta_slot_index(s), dirty);
}

static always_inline void free_pages(paddr_t p, unsigned order, uint8_t dirty)
{
#ifdef TALLY_DEBUG
    free_check_debug(p, order);
#endif
    /* Order 0 in bank 0 is the hot path: the page's offset in the bank is
     * its slot index. Everything else, and bad arguments, go the long way. */
    uint64_t off = (pa_val(p) >> PAGE_SHIFT) - meta_bank0.base_pfn;
    if (likely(order == 0 && IS_ALIGNED(pa_val(p), PAGE_SIZE) && off < meta_bank0.npages)) {
        pcp_push(meta_bank0.slots + off, (uint32_t)off, dirty);
        return;
    }
    free_slow(p, order, dirty);
}

/* A raw caller may have written the pages: zeroed when next typed. */
void page_free(paddr_t p, unsigned order)
{
    free_pages(p, order, SLOT_F_DIRTY);
}

void page_free_released(paddr_t p, unsigned order)
{
    free_pages(p, order, 0);
}

void page_alloc_drain(void)
{
    pcp_spill(&pcp[arch_cpu_id()], UINT32_MAX);
}

static uint64_t pcp_pages(void)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < TALLY_MAX_CPUS; c++)
        n += atomic_load_u32(&pcp[c].count, MO_RELAXED);
    return n;
}

uint64_t page_alloc_free_pages(void)
{
    return atomic_load_u64(&buddy_free_pages, MO_RELAXED) + pcp_pages();
}

uint64_t page_alloc_free_blocks(unsigned order)
{
    if (order > PAGE_MAX_ORDER)
        return 0;
    spin_lock(&buddy_lock);
    uint64_t n = free_blocks[order];
    spin_unlock(&buddy_lock);
    return order == 0 ? n + pcp_pages() : n;
}
