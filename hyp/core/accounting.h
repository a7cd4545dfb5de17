/* SPDX-License-Identifier: MIT */
/* The page accounting line (hyp/core/accounting.c). */
#ifndef TALLY_HYP_ACCOUNTING_H
#define TALLY_HYP_ACCOUNTING_H

#include <tally/types.h>

struct accounting {
    uint64_t free, frame, pagetable, kstack, hyp, meta, reserved;
    int64_t leaked;
};

/* Take the census and count what live owners reach: Tally's own space and
 * stacks here, every live VM and shared region through the function hyp/vm
 * registers (vm_account_owners, under vm_mm_lock, which the caller must hold
 * once VMs exist). */
void accounting_take(struct accounting *a);

/* For owners outside hyp/core. A tree: its table pages (each held by its
 * parent, the root by the tree) and the 4 KiB pages its owning leaves hold,
 * each with exactly one reference, except pages skip() claims (another
 * owner reports them). */
struct acct_reach;
struct aspace;
void accounting_reach_tree(struct acct_reach *r, struct aspace *as, bool (*skip)(paddr_t p));
/* n pages from p held by an owner, each with exactly `refs` references. */
void accounting_reach_pages(struct acct_reach *r, paddr_t p, uint64_t n, uint32_t refs);
/* n pages an owner took from the allocator and keeps untyped (a VM's
 * reserved, untouched RAM): no references to audit. */
void accounting_reach_reserved(struct acct_reach *r, uint64_t n);
/* The owners above Tally's core (VMs, shared regions) report through fn
 * from now on. Set once, before the first VM. */
void accounting_set_owners(void (*fn)(struct acct_reach *r));
/* Print `tally: accounting free=N frame=N pagetable=N kstack=N hyp=N meta=N
 * reserved=N leaked=N`. */
void accounting_print(const struct accounting *a);

#endif
