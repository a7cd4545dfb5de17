/* SPDX-License-Identifier: MIT */
/*
 * The page-table engine: one walker for EL2 stage-1 and stage-2 tables,
 * 4 KiB granule, whose entries own page references.
 *
 * Every table page is a tracked PAGE_PT page whose slot counts its valid
 * entries (struct pt_meta.nr_valid). A leaf that maps tracked RAM
 * (pt_map_frames) owns one reference per 4 KiB page it maps, marked by the
 * software bit PTE_SW_OWNED; pass-through leaves (pt_map_phys) own none.
 * Dropping the last reference of a table page (pt_page_release) drops
 * everything its entries own, so a whole tree goes with its root.
 *
 * Every operation is prepare-then-commit: it checks its input, checks the
 * range, allocates every table it will need and takes every reference first;
 * only then does it touch an entry, and from there it cannot fail. A failed
 * call returns one of the codes below and has changed no entry, no count and
 * no page (census included).
 *
 *   ERR_INVAL  bad prot, bad stage/ia_bits, size 0
 *   ERR_ALIGN  ia, pa or size not 4 KiB aligned
 *   ERR_RANGE  range outside [0, 2^ia_bits) or beyond 48-bit PA; a frame
 *              that is not RAM
 *   ERR_EXIST  map over anything already mapped
 *   ERR_NOENT  unmap/protect/lookup of anything not mapped
 *   ERR_STATE  pt_map_frames of a page that is not a live frame or kernel
 *              stack; stage-2 pt_map_phys of tracked RAM
 *   ERR_BUSY   a page's reference count would pass its saturation limit
 *   ERR_NOMEM  no page for a table
 *
 * Live entries change by break-before-make: the entry is written invalid,
 * arch_pte_sync(), the TLB invalidated, and only then is the new value
 * written. A page whose mapping goes (a frame or a table) is dropped only
 * after that invalidation has completed.
 */
#ifndef TALLY_PGTABLE_H
#define TALLY_PGTABLE_H

#include <tally/errno.h> /* before page.h, whose inline functions use ERR_* */
#include <tally/page.h>
#include <tally/pte.h>
#include <tally/spinlock.h>

enum pt_stage { PT_STAGE1_EL2 = 1, PT_STAGE2 = 2 };

/* prot bits. PT_R is required: a valid mapping is always readable. */
#define PT_R         0x1
#define PT_W         0x2
#define PT_X         0x4
#define PT_DEVICE    0x8 /* Device-nGnRE instead of Normal write-back; never with PT_X */
#define PT_PROT_MASK (PT_R | PT_W | PT_X | PT_DEVICE)

/* Input-address sizes the engine accepts (TCR/VTCR T0SZ 16..39). */
#define PT_IA_BITS_MIN 25
#define PT_IA_BITS_MAX 48

/*
 * One address space: an EL2 stage-1 tree (vmid unused) or a guest's stage-2.
 *
 * Locking: `lock` guards the whole tree (every entry of every table page
 * reachable from root) and the nr_valid of those table pages, and the
 * statistics below. Every pt_* call takes it for its whole duration, so calls
 * on one aspace are serialised and calls on different ones run in parallel.
 * Lock order: aspace lock, then the page allocator's lock (tables are
 * allocated and pages dropped with the aspace lock held). Page reference
 * counts are atomics and need no lock. pt_walk visitors run with the lock held
 * and must not call pt_* on the same aspace.
 */
struct aspace {
    struct spinlock lock;
    enum pt_stage stage;
    unsigned ia_bits;     /* input addresses are [0, 2^ia_bits) */
    unsigned start_level; /* level of the root table */
    uint16_t vmid;        /* stage-2 only */
    uint32_t owner;       /* VM id or OWNER_HYP, recorded in table pages */
    struct pt_page root;
    uint64_t nr_tables; /* table pages in the tree, root included */
};

/*
 * Start level for an input size, 4 KiB granule: the level whose single table
 * covers ia_bits (40..48 bits: level 0; 31..39: level 1; 25..30: level 2).
 * Stage-2 with start level 0 needs PARange >= 44 bits (true of QEMU's max and
 * cortex-a72 and of the Raspberry Pi 4's Cortex-A72); Tally never uses
 * concatenated root tables.
 */
unsigned pt_start_level(unsigned ia_bits);

/*
 * Stage-2 Normal memory is encoded for HCR_EL2.FWB = 1 (forced Write-Back)
 * when `on`. Call once at boot, before any stage-2 space exists, with
 * whether the CPU has FEAT_S2FWB and the hypervisor sets HCR_EL2.FWB.
 */
void pt_set_stage2_fwb(bool on);

/* ERR_OK, ERR_INVAL (stage, ia_bits), ERR_NOMEM. */
int aspace_init(struct aspace *as, enum pt_stage st, unsigned ia_bits, uint16_t vmid,
                uint32_t owner);
/*
 * Tear the whole tree down: the TLB of the space is invalidated
 * (arch_tlbi_vmid or arch_tlbi_el2_all), then the root is dropped, which
 * returns every table page and every reference the entries own. No CPU may
 * still be translating through this tree.
 */
void aspace_destroy(struct aspace *as);

/* Physical address of the root table: TTBR0_EL2 / VTTBR_EL2.BADDR. */
paddr_t aspace_root_pa(const struct aspace *as);
/* VTTBR_EL2 value: VMID in [63:48] (8 or 16 bits, as VTCR_EL2.VS says), root. */
uint64_t aspace_vttbr(const struct aspace *as);
/*
 * VTCR_EL2 fields the tree decides: T0SZ [5:0] = 64 - ia_bits and SL0 [7:6]
 * (4 KiB granule: 2 = start at level 0, 1 = level 1, 0 = level 2). TG0 = 0
 * (4 KiB); SH0/ORGN0/IRGN0, PS and VS are the runtime's to OR in.
 */
uint64_t aspace_vtcr_t0sz_sl0(const struct aspace *as);
/* TCR_EL2.T0SZ [5:0] = 64 - ia_bits (the start level follows from it);
 * TG0 = 0, with MAIR_EL2 = TALLY_MAIR_EL2. */
uint64_t aspace_tcr_t0sz(const struct aspace *as);

/*
 * Map [ia, ia+size) to the tracked pages [pa, pa+size). Every page must be a
 * live PAGE_FRAME or PAGE_KSTACK page the caller holds a reference to; each
 * mapped page takes one new reference, owned by the entry (the caller keeps
 * its own). Uses 1 GiB / 2 MiB blocks wherever ia, pa and the remaining size
 * allow. New entries need no TLB invalidation (nothing was mapped there).
 */
int pt_map_frames(struct aspace *as, uint64_t ia, paddr_t pa, uint64_t size, unsigned prot);
/*
 * Map [ia, ia+size) to [pa, pa+size) owning no reference: MMIO, untracked
 * memory (hypervisor image, metadata, reserved), or, for stage-1 only, RAM
 * the hypervisor keeps for good. Stage-2 refuses tracked RAM (ERR_STATE): a
 * guest must never reach a page that could be freed under it. Blocks where
 * aligned.
 */
int pt_map_phys(struct aspace *as, uint64_t ia, paddr_t pa, uint64_t size, unsigned prot);
/*
 * Unmap [ia, ia+size), all of which must be mapped (else ERR_NOENT). Blocks
 * partly inside are split first. Tables left empty are unlinked. References
 * owned by removed entries, and removed tables, are dropped after the TLB
 * invalidation that covers them.
 */
int pt_unmap(struct aspace *as, uint64_t ia, uint64_t size);
/* Set the attributes (prot, PT_DEVICE included) of [ia, ia+size), all of
 * which must be mapped. Splits blocks partly inside whose attributes change. */
int pt_protect(struct aspace *as, uint64_t ia, uint64_t size, unsigned prot);
/*
 * Stage-2 only (else ERR_INVAL): [ia, ia+size), all mapped, stays mapped and
 * keeps the references its entries own, but grants no access (S2AP = 00,
 * XN): any guest access faults. pt_lookup then reports prot 0; pt_protect
 * gives the access back. The sharing core keeps a lent page this way in its
 * owner's stage-2, so the owner's tree still holds (and at teardown drops)
 * the owner's reference.
 */
int pt_protect_none(struct aspace *as, uint64_t ia, uint64_t size);
/*
 * The frame mapped at ia is a page of a compound page (a block of frames
 * with one count on its head): make every page of that block a page of its
 * own, so that a reference on one of them (another VM's mapping, say) no
 * longer keeps the whole block alive. Only when this space's owning
 * entries, which map the block once at one contiguous run of addresses, are
 * the block's only references; each then owns one reference on each page
 * it maps (block entries lose PTE_SW_BLOCKREF: a software bit, so no
 * break-before-make). ERR_OK also when the frame already is a page of its
 * own; ERR_NOENT if nothing is mapped at ia; ERR_STATE if this space maps
 * the block only in part, elsewhere or without owning it; ERR_BUSY if any
 * other reference exists (or is on its way out). Nothing changes unless
 * ERR_OK.
 */
int pt_break_block(struct aspace *as, uint64_t ia);
/*
 * Translate one address: *pa (exact, offset included), *prot, *level (of the
 * leaf: 1, 2 or 3) and *owned (the leaf owns references). Any out-pointer may
 * be NULL. ERR_NOENT if not mapped, ERR_RANGE outside the input range.
 */
int pt_lookup(struct aspace *as, uint64_t ia, paddr_t *pa, unsigned *prot, unsigned *level,
              bool *owned);

/* What a visitor sees of one valid entry. */
struct pt_visit {
    uint64_t ia;         /* first input address the entry covers */
    unsigned level;      /* level of the table holding the entry */
    pte_t pte;           /* the descriptor */
    struct pt_page next; /* table entries: the next-level table (borrowed) */
};
/*
 * Visitor callbacks; NULL ones are skipped. A non-zero return stops the walk
 * and becomes pt_walk's result. table_pre/table_post bracket the visit of a
 * table entry's subtree; leaf sees blocks and pages. Invalid entries are not
 * visited.
 */
struct pt_visitor {
    int (*table_pre)(const struct pt_visit *v, void *ctx);
    int (*leaf)(const struct pt_visit *v, void *ctx);
    int (*table_post)(const struct pt_visit *v, void *ctx);
};
/* Visit every valid entry that overlaps [ia, ia+size), depth first, in
 * address order. ERR_ALIGN/ERR_RANGE/ERR_INVAL for a bad range. */
int pt_walk(struct aspace *as, uint64_t ia, uint64_t size, const struct pt_visitor *v, void *ctx);

/* Leaf attributes (everything but address, type and PTE_SW_OWNED) for prot in
 * this stage, and back. */
pte_t pt_prot_to_attrs(enum pt_stage st, unsigned prot);
unsigned pt_attrs_to_prot(enum pt_stage st, pte_t pte);

/*
 * Destructor of a page-table page, called by the page tracker on its last
 * drop: drops every reference the table's valid entries own (child tables,
 * and one per 4 KiB page of an owned leaf). Format-independent: it needs only
 * the shared bits and the level recorded in the slot. Returns true when every
 * descriptor (so every byte of the page) is zero: the tracker then skips the
 * page's next zeroing.
 */
bool pt_page_release(struct meta_slot *s);

#endif
