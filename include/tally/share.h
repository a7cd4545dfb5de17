/* SPDX-License-Identifier: MIT */
/*
 * Page sharing between VMs, and with Tally itself: the transitions of the
 * frame states in <tally/meta.h> (pKVM's mem_protect.c is the model), on
 * stage-2 address spaces and frames, knowing nothing of hyp/'s VM structs.
 *
 *   call               owner's pages      then                 the other side
 *   share_share        OWNED              SHARED_OWNED         maps R or RW
 *   share_unshare      SHARED_OWNED (to)  OWNED                unmapped
 *   share_lend         OWNED              LENT (owner: no      maps RW
 *                                         access, keeps ref)
 *   share_reclaim      LENT (to or gone)  OWNED (RWX again)    unmapped
 *   share_donate       OWNED              OWNED by `to`        maps RWX; the
 *                                                              owner unmaps
 *   share_relinquish   (borrower's call)  SHARED -> OWNED,     unmapped
 *                                         LENT -> LENT, no
 *                                         borrower
 *   share_with_hyp     OWNED              SHARED_OWNED (hyp)   Tally's stage-1
 *   share_unshare_hyp  SHARED_OWNED (hyp) OWNED                unmapped
 *
 * A request is `nr` consecutive pages from IPA `ipa` of the caller's stage-2
 * and, on the other side, `nr` consecutive pages from `to_ipa` of the other
 * VM's borrow window (struct share_vm). Every page is checked before any is
 * changed; a failed call returns its own code and has changed nothing (no
 * entry, no reference, no count, no census):
 *
 *   ERR_INVAL     nr == 0, unknown flags
 *   ERR_TOOBIG    nr > SHARE_MAX_PAGES
 *   ERR_ALIGN     ipa or to_ipa not 4 KiB aligned
 *   ERR_RANGE     a range wraps, leaves the stage-2 input range, or to_ipa's
 *                 leaves the target's borrow window
 *   ERR_NOVM      no target VM (to == NULL where one is needed)
 *   ERR_SELF      the target is the caller
 *   ERR_DYING     the target is being torn down
 *   ERR_NOENT     a page of the caller's range is not mapped
 *   ERR_DEVICE    a page is mapped but is not a frame (MMIO, untracked memory)
 *   ERR_PERM      a page is not the caller's
 *   ERR_SHARED    a page is already shared (with a VM or with Tally)
 *   ERR_LENT      a page is lent out
 *   ERR_NOTSHARED unshare/reclaim: a page is not shared/lent with that target,
 *                 or the target does not map it at to_ipa; relinquish: a
 *                 page is not borrowed by the caller
 *   ERR_EXIST     the target already maps something in its range
 *   ERR_BUSY      a page's reference count would saturate
 *   ERR_NOMEM     no page for a table (target's or a split of the caller's)
 *   ERR_NOTSUP    share_with_hyp before share_hyp_init()
 *
 * Locking: one sharing lock serialises every call here and every teardown
 * (share_vm_teardown). Lock order: sharing lock, then aspace locks (the
 * caller's, then Tally's stage-1 in teardown), then the allocator's.
 */
#ifndef TALLY_SHARE_H
#define TALLY_SHARE_H

#include <tally/pgtable.h>

#define SHARE_MAX_PAGES 512u /* pages one call may move: 2 MiB */
#define SHARE_RO        0x1u /* share_share: the borrower maps read-only */
#define SHARE_FLAGS     SHARE_RO

/* Per-VM page counts, exact under the sharing lock. */
struct share_counts {
    uint64_t owned;      /* pages the VM owns (the next three included) */
    uint64_t shared;     /* of those, shared with another VM */
    uint64_t lent;       /* of those, lent out (borrower present or gone) */
    uint64_t hyp_shared; /* of those, shared with Tally */
    uint64_t borrowed;   /* other VMs' pages it maps (shared with or lent to it) */
};

#define SHARE_MAX_VMS 64 /* VM ids the sharing core tracks: 0 .. SHARE_MAX_VMS - 1 */

/* One VM as the sharing core sees it. Guarded by the sharing lock. */
struct share_vm {
    uint16_t id;
    bool dying; /* share_vm_teardown() ran: nothing new may reach it */
    struct aspace *s2;
    /* Where other VMs' pages may be mapped in this VM's stage-2. */
    uint64_t borrow_ipa, borrow_size;
    struct share_counts counts;
};

/*
 * Start tracking a VM whose stage-2 already maps `owned_pages` frames it
 * owns (its RAM): it joins the sharing core's table of VMs by id, which is
 * how a borrower's call finds the owner whose counts it changes. The borrow
 * window must not overlap anything mapped. id < SHARE_MAX_VMS, not in use.
 */
void share_vm_init(struct share_vm *vm, uint16_t id, struct aspace *s2, uint64_t owned_pages,
                   uint64_t borrow_ipa, uint64_t borrow_size);

/*
 * Tally's stage-1 and the VA window where a page shared with Tally appears:
 * share_hyp_va(). The window needs a page per slot (meta_nr_slots()).
 * ERR_RANGE if it is too small or leaves the space; ERR_ALIGN if unaligned.
 */
int share_hyp_init(struct aspace *hyp_s1, uint64_t va_base, uint64_t va_size);
/* Forget Tally's stage-1 (tests; nothing may be shared with Tally then). */
void share_hyp_reset(void);
/* Where Tally maps a RAM page shared with it. */
uint64_t share_hyp_va(paddr_t p);

int share_share(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                uint64_t to_ipa, uint64_t flags);
int share_unshare(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                  uint64_t to_ipa);
int share_lend(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
               uint64_t to_ipa);
/* `to` may be NULL when every page's borrower is gone (ERR_NOTSHARED for a
 * page whose borrower is still there). */
int share_reclaim(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                  uint64_t to_ipa);
int share_donate(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                 uint64_t to_ipa);
/* The borrower lets go of pages mapped at [ipa, ipa + nr pages) of its
 * stage-2. A page whose owner is gone is freed with its last mapping. */
int share_relinquish(struct share_vm *vm, uint64_t ipa, uint64_t nr);
int share_with_hyp(struct share_vm *from, uint64_t ipa, uint64_t nr);
int share_unshare_hyp(struct share_vm *from, uint64_t ipa, uint64_t nr);

/* A snapshot of the VM's counts, taken under the sharing lock. */
void share_vm_counts(struct share_vm *vm, struct share_counts *out);

/*
 * Before a VM's stage-2 is destroyed (its vCPUs stopped): mark it dying,
 * settle every page it shares, lends or borrows, and take it out of the
 * table of VMs, so that destroying its stage-2 leaves every other party
 * exact:
 *   - its pages shared with Tally are unmapped from Tally's stage-1;
 *   - its pages another VM maps (shared or lent) lose their owner: the
 *     borrower's mapping keeps them until it lets go, then they are freed;
 *   - pages it borrowed go back to their owner (shared: OWNED again, the
 *     owner's count drops; lent: the owner may reclaim them).
 * The VM's counts are zero afterwards; its stage-2 still holds every
 * reference it held, which aspace_destroy() then drops.
 */
void share_vm_teardown(struct share_vm *vm);

/* The tracked VM with this id, or NULL. For tests and invariant checks. */
struct share_vm *share_vm_get(uint16_t id);

#endif
