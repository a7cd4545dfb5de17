/* SPDX-License-Identifier: MIT */
/*
 * Trapped MSR/MRS (ESR EC 0x18) for guests (hyp/vm/sysreg.c): one table of
 * register encodings (or encoding ranges) and their handlers. Anything not
 * in the table, and any access a handler refuses (a write to a read-only
 * register, a register of a hidden feature), is an UNDEF injected into the
 * guest, never a fault in Tally.
 */
#ifndef TALLY_HYP_SYSREG_H
#define TALLY_HYP_SYSREG_H

#include <tally/types.h>

/* ESR ISS of a trapped MSR/MRS: Op0 [21:20], Op2 [19:17], Op1 [16:14],
 * CRn [13:10], Rt [9:5], CRm [4:1], Direction [0] (1: MRS). */
#define SYSREG_ISS(op0, op1, crn, crm, op2)                                                        \
    (((op0) << 20) | ((op2) << 17) | ((op1) << 14) | ((crn) << 10) | ((crm) << 1))
#define SYSREG_ISS_MASK SYSREG_ISS(3, 7, 15, 15, 7)
#define ISS_ICC_SGI1R   SYSREG_ISS(3, 0, 12, 11, 5)
#define ISS_ICC_ASGI1R  SYSREG_ISS(3, 1, 12, 11, 6)
#define ISS_ICC_SGI0R   SYSREG_ISS(3, 2, 12, 11, 7)

struct vcpu;

/* One trapped access, decoded. */
struct sysreg_access {
    uint64_t esr;
    uint32_t enc; /* ESR ISS & SYSREG_ISS_MASK */
    unsigned rt;
    bool read; /* MRS: the handler sets val; MSR: val is what was written */
    uint64_t val;
};

/* A handler emulates the access and returns true, or returns false for an
 * UNDEF. */
typedef bool (*sysreg_handler)(struct vcpu *v, struct sysreg_access *a);

/* Handle one EC 0x18 exit: emulated (PC stepped, MRS result in Rt) or an
 * UNDEF injected. Counts v->exits_sysreg / v->undefs. */
void sysreg_handle_trap(struct vcpu *v, uint64_t esr);

#endif
