/* SPDX-License-Identifier: MIT */
/*
 * Test VMs for the sharing core (mm/share.c) on the host, and the check of
 * every sharing invariant, shared by the unit, model, stress and fuzz tests:
 *
 *   - every frame's reference count equals the mappings of it found by
 *     walking every live VM's stage-2 and Tally's stage-1, and the census
 *     counts exactly the frames reached (nothing leaked, nothing freed early);
 *   - each frame's state matches who maps it and how (owned: its owner,
 *     RWX; shared: owner RWX + borrower R or RW; lent: owner with no access
 *     + borrower RW; shared with Tally: owner + Tally's window; orphan: the
 *     borrower only);
 *   - every live VM's counts equal those recomputed from the frames.
 */
#ifndef TALLY_TESTS_SHARE_FIXTURE_H
#define TALLY_TESTS_SHARE_FIXTURE_H

#include <tally/share.h>

#define TVM_RAM_IPA    0x40000000ull
#define TVM_MMIO_IPA   0x09000000ull /* a device page (pass-through, no reference) */
#define TVM_MMIO_PA    0x09000000ull
#define TVM_BORROW_IPA 0x8000000000ull
#define TVM_BORROW_SZ  0x8000000000ull
#define TVM_IA_BITS    40
#define THYP_VA_BASE   0x4000000000ull
#define THYP_IA_BITS   39

struct test_vm {
    bool live;
    struct aspace s2;
    struct share_vm sh;
    uint64_t pages;
};

/*
 * Build VM `id` with `pages` frames of RAM at TVM_RAM_IPA (RWX, the stage-2
 * entry's reference only) and the device page at TVM_MMIO_IPA. blocks: RAM
 * in 2 MiB blocks (pages a multiple of 512), else one page at a time.
 */
void test_vm_create(struct test_vm *t, uint16_t id, uint64_t pages, bool blocks);
/* The same, its RAM typed as Tally types a VM's (hyp/vm/vm.c map_piece):
 * compound pages of 2^order frames, each mapped by entries that own one
 * reference on its head (a PTE_SW_BLOCKREF block when order >= 9). */
void test_vm_create_compound(struct test_vm *t, uint16_t id, uint64_t pages, unsigned order);
/* share_vm_teardown, then aspace_destroy. */
void test_vm_destroy(struct test_vm *t);

/* VMs 0 .. n-1 of `pages` pages each (one at a time), and Tally's stage-1. */
void test_world_create(struct test_vm *const *vms, unsigned n, uint64_t pages, struct aspace *hyp);
/* Tear down every live VM and Tally's stage-1; returns the frames and
 * table pages still in use (0: every page came back). */
uint64_t test_world_destroy(struct test_vm *const *vms, unsigned n, struct aspace *hyp);

/* Tally's stage-1 for the tests, with the window share_hyp_va() uses. */
void test_hyp_create(struct aspace *hyp);
void test_hyp_destroy(struct aspace *hyp);

/* Check every invariant above over these VMs (dead ones skipped) and Tally's
 * stage-1 (NULL: none). On failure: false, and a message in msg. */
bool share_invariants(struct test_vm *const *vms, unsigned n, struct aspace *hyp, char *msg,
                      size_t len);

/* Everything a failed call must leave unchanged: census, counts, every
 * entry of every space (a hash), every frame's count and metadata (hash).
 * Not how references are counted: a refused request may have broken a
 * compound page (mm/share.c break_blocks), which changes no mapping, access,
 * metadata or count of mappings, only which slot counts them. */
struct share_snapshot {
    uint64_t census[PAGE_USAGE_COUNT + 1];
    struct share_counts counts[8];
    uint64_t tables[8];
    uint64_t entries_hash, frames_hash;
};
void share_snapshot(struct test_vm *const *vms, unsigned n, struct aspace *hyp,
                    struct share_snapshot *s);
bool share_snapshot_eq(const struct share_snapshot *a, const struct share_snapshot *b);

/*
 * One sharing call chosen by a few numbers, as the model test and the fuzz
 * target drive them: kind picks the call (or a teardown and rebuild of VM
 * `from`), from/to index vms[] (to == n: no VM), page/to_page pick IPAs
 * (bit 15 of page: the borrow window instead of RAM; pages past the VM's
 * RAM are unmapped), nr the page count.
 */
enum share_op_kind {
    SOP_SHARE,
    SOP_SHARE_RO,
    SOP_UNSHARE,
    SOP_LEND,
    SOP_RECLAIM,
    SOP_RECLAIM_GONE,
    SOP_DONATE,
    SOP_RELINQUISH,
    SOP_SHARE_HYP,
    SOP_UNSHARE_HYP,
    SOP_REBUILD,
    SOP_COUNT
};
struct share_op {
    uint8_t kind, from, to;
    uint16_t page, to_page;
    uint64_t nr;
};
/* Apply op; returns the call's result (ERR_OK for a rebuild). */
int share_apply(struct test_vm *const *vms, unsigned n, const struct share_op *op);

#endif
