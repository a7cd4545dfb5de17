/* SPDX-License-Identifier: MIT */
/*
 * What the CPU can give a guest (hyp/vm/cpufeature.c), and the guest's view
 * of it.
 *
 * - The stage-2 geometry: IPA size and start level from PARange (40 bits
 *   from level 0 where PARange >= 44 bits, else 36 or 32 bits from level 1),
 *   the VMID width, whether 4 KiB stage-2 granules exist.
 * - The EL2 control registers: every one the CPU implements gets a written
 *   value, at boot on every CPU (cpufeature_el2_init) and for a guest
 *   (cpufeature_hcr/hcrx/cptr/mdcr at vcpu load). docs/cpu-features.md lists
 *   them.
 * - The ID registers a guest reads (HCR_EL2.TID3 traps them): a per-VM
 *   sanitised copy, built from the boot CPU's registers by one table of
 *   fields, each either the hardware's value, capped, or fixed at "absent".
 *   docs/cpu-features.md is the same table in prose; the test guest checks
 *   that the two agree.
 */
#ifndef TALLY_HYP_CPUFEATURE_H
#define TALLY_HYP_CPUFEATURE_H

#include <stddef.h>
#include <tally/types.h>

/* The ID register space HCR_EL2.TID3 traps: op0 = 3, op1 = 0, CRn = 0,
 * CRm = 1..7, op2 = 0..7 (index (CRm - 1) * 8 + op2). */
#define IDREG_COUNT 56

struct idreg_view {
    uint64_t val[IDREG_COUNT];
};

/* The stage-2 tables this CPU can walk, for every VM. */
struct stage2_geometry {
    unsigned ipa_bits; /* 40, 36 or 32: always a PARange value */
    uint64_t vtcr_ps;  /* VTCR_EL2.PS: the CPU's PARange, at most 48 bits */
    bool vmid16;       /* VTCR_EL2.VS */
};

/* ERR_OK, or ERR_NOTSUP with a one-line reason in why (no 4 KiB stage-2
 * granule: no guest can run on this CPU). */
int cpufeature_stage2(struct stage2_geometry *g, char *why, size_t len);

/* VTCR_EL2 for a stage-2 of this geometry; t0sz_sl0 from the tree
 * (aspace_vtcr_t0sz_sl0). */
uint64_t cpufeature_vtcr(const struct stage2_geometry *g, uint64_t t0sz_sl0);

/* EL2 controls for a guest, written at every vCPU load. */
uint64_t cpufeature_hcr(void);
uint64_t cpufeature_mdcr(void);
uint64_t cpufeature_cptr(void);
/* Write HCRX_EL2 and the fine-grained traps (where the CPU has them) for a
 * guest; they are no different from the boot values but are rewritten so
 * nothing Tally did meanwhile can leak into the guest. */
void cpufeature_guest_traps_load(void);

/* Every CPU, at boot before anything runs at EL1: each EL2 control
 * register the CPU implements gets its documented value. */
void cpufeature_el2_init(void);

/* The VM's ID registers, from this CPU's and the VM's vGIC version. */
void cpufeature_view_init(struct idreg_view *view, unsigned gic_version);

/* One line: the IPA size, VMID width, PMU, MOPS, and what the CPU has that
 * the guest does not see. */
void cpufeature_print(unsigned vm_id, const struct stage2_geometry *g);

/* The guest's PMU: the CPU has PMUv3.5 (MDCR_EL2.HCCD, so no counter of a
 * guest counts at EL2). Without it the PMU is hidden and trapped. */
bool cpufeature_guest_pmu(void);
/* FEAT_MOPS is given to guests (the CPU has it and FEAT_HCX to enable it). */
bool cpufeature_guest_mops(void);
/* SVE is the guest's wherever the CPU has it, at the CPU's longest vector
 * (ZCR_EL2.LEN all ones); the guest picks its own length with ZCR_EL1. */
bool cpufeature_guest_sve(void);
/* The longest SVE vector in bytes (RDVL at EL2 with ZCR_EL2.LEN all ones):
 * call only where cpufeature_guest_sve() and CPTR_EL2.TZ is 0. */
unsigned cpufeature_sve_max_vl(void);

#endif
