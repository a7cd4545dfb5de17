// SPDX-License-Identifier: MIT
// Exceptions Tally delivers to a guest's EL1: a synchronous external abort
// for a data or instruction access Tally refuses (unmapped IPA, Tally's own
// memory, a write to a read-only mapping, an MMIO access no device claims),
// and an undefined-instruction exception for instructions Tally does not
// emulate. Done as the CPU would: ESR_EL1/FAR_EL1/ELR_EL1/SPSR_EL1 written,
// PSTATE switched to EL1h with every exception masked, PC at the vector of
// VBAR_EL1 for where the exception came from. The vCPU's EL1 registers live
// in the CPU while it is loaded (vcpu.c), so they are written directly.
#include <tally/sysreg.h>

#include "vcpu.h"

#define PSTATE_M_MASK 0x1full
#define PSTATE_EL0t   0x0ull
#define PSTATE_EL1t   0x4ull
#define PSTATE_EL1h   0x5ull
#define PSTATE_nRW    (1ull << 4)
#define PSTATE_DAIF   (0xfull << 6)
#define PSTATE_PAN    (1ull << 22)
#define PSTATE_SSBS   (1ull << 12)
#define SCTLR_SPAN    (1ull << 23)
#define SCTLR_DSSBS   (1ull << 44)

#define ISS_SEA     0x10            /* synchronous external abort, not on a table walk */
#define ISS_PERM(l) (0x0cull | (l)) /* permission fault at level l */

static void inject(struct vcpu *v, uint64_t esr, uint64_t far, bool set_far)
{
    uint64_t ps = v->ctx.pstate, off;
    if (ps & PSTATE_nRW)
        off = 0x600; /* lower EL, AArch32 */
    else if ((ps & PSTATE_M_MASK) == PSTATE_EL0t)
        off = 0x400; /* lower EL, AArch64 */
    else if ((ps & PSTATE_M_MASK) == PSTATE_EL1t)
        off = 0x000; /* current EL, SP_EL0 */
    else
        off = 0x200; /* current EL, SP_EL1 */

    uint64_t sctlr = read_sysreg(sctlr_el1);
    write_sysreg(esr_el1, esr);
    if (set_far)
        write_sysreg(far_el1, far);
    write_sysreg(elr_el1, v->ctx.pc);
    write_sysreg(spsr_el1, ps);
    uint64_t n = PSTATE_EL1h | PSTATE_DAIF;
    if ((ps & PSTATE_PAN) || !(sctlr & SCTLR_SPAN))
        n |= PSTATE_PAN;
    if (sctlr & SCTLR_DSSBS)
        n |= PSTATE_SSBS;
    v->ctx.pstate = n;
    v->ctx.pc = read_sysreg(vbar_el1) + off;
}

static bool from_el0(const struct vcpu *v)
{
    return (v->ctx.pstate & PSTATE_nRW) || (v->ctx.pstate & PSTATE_M_MASK) == PSTATE_EL0t;
}

static void dabt(struct vcpu *v, uint64_t far, bool write, uint64_t fsc)
{
    uint64_t ec = from_el0(v) ? EC_DABT_LOW : EC_DABT_CUR;
    uint64_t esr = (ec << 26) | ESR_IL | fsc | (write ? ESR_WNR : 0);
    inject(v, esr, far, true);
}

void inject_dabt(struct vcpu *v, uint64_t far, bool write)
{
    dabt(v, far, write, ISS_SEA);
}

void inject_dabt_perm(struct vcpu *v, uint64_t far, bool write, unsigned level)
{
    dabt(v, far, write, ISS_PERM(level & 3));
}

void inject_iabt(struct vcpu *v, uint64_t far)
{
    uint64_t ec = from_el0(v) ? EC_IABT_LOW : EC_IABT_CUR;
    inject(v, (ec << 26) | ESR_IL | ISS_SEA, far, true);
}

void inject_undef(struct vcpu *v)
{
    inject(v, ((uint64_t)EC_UNKNOWN << 26) | ESR_IL, 0, false);
}
