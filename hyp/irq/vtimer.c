// SPDX-License-Identifier: MIT
// The guest's timers: the EL1 virtual timer (CNTV_*, PPI 27) and the EL1
// physical timer (CNTP_*, PPI 30), both the hardware's own.
//
// A vCPU owns its pCPU for the VM's whole life (vcpu.h), so nothing else
// needs this pCPU's EL1 timers: the guest programs both directly, and the
// load/put of the EL1 context (vcpu.c) saves and restores their CTL/CVAL.
// Both counters read as the physical one: CNTVOFF_EL2 = 0 and, with
// FEAT_ECV, CNTHCTL_EL2.ECV = 1 with CNTPOFF_EL2 = 0, so the physical
// offset is explicit rather than assumed. With both offsets zero there is
// nothing to emulate: a trapped CNTP_* with a hypervisor-side deadline
// (what KVM does, because its host and its other vCPUs share the timer and
// need per-VM offsets) would give the guest the same answers later.
//
// A timer's PPI is taken at EL2 and handed to the running vCPU
// hardware-linked (vgic_vcpu_init links virtual 27 and 30 to the physical
// ones): the physical interrupt stays active, so it cannot fire again, until
// the guest deactivates the virtual one. The timer output is a level, so a
// guest that disables or masks a timer (or moves its deadline into the
// future) takes its interrupt back: vtimer_asserted() tells vgic_sync, which
// retracts a pending, not yet acknowledged, timer interrupt whose level has
// dropped and deactivates the physical one.
#include <tally/sysreg.h>

#include "gic.h"
#include "vm/vcpu.h"
#include "vgic.h"
#include "vm/vm.h"

#define CNTHCTL_EL1PCTEN (1u << 0)  /* EL1/EL0 read CNTPCT_EL0 */
#define CNTHCTL_EL1PCEN  (1u << 1)  /* EL1/EL0 reach the EL1 physical timer */
#define CNTHCTL_ECV      (1u << 12) /* FEAT_ECV: CNTPOFF_EL2 applies */
#define CNT_CTL_ENABLE   (1u << 0)
#define CNT_CTL_IMASK    (1u << 1)
#define CNT_CTL_ISTATUS  (1u << 2)

/* ID_AA64MMFR0_EL1.ECV [63:60]: 1 = FEAT_ECV (CNTPOFF_EL2 among it). */
static bool cpu_has_ecv(void)
{
    return (read_sysreg(id_aa64mmfr0_el1) >> 60) != 0;
}

void vtimer_vcpu_load(struct vcpu *v)
{
    (void)v;
    /* Keep the event stream bits (smp_cpu_event_stream_init()). */
    uint64_t cnthctl =
        (read_sysreg(cnthctl_el2) & ~(3ull | CNTHCTL_ECV)) | CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN;
    if (cpu_has_ecv()) {
        write_sysreg(S3_4_C14_C0_6, 0); /* CNTPOFF_EL2 */
        cnthctl |= CNTHCTL_ECV;
    }
    write_sysreg(cnthctl_el2, cnthctl);
    write_sysreg(cntvoff_el2, 0);
    isb();
}

void vtimer_vcpu_put(struct vcpu *v)
{
    (void)v;
    write_sysreg(cntv_ctl_el0, 0);
    write_sysreg(cntp_ctl_el0, 0);
    isb();
}

bool vtimer_asserted(uint32_t intid)
{
    uint64_t ctl = intid == GIC_PPI_PTIMER ? read_sysreg(cntp_ctl_el0) : read_sysreg(cntv_ctl_el0);
    return (ctl & (CNT_CTL_ENABLE | CNT_CTL_IMASK | CNT_CTL_ISTATUS)) ==
           (CNT_CTL_ENABLE | CNT_CTL_ISTATUS);
}

/* Timer PPI intid (27 virtual, 30 physical) fired on this pCPU. */
static enum gic_irq_result vtimer_irq(uint32_t intid)
{
    struct vcpu *v = vcpu_current();
    if (v && v->vm && v->vm->vgic) {
        vgic_inject(v->vm, v->id, intid);
        return GIC_IRQ_FORWARDED;
    }
    /* No vCPU here: whatever programmed the timer is gone. Mask it; the
     * driver deactivates it. */
    if (intid == GIC_PPI_PTIMER)
        write_sysreg(cntp_ctl_el0, CNT_CTL_IMASK);
    else
        write_sysreg(cntv_ctl_el0, CNT_CTL_IMASK);
    isb();
    return GIC_IRQ_DONE;
}

int vtimer_init(void)
{
    int err = gic_irq_set_handler(GIC_PPI_VTIMER, vtimer_irq);
    return err ? err : gic_irq_set_handler(GIC_PPI_PTIMER, vtimer_irq);
}
