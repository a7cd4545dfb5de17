/* SPDX-License-Identifier: MIT */
/*
 * Page handles: counted references to pages, typed by usage.
 *
 * A handle is only a pointer to the page's metadata slot (the seed's design);
 * the count and usage live in the slot. Each handle value owns one reference:
 * copy it only through *_clone, end it with *_drop, or turn it into a bare
 * physical address with *_into_raw (a page-table entry then owns that
 * reference) and back with *_from_raw, exactly once.
 *
 *   struct frame     PAGE_FRAME   data page (zeroed before its next use)
 *   struct pt_page   PAGE_PT      page-table page (drops what its entries own)
 *   struct kstack    PAGE_KSTACK  kernel stack page
 *   struct dyn_page  any tracked usage; frame_from_dyn() etc. check the usage
 *
 * For each typed handle X with metadata M:
 *   struct X X_from_unused(paddr_t, M)        take a page from page_alloc()
 *   struct X X_alloc(M, int *err)             page_alloc(0) + from_unused
 *   struct X X_clone(struct X)                +1, panics at saturation
 *   int      X_try_clone(struct X, struct X*) +1 or ERR_BUSY at saturation
 *   void     X_drop(struct X)                 -1, the last runs the destructor
 *   paddr_t  X_into_raw(struct X)             the reference moves to the caller
 *   struct X X_from_raw(paddr_t)              the reference moves back
 *   paddr_t  X_paddr(struct X)
 *   M       *X_meta(struct X)
 *   uint32_t X_ref_count(struct X)            racy snapshot, for tests and stats
 *   struct dyn_page X_into_dyn(struct X)
 *   bool     X_from_dyn(struct dyn_page, struct X *)   false: usage differs
 *
 * Misuse panics naming the physical address and usage: from_unused of a page
 * that is not unused, a drop below zero, a clone or drop of an untracked
 * usage, and (debug builds) from_raw of a page with no outstanding into_raw.
 */
#ifndef TALLY_PAGE_H
#define TALLY_PAGE_H

#include <tally/errno.h>
#include <tally/meta.h>
#include <tally/panic.h>

struct dyn_page {
    struct meta_slot *slot;
};

/* Generic, slot-level operations; the typed wrappers below are what code uses. */
struct meta_slot *page_from_unused(paddr_t p, enum page_usage u, uint64_t meta);
/*
 * Type a naturally aligned block of 2^order unused pages (taken with
 * page_alloc(order)) as ONE object (a compound page): the head slot counts
 * the references to the whole block and the census counts 2^order pages of
 * usage u; every tail slot holds REF_TAIL + order. A reference taken by the
 * address of any page of the block (page_try_get, from_raw) is a reference on
 * the head; the last drop returns the block to the allocator in one piece.
 * order 0 is page_from_unused. Only PAGE_FRAME.
 */
struct meta_slot *page_from_unused_block(paddr_t p, unsigned order, enum page_usage u,
                                         uint64_t meta);
/* Order of the compound page holding p (0: a page of its own). The caller
 * holds a reference on it, so the answer is stable. */
unsigned page_block_order(paddr_t p);
/* The slot that counts p's references: its compound page's head, or its own. */
struct meta_slot *page_owner_slot(paddr_t p);
/*
 * Break the compound page headed by h into 2^order pages of their own, each
 * with ONE reference, when h holds exactly `refs` references; false (and
 * nothing changed) otherwise. The caller owns those refs references, held
 * by entries that map every page of the block exactly once between them
 * (pt_break_block), and keeps them from being dropped meanwhile: afterwards
 * each entry owns one reference on each page it maps. A try_get racing the
 * break fails with ERR_STATE or takes its reference on the page itself.
 */
bool page_block_break(struct meta_slot *h, uint32_t refs);
__attribute__((noreturn)) void page_bad_ref(struct meta_slot *s, uint32_t old, const char *op);
void page_drop_last(struct meta_slot *s);
/*
 * Drop the reference that an entry mapping a naturally aligned block of
 * 2^order tracked pages owns on each of them: what from_raw + drop would do
 * page by page. Released pages return to the allocator in the largest
 * blocks they form, so a block whose pages all go returns whole.
 */
void page_drop_block(paddr_t p, unsigned order);
/*
 * Drop one reference on each of the n consecutive pages from p (each page's
 * own, or its compound page's head's): what from_raw + drop would do page by
 * page, in one pass. The pages of one compound page lose their references
 * with one atomic on its head; released pages return to the allocator in
 * the largest blocks they form.
 */
void page_drop_run(paddr_t p, uint64_t n);
struct meta_slot *page_from_raw(paddr_t p, enum page_usage u);
void page_into_raw_debug(struct meta_slot *s);
/* Take a new reference to a page known only by address, if it is live and of
 * usage u (u == PAGE_UNUSED: any tracked usage). ERR_STATE if not live or of
 * another usage, ERR_BUSY at saturation. */
int page_try_get(paddr_t p, enum page_usage u, struct dyn_page *out);

static always_inline void page_slot_clone(struct meta_slot *s)
{
    /* Relaxed: a new reference is made from an existing one, which keeps the
     * page alive; nothing is published. Pairs with nothing (the Arc rule). */
    uint32_t old = atomic_fetch_add_u32(&s->ref_count, 1, MO_RELAXED);
    if (unlikely(old - 1 >= REF_MAX - 1))
        page_bad_ref(s, old, "clone");
}

/* n new references at once (a block entry split into n + 1 entries); the
 * caller checked that the count stays below REF_MAX. */
static always_inline void page_slot_clone_n(struct meta_slot *s, uint32_t n)
{
    /* Relaxed, as for clone. */
    uint32_t old = atomic_fetch_add_u32(&s->ref_count, n, MO_RELAXED);
    if (unlikely(old - 1 >= REF_MAX - n))
        page_bad_ref(s, old, "clone");
}

static always_inline int page_slot_try_clone(struct meta_slot *s)
{
    uint32_t old = atomic_load_u32(&s->ref_count, MO_RELAXED);
    do {
        if (unlikely(old - 1 >= REF_MAX - 1)) {
            if (old == 0 || old > REF_MAX)
                page_bad_ref(s, old, "try_clone");
            return ERR_BUSY;
        }
        /* Relaxed, as for clone: the caller's reference keeps the page alive. */
    } while (!atomic_cas_u32(&s->ref_count, &old, old + 1, MO_RELAXED));
    return ERR_OK;
}

/*
 * The acquire half of a last drop: pairs with every other holder's release
 * decrement, so the destructor sees all their writes (the Arc rule).
 * ThreadSanitizer does not model a standalone fence, so under it (as Rust's
 * Arc does) an acquire load of the count stands in: the same guarantee,
 * seen by the tool, so a weakened release elsewhere is reported, not hidden.
 */
#if defined(__SANITIZE_THREAD__)
#define TALLY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TALLY_TSAN 1
#endif
#endif

static always_inline void page_slot_acquire_last(struct meta_slot *s)
{
#ifdef TALLY_TSAN
    (void)atomic_load_u32(&s->ref_count, MO_ACQUIRE);
#else
    (void)s;
    atomic_fence(MO_ACQUIRE);
#endif
}

static always_inline void page_slot_drop(struct meta_slot *s)
{
    /* Release: this holder's accesses to the page happen before whoever
     * drops last runs the destructor. Pairs with the acquire fence below. */
    uint32_t old = atomic_fetch_sub_u32(&s->ref_count, 1, MO_RELEASE);
    if (likely(old - 2 < REF_MAX - 1))
        return;
    if (old == 1) {
        page_slot_acquire_last(s);
        page_drop_last(s);
        return;
    }
    page_bad_ref(s, old, "drop");
}

/* Drop n references at once (the entries of a run of pages of one compound
 * page); the caller owns all n. */
static always_inline void page_slot_drop_n(struct meta_slot *s, uint32_t n)
{
    /* Release, then acquire on the last reference: as page_slot_drop(). */
    uint32_t old = atomic_fetch_sub_u32(&s->ref_count, n, MO_RELEASE);
    if (likely(old - n - 1 < REF_MAX - n))
        return;
    if (old == n && n != 0) {
        page_slot_acquire_last(s);
        page_drop_last(s);
        return;
    }
    page_bad_ref(s, old, "drop");
}

static inline enum page_usage page_slot_usage(const struct meta_slot *s)
{
    return (enum page_usage)atomic_load_u8(&s->usage, MO_RELAXED);
}

static inline uint32_t page_slot_ref_count(const struct meta_slot *s)
{
    return atomic_load_u32(&s->ref_count, MO_RELAXED);
}

/* dyn_page */
static inline struct dyn_page dyn_page_clone(struct dyn_page d)
{
    page_slot_clone(d.slot);
    return d;
}
static inline int dyn_page_try_clone(struct dyn_page d, struct dyn_page *out)
{
    int err = page_slot_try_clone(d.slot);
    if (err == ERR_OK)
        *out = d;
    return err;
}
static inline void dyn_page_drop(struct dyn_page d)
{
    page_slot_drop(d.slot);
}
static inline paddr_t dyn_page_paddr(struct dyn_page d)
{
    return meta_slot_paddr(d.slot);
}
static inline enum page_usage dyn_page_usage(struct dyn_page d)
{
    return page_slot_usage(d.slot);
}
static inline paddr_t dyn_page_into_raw(struct dyn_page d)
{
#ifdef TALLY_DEBUG
    page_into_raw_debug(d.slot);
#endif
    return meta_slot_paddr(d.slot);
}
static inline struct dyn_page dyn_page_from_raw(paddr_t p)
{
    return (struct dyn_page){page_from_raw(p, PAGE_UNUSED)};
}
static inline uint32_t dyn_page_ref_count(struct dyn_page d)
{
    return page_slot_ref_count(d.slot);
}

#define PAGE_HANDLE_DEFINE(X, USAGE, M, FIELD)                                                     \
    struct X {                                                                                     \
        struct meta_slot *slot;                                                                    \
    };                                                                                             \
    static inline struct X X##_from_unused(paddr_t p, M meta)                                      \
    {                                                                                              \
        union {                                                                                    \
            M m;                                                                                   \
            uint64_t w;                                                                            \
        } u = {.w = 0};                                                                            \
        u.m = meta;                                                                                \
        return (struct X){page_from_unused(p, USAGE, u.w)};                                        \
    }                                                                                              \
    static inline struct X X##_clone(struct X h)                                                   \
    {                                                                                              \
        page_slot_clone(h.slot);                                                                   \
        return h;                                                                                  \
    }                                                                                              \
    static inline int X##_try_clone(struct X h, struct X *out)                                     \
    {                                                                                              \
        int err = page_slot_try_clone(h.slot);                                                     \
        if (err == ERR_OK)                                                                         \
            *out = h;                                                                              \
        return err;                                                                                \
    }                                                                                              \
    static inline void X##_drop(struct X h)                                                        \
    {                                                                                              \
        page_slot_drop(h.slot);                                                                    \
    }                                                                                              \
    static inline paddr_t X##_paddr(struct X h)                                                    \
    {                                                                                              \
        return meta_slot_paddr(h.slot);                                                            \
    }                                                                                              \
    static inline paddr_t X##_into_raw(struct X h)                                                 \
    {                                                                                              \
        return dyn_page_into_raw((struct dyn_page){h.slot});                                       \
    }                                                                                              \
    static inline struct X X##_from_raw(paddr_t p)                                                 \
    {                                                                                              \
        return (struct X){page_from_raw(p, USAGE)};                                                \
    }                                                                                              \
    static inline M *X##_meta(struct X h)                                                          \
    {                                                                                              \
        return &h.slot->m.FIELD;                                                                   \
    }                                                                                              \
    static inline uint32_t X##_ref_count(struct X h)                                               \
    {                                                                                              \
        return page_slot_ref_count(h.slot);                                                        \
    }                                                                                              \
    static inline struct dyn_page X##_into_dyn(struct X h)                                         \
    {                                                                                              \
        return (struct dyn_page){h.slot};                                                          \
    }                                                                                              \
    static inline bool X##_from_dyn(struct dyn_page d, struct X *out)                              \
    {                                                                                              \
        if (page_slot_usage(d.slot) != USAGE)                                                      \
            return false;                                                                          \
        out->slot = d.slot;                                                                        \
        return true;                                                                               \
    }

PAGE_HANDLE_DEFINE(frame, PAGE_FRAME, struct frame_meta, frame)
PAGE_HANDLE_DEFINE(pt_page, PAGE_PT, struct pt_meta, pt)
PAGE_HANDLE_DEFINE(kstack, PAGE_KSTACK, struct kstack_meta, kstack)

/* A block of 2^order frames typed as one (page_from_unused_block). */
static inline struct frame frame_block_from_unused(paddr_t p, unsigned order, struct frame_meta m)
{
    union {
        struct frame_meta m;
        uint64_t w;
    } u = {.w = 0};
    u.m = m;
    return (struct frame){page_from_unused_block(p, order, PAGE_FRAME, u.w)};
}

/* Allocate one order-0 page and type it. On failure *err is ERR_NOMEM and
 * the returned handle's slot is NULL. */
struct frame frame_alloc(struct frame_meta m, int *err);
struct pt_page pt_page_alloc(struct pt_meta m, int *err);
struct kstack kstack_alloc(struct kstack_meta m, int *err);

/* Where the page's bytes are (arch_phys_to_virt of its address). */
void *frame_data(struct frame f);
void *pt_page_data(struct pt_page p);

#endif
