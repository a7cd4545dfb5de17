/* SPDX-License-Identifier: MIT */
/*
 * hyp/vm/cpureset.c: reset the guest-writable EL1/EL0 state that struct
 * vcpu_sysregs does not carry (debug, PMU, PAuth keys, TPIDR2_EL0,
 * ICC_SRE_EL1). Called on the vCPU's own pCPU whenever the vCPU starts.
 */
#ifndef TALLY_HYP_CPURESET_H
#define TALLY_HYP_CPURESET_H

void cpureset_el1(void);

#endif
