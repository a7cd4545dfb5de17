/* SPDX-License-Identifier: MIT */
/*
 * Page metadata: one 16-byte slot for every 4 KiB page of RAM.
 *
 * The slot array covers each RAM bank found in the device tree and nothing
 * else: holes between banks cost no slot memory. A physical address reaches
 * its slot by arithmetic within its bank (banks are few; the first is checked
 * first), and a slot reaches its address the same way back.
 *
 *   struct meta_slot (16 bytes)
 *   +-----------+-------+-------+-------+-------+-----------------------+
 *   | ref_count | usage | order | flags | raw   |  per-usage metadata   |
 *   |  atomic32 |  a8   |  u8   |  u8   |  a8   |       8 bytes         |
 *   +-----------+-------+-------+-------+-------+-----------------------+
 *     0           4       5       6       7       8                    16
 *
 * Slot states live in ref_count, so one atomic decides every transition:
 *
 *   REF_UNUSED (0xffffffff)  unused: in the allocator, or just taken from it
 *   REF_BUSY   (0)           being built by from_unused, or torn down by the
 *                            last drop; nobody may take a reference
 *   1 .. REF_MAX             in use with that many references
 *   REF_FIXED  (0xfffffffe)  untracked usage (reserved, hypervisor, metadata):
 *                            never cloned, never dropped
 *   REF_TAIL + k             a tail page of a block of 2^k pages typed as one
 *                            (k >= 1): its head, the page at its address
 *                            rounded down to 2^k pages, holds the count
 *
 *   unused --from_unused: CAS UNUSED->BUSY--> busy --store-release 1--> in use
 *   in use --last drop: fetch_sub 1->0--> busy --destructor, store UNUSED--> unused
 *
 * A zero-filled slot is BUSY, never live, so stray zero memory cannot be
 * mistaken for a page in use; page_try_get() only increments counts in
 * [1, REF_MAX), so it can never resurrect a page mid-teardown, and
 * from_unused() only succeeds on UNUSED, so it can never overlap a last drop.
 */
#ifndef TALLY_META_H
#define TALLY_META_H

#include <tally/atomic.h>
#include <tally/types.h>

enum page_usage {
    PAGE_UNUSED = 0,
    PAGE_RESERVED, /* firmware, DTB, boot modules, holes */
    PAGE_HYP,      /* the hypervisor image */
    PAGE_META,     /* the slot array itself */
    PAGE_FRAME,    /* a data page: guest RAM, buffers */
    PAGE_PT,       /* a page-table page */
    PAGE_KSTACK,   /* a kernel stack page */
    PAGE_USAGE_COUNT
};

#define REF_UNUSED 0xffffffffu
#define REF_FIXED  0xfffffffeu
#define REF_BUSY   0u
/* Tails of a block (compound) page: REF_TAIL + the block's order. Above
 * REF_MAX like every sentinel, so any check for a live count refuses it. */
#define REF_TAIL 0x80000000u
/* Counts saturate here: try_clone refuses, clone panics. Far below the
 * sentinels, so even racing clones past the limit cannot reach them. */
#define REF_MAX (1u << 30)

/*
 * Frame ownership and sharing (pKVM's page states, kept in the frame's slot
 * instead of software bits of each stage-2 entry). The slot records the
 * owner's side; the borrower's side follows from it:
 *
 *   share        owner's view        borrower's view     who maps it
 *   OWNED        owned               -                   owner (RWX)
 *   SHARED_OWNED shared-owned        shared-borrowed     owner (RWX), borrower
 *                                                        (R, or RW without
 *                                                        FRAME_F_RO)
 *   LENT         lent                borrowed            borrower (RW); the
 *                                                        owner keeps a no-access
 *                                                        entry (its reference)
 *
 * A borrower is a VM or OWNER_HYP (Tally's own stage-1). FRAME_NO_VM as the
 * owner: the owner was torn down while a borrower still mapped the page (it
 * is freed when the borrower lets go); as the borrower of a LENT frame: the
 * borrower let go or went away and the owner may reclaim it.
 *
 * Guarded by the sharing lock (mm/share.c) once a frame is mapped in a
 * stage-2: only the sharing core changes these fields after creation.
 */
enum frame_share {
    FRAME_OWNED = 0,
    FRAME_SHARED_OWNED = 1,
    FRAME_LENT = 2,
};

#define FRAME_F_RO  0x1     /* the borrower's mapping is read-only */
#define OWNER_HYP   0xffffu /* owner_vm of frames the hypervisor itself uses */
#define FRAME_NO_VM 0xfffeu /* no owner (owner gone) or no borrower */

struct frame_meta {
    uint16_t owner_vm;
    uint8_t share;     /* enum frame_share */
    uint8_t flags;     /* FRAME_F_* */
    uint16_t borrower; /* VM id or OWNER_HYP; valid unless share == FRAME_OWNED */
    uint16_t reserved;
};

struct pt_meta {
    uint8_t stage;     /* 1: EL2 stage-1, 2: stage-2 */
    uint8_t level;     /* 0..3 */
    uint16_t nr_valid; /* valid entries; guarded by the address space's lock */
    uint32_t owner;    /* VM id, or OWNER_HYP */
};

struct kstack_meta {
    uint16_t cpu; /* physical CPU or vCPU index */
    uint16_t flags;
    uint32_t reserved;
};

/* Links of the buddy allocator in the slots of free pages (slot indices). */
struct free_meta {
    uint32_t prev;
    uint32_t next;
};

struct meta_slot {
    atomic_u32 ref_count;
    atomic_u8 usage;
    /* Free: buddy order of a free block's head page. Live: order of the
     * block this head page types as one (0: a single page). */
    uint8_t order;
    /* SLOT_F_*. Atomic because the buddy allocator reads a neighbour's flags
     * (under its lock) while that neighbour's CPU moves it in or out of its
     * per-CPU cache (without the lock). Only the lock holder sets or clears
     * SLOT_F_FREE_HEAD, so relaxed accesses suffice. */
    atomic_u8 flags;
    atomic_u8 raw; /* debug builds: outstanding into_raw handles (saturating) */
    union {
        struct frame_meta frame;
        struct pt_meta pt;
        struct kstack_meta kstack;
        struct free_meta free;
        uint64_t word;
    } m;
};

#define SLOT_F_FREE_HEAD 0x1 /* head of a block on a buddy free list */
#define SLOT_F_PCP       0x2 /* order-0 page in a per-CPU cache */
#define SLOT_F_DIRTY     0x4 /* unused page with unknown contents: zeroed when next typed */

static inline uint8_t slot_flags(const struct meta_slot *s)
{
    return atomic_load_u8(&s->flags, MO_RELAXED);
}

/* Set the allocator's flags of a slot, keeping SLOT_F_DIRTY. Only the slot's
 * owner (the buddy lock holder, or the CPU whose cache holds it) calls this,
 * so load and store need not be one atomic step. */
static inline void slot_set_alloc_flags(struct meta_slot *s, uint8_t f)
{
    atomic_store_u8(&s->flags, (uint8_t)((slot_flags(s) & SLOT_F_DIRTY) | f), MO_RELAXED);
}

_Static_assert(sizeof(struct meta_slot) == 16, "meta_slot must be 16 bytes");
_Static_assert(sizeof(struct frame_meta) <= 8, "frame metadata must fit the slot");
_Static_assert(sizeof(struct pt_meta) <= 8, "page-table metadata must fit the slot");
_Static_assert(sizeof(struct kstack_meta) <= 8, "kstack metadata must fit the slot");
_Static_assert(sizeof(struct free_meta) <= 8, "free-list links must fit the slot");

struct mem_bank {
    paddr_t base; /* page aligned */
    uint64_t size;
};

#define META_MAX_BANKS 8

/* Bytes of slot memory needed for these banks. */
size_t meta_bytes_needed(const struct mem_bank *banks, unsigned n);

/*
 * Build the slot array in slot_mem (meta_bytes_needed() bytes). Every slot
 * starts as PAGE_RESERVED/REF_FIXED; page_alloc_add() hands pages to the
 * allocator. Banks must be page aligned, sorted-or-not, and must not overlap.
 * Returns ERR_OK, ERR_ALIGN, ERR_INVAL (no bank, too many, overlap, empty).
 */
int meta_init(const struct mem_bank *banks, unsigned n, void *slot_mem);

/*
 * Bank 0, the lowest, is resolved inline: on QEMU virt it is the only bank,
 * on the Raspberry Pi 4 it holds the hypervisor. Other banks take the
 * out-of-line loop. Written once by meta_init().
 */
struct meta_bank0 {
    uint64_t base_pfn;
    uint64_t npages;
    struct meta_slot *slots;
};
extern struct meta_bank0 meta_bank0;

struct meta_slot *meta_slot_lookup_slow(paddr_t p);
paddr_t meta_slot_paddr_slow(const struct meta_slot *s);
__attribute__((noreturn)) void meta_not_ram(paddr_t p);

/* Slot index <-> slot (the allocator's links are indices). All banks' slots
 * are one array that starts at bank 0's. */
static inline uint32_t meta_slot_index(const struct meta_slot *s)
{
    return (uint32_t)(s - meta_bank0.slots);
}
static inline struct meta_slot *meta_slot_at(uint32_t idx)
{
    return meta_bank0.slots + idx;
}

/* The slot of a RAM page, or NULL if pa is not in any bank. */
static inline struct meta_slot *meta_slot_lookup(paddr_t p)
{
    uint64_t off = (pa_val(p) >> PAGE_SHIFT) - meta_bank0.base_pfn;
    if (likely(off < meta_bank0.npages))
        return meta_bank0.slots + off;
    return meta_slot_lookup_slow(p);
}

/* The slot of a RAM page; panics naming the address if it is not RAM. */
static inline struct meta_slot *meta_slot(paddr_t p)
{
    struct meta_slot *s = meta_slot_lookup(p);
    if (unlikely(!s))
        meta_not_ram(p);
    return s;
}

static inline paddr_t meta_slot_paddr(const struct meta_slot *s)
{
    uint64_t idx = (uint64_t)(s - meta_bank0.slots);
    if (likely(idx < meta_bank0.npages))
        return pa((meta_bank0.base_pfn + idx) << PAGE_SHIFT);
    return meta_slot_paddr_slow(s);
}

uint64_t meta_nr_slots(void);
unsigned meta_nr_banks(void);
const struct mem_bank *meta_bank(unsigned i);
/* Bank holding pa, or -1. */
int meta_bank_of(paddr_t p);

/* Mark pages with an untracked usage (reserved, hypervisor, metadata). The
 * pages must not be in the allocator. */
void meta_mark_fixed(paddr_t start, uint64_t npages, enum page_usage u);

const char *page_usage_name(enum page_usage u);

/*
 * Per-usage census. Tracked usages are counted when a page is built and when
 * its last reference goes; free counts come from the allocator.
 */
struct page_census {
    uint64_t total;
    uint64_t free;
    uint64_t unused; /* taken from the allocator but not yet typed */
    uint64_t by_usage[PAGE_USAGE_COUNT];
};

void page_census(struct page_census *c);

#endif
