// SPDX-License-Identifier: MIT
// The guest's timers. The guest uses the EL1 virtual timer directly (its
// CNTV_* registers are the hardware's; VM-core saves and restores them with
// the EL1 context) with CNTVOFF_EL2 = 0, so virtual and physical counts
// agree; EL1 may read the physical counter, the EL1 physical timer traps.
// The virtual timer's PPI 27 is taken at EL2 and handed to the running
// vCPU hardware-linked (vgic_vcpu_init links virtual 27 to physical 27):
// the physical interrupt stays active, so it cannot fire again, until the
// guest deactivates the virtual one.
#include <tally/sysreg.h>

#include "gic.h"
#include "vm/vcpu.h"
#include "vgic.h"
#include "vm/vm.h"

#define CNTHCTL_EL1PCTEN (1u << 0) /* EL1/EL0 read CNTPCT_EL0 */
#define CNTV_CTL_IMASK   (1u << 1)

void vtimer_vcpu_load(struct vcpu *v)
{
    /* Keep the event stream bits (smp_cpu_event_stream_init()). */
    uint64_t cnthctl = (read_sysreg(cnthctl_el2) & ~3ull) | CNTHCTL_EL1PCTEN;
    write_sysreg(cnthctl_el2, cnthctl);
    write_sysreg(cntvoff_el2, 0);
    isb();
}

void vtimer_vcpu_put(struct vcpu *v)
{
    write_sysreg(cntv_ctl_el0, 0);
    isb();
}

static enum gic_irq_result vtimer_irq(uint32_t intid)
{
    struct vcpu *v = vcpu_current();
    if (v && v->vm && v->vm->vgic) {
        vgic_inject(v->vm, v->id, GIC_PPI_VTIMER);
        return GIC_IRQ_FORWARDED;
    }
    /* No vCPU here: whatever programmed the timer is gone. Mask it; the
     * driver deactivates it. */
    write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
    isb();
    return GIC_IRQ_DONE;
}

int vtimer_init(void)
{
    return gic_irq_set_handler(GIC_PPI_VTIMER, vtimer_irq);
}
