// SPDX-License-Identifier: MIT
// The EC 0x18 dispatcher: a guest's trapped MSR/MRS, matched against one
// table of (encoding, mask) pairs in order, first match wins.
//
//   ID registers   op0 3, op1 0, CRn 0, CRm 1..7 (HCR_EL2.TID3): reads from
//                  the VM's sanitised view (cpufeature.c); writes UNDEF
//   ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1
//                  the vGIC's SGI generation (vgic.c), writes only
//
// Everything else that traps lands here and is an UNDEF: IMPLEMENTATION
// DEFINED registers (HCR_EL2.TIDCP), RAS error records (TERR), the PMU when
// it is hidden (MDCR_EL2.TPM), AMU (CPTR_EL2.TAM, EC 0x18 as well), trace,
// SPE, and the registers of hidden features the fine-grained traps catch.
#include <tally/sysreg.h>

#include "irq/vgic.h"
#include "cpufeature.h"
#include "sysreg.h"
#include "vcpu.h"
#include "vm.h"

#define ISS_CRM(enc) (((enc) >> 1) & 0xf)
#define ISS_OP2(enc) (((enc) >> 17) & 0x7)

static bool idreg_access(struct vcpu *v, struct sysreg_access *a)
{
    unsigned crm = ISS_CRM(a->enc), op2 = ISS_OP2(a->enc);
    if (!a->read || crm == 0)
        return false;
    a->val = v->vm->idregs.val[(crm - 1) * 8 + op2];
    return true;
}

static bool vgic_sgi(struct vcpu *v, struct sysreg_access *a)
{
    return vgic_handle_sysreg(v, a->esr);
}

struct sysreg_trap {
    uint32_t enc, mask;
    sysreg_handler handle;
};

#define EXACT SYSREG_ISS_MASK

static const struct sysreg_trap traps[] = {
    {SYSREG_ISS(3, 0, 0, 0, 0), SYSREG_ISS(3, 7, 15, 0, 0), idreg_access},
    {ISS_ICC_SGI1R, EXACT, vgic_sgi},
    {ISS_ICC_ASGI1R, EXACT, vgic_sgi},
    {ISS_ICC_SGI0R, EXACT, vgic_sgi},
};

void sysreg_handle_trap(struct vcpu *v, uint64_t esr)
{
    uint32_t iss = (uint32_t)ESR_ISS(esr);
    struct sysreg_access a = {
        .esr = esr,
        .enc = iss & SYSREG_ISS_MASK,
        .rt = (iss >> 5) & 0x1f,
        .read = iss & 1,
    };
    if (!a.read)
        a.val = a.rt == 31 ? 0 : v->ctx.x[a.rt];
    for (unsigned i = 0; i < ARRAY_SIZE(traps); i++) {
        const struct sysreg_trap *t = &traps[i];
        if ((a.enc & t->mask) != t->enc)
            continue;
        if (!t->handle(v, &a))
            break;
        if (a.read && a.rt != 31)
            v->ctx.x[a.rt] = a.val;
        vcpu_skip_insn(v, esr);
        return;
    }
    v->undefs++;
    inject_undef(v);
}
