/* SPDX-License-Identifier: MIT */
/*
 * Hooks the portable core (mm/) needs from an architecture. hyp/ implements
 * them for AArch64 EL2; tests/ implements a fake architecture for the host
 * that records every TLB and cache operation so tests can assert them.
 */
#ifndef TALLY_ARCH_H
#define TALLY_ARCH_H

#include <tally/types.h>

#define TALLY_MAX_CPUS 8

/* Index of the running CPU, 0 .. TALLY_MAX_CPUS-1. */
unsigned arch_cpu_id(void);

/* Where the core can read and write a physical page (identity at EL2). */
void *arch_phys_to_virt(paddr_t p);

/*
 * TLB maintenance. Each call is complete when it returns (the DSB that waits
 * for the invalidation is part of it), so a page unmapped before the call may
 * be freed after it.
 */
void arch_tlbi_el2_va(vaddr_t v);   /* one EL2 stage-1 VA, all CPUs */
void arch_tlbi_el2_all(void);       /* all EL2 stage-1 entries */
void arch_tlbi_vmid(uint16_t vmid); /* everything of a VMID */

/* n entries of `step` bytes each (4 KiB, 2 MiB or 1 GiB) from ia. */
struct tlbi_run {
    uint64_t ia, step;
    unsigned n;
};
/*
 * Stage-2 invalidation of a batch: the stage-2 entries of every address of
 * the runs (TLBI IPAS2E1IS each, or range TLBIs where the CPU has
 * FEAT_TLBIRANGE), then ONE TLBI VMALLE1IS for the guest's stage-1 entries
 * that may hold a combined translation (they cannot be invalidated by IPA),
 * all with VTTBR_EL2 switched to the VMID once.
 */
void arch_tlbi_ipa_runs(uint16_t vmid, const struct tlbi_run *runs, unsigned n);

/* Zero whole pages (DC ZVA at EL2, memset on the host). */
void arch_page_zero(paddr_t p, uint64_t npages);

/* Make descriptor writes visible to the table walker (DSB ISHST). */
void arch_pte_sync(void);

#endif
