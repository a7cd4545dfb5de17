// SPDX-License-Identifier: MIT
// vCPUs: the run loop each pCPU executes for its vCPU, the load/put of the
// EL1 context, and the EL2 controls a guest runs under.
//
// With one vCPU per pCPU for the VM's whole life, the EL1 system registers,
// FP/SIMD and SVE registers and the virtual timer stay in the CPU while the
// vCPU is loaded: vcpu_load() writes them from struct vcpu (a reset vCPU: the
// architectural start state), vcpu_put() reads them back when the VM stops.
// Every exit saves only what guest_entry.S saves (general registers, SP_EL0,
// PC, PSTATE, syndrome), so an exit costs a few dozen instructions more than
// the trap itself.
//
// EL2 controls (HCR_EL2, see vcpu.h for the bits): stage-2 on (VM), physical
// IRQ/FIQ/SError to EL2 (IMO/FMO/AMO: Tally owns the GIC and injects virtual
// interrupts), SMC trapped (TSC: a guest's SMC is a PSCI call, never the
// firmware's), set/way maintenance upgraded (SWIO), EL1 in AArch64 (RW), pointer
// authentication not trapped (APK/API, when the CPU has it). TLB maintenance
// is not forced to broadcast (FB = 0): a vCPU never moves to another pCPU,
// so what the guest invalidates locally was only ever cached locally. WFI
// traps (TWI): traps.c idles the pCPU in EL2 with its own WFI unless the vCPU
// has a virtual interrupt pending, so the wake-up is always a physical
// interrupt Tally takes (with a native guest WFI, a single-vCPU Linux on
// GICv2 under QEMU sometimes slept through its timer). WFE is not trapped
// (TWE = 0): it is a hint, and a pCPU belongs to its vCPU. ID registers
// (TID3), IMPLEMENTATION DEFINED registers (TIDCP) and RAS error records
// (TERR/TEA) trap too; cpufeature.c has those bits and the other EL2
// controls (MDCR_EL2, CPTR_EL2, HCRX_EL2, the fine-grained traps).
#include <stdio.h>
#include <string.h>
#include <tally/arch.h>
#include <tally/sysreg.h>

#include "irq/gic.h"
#include "cpufeature.h"
#include "cpureset.h"
#include "core/hyp.h"
#include "core/percpu.h"
#include "vcpu.h"
#include "irq/vgic.h"
#include "vm.h"

_Static_assert(offsetof(struct vcpu_ctx, sp_el0) == VCPU_CTX_SP_EL0, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, pc) == VCPU_CTX_PC, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, pstate) == VCPU_CTX_PSTATE, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, esr) == VCPU_CTX_ESR, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, far) == VCPU_CTX_FAR, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, hpfar) == VCPU_CTX_HPFAR, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, host_sp) == VCPU_CTX_HOST_SP, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu_ctx, mitigate) == VCPU_CTX_MITIGATE, "guest_entry.S offset");
_Static_assert(offsetof(struct vcpu, ctx) == 0, "guest_entry.S takes the vcpu as its ctx");
_Static_assert(offsetof(struct vcpu_fp, fpsr) == 16 * 32, "guest_entry.S offset");

/* Written only by the pCPU itself (index = arch_cpu_id()). */
static struct vcpu *running[TALLY_MAX_CPUS];

/* SCTLR_EL1 reset value: RES1 bits of Armv8.0 (11, 20, 22, 23, 28, 29),
 * MMU, caches and alignment checks off. */
#define SCTLR_EL1_RESET 0x30d00800ull
/* PSTATE for entry: EL1h, D, A, I, F masked. */
#define PSTATE_EL1H_MASKED 0x3c5ull

struct vcpu *vcpu_current(void)
{
    return running[arch_cpu_id()];
}

void vcpu_reset(struct vcpu *v, uint64_t entry, uint64_t x0)
{
    uint64_t mitigate = v->ctx.mitigate; /* this pCPU's, set by vcpu_load */
    memset(&v->ctx, 0, sizeof(v->ctx));
    v->ctx.mitigate = mitigate;
    memset(&v->sys, 0, sizeof(v->sys));
    memset(&v->fp, 0, sizeof(v->fp));
    v->ctx.x[0] = x0;
    v->ctx.pc = entry;
    v->ctx.pstate = PSTATE_EL1H_MASKED;
    v->sys.sctlr = SCTLR_EL1_RESET;
}

bool cpu_has_s2fwb(void)
{
    return ((read_sysreg(id_aa64mmfr2_el1) >> 40) & 0xf) != 0;
}

static void sysregs_load(const struct vcpu_sysregs *s)
{
    write_sysreg(sctlr_el1, s->sctlr);
    write_sysreg(actlr_el1, s->actlr);
    write_sysreg(cpacr_el1, s->cpacr);
    write_sysreg(ttbr0_el1, s->ttbr0);
    write_sysreg(ttbr1_el1, s->ttbr1);
    write_sysreg(tcr_el1, s->tcr);
    write_sysreg(esr_el1, s->esr);
    write_sysreg(afsr0_el1, s->afsr0);
    write_sysreg(afsr1_el1, s->afsr1);
    write_sysreg(far_el1, s->far);
    write_sysreg(mair_el1, s->mair);
    write_sysreg(amair_el1, s->amair);
    write_sysreg(vbar_el1, s->vbar);
    write_sysreg(contextidr_el1, s->contextidr);
    write_sysreg(tpidr_el1, s->tpidr_el1);
    write_sysreg(tpidr_el0, s->tpidr_el0);
    write_sysreg(tpidrro_el0, s->tpidrro_el0);
    write_sysreg(sp_el1, s->sp_el1);
    write_sysreg(elr_el1, s->elr);
    write_sysreg(spsr_el1, s->spsr);
    write_sysreg(par_el1, s->par);
    write_sysreg(csselr_el1, s->csselr);
    write_sysreg(cntkctl_el1, s->cntkctl);
    write_sysreg(mdscr_el1, s->mdscr);
    write_sysreg(cntv_cval_el0, s->cntv_cval);
    write_sysreg(cntv_ctl_el0, s->cntv_ctl);
    write_sysreg(cntp_cval_el0, s->cntp_cval);
    write_sysreg(cntp_ctl_el0, s->cntp_ctl);
    isb();
}

static void sysregs_save(struct vcpu_sysregs *s)
{
    s->sctlr = read_sysreg(sctlr_el1);
    s->actlr = read_sysreg(actlr_el1);
    s->cpacr = read_sysreg(cpacr_el1);
    s->ttbr0 = read_sysreg(ttbr0_el1);
    s->ttbr1 = read_sysreg(ttbr1_el1);
    s->tcr = read_sysreg(tcr_el1);
    s->esr = read_sysreg(esr_el1);
    s->afsr0 = read_sysreg(afsr0_el1);
    s->afsr1 = read_sysreg(afsr1_el1);
    s->far = read_sysreg(far_el1);
    s->mair = read_sysreg(mair_el1);
    s->amair = read_sysreg(amair_el1);
    s->vbar = read_sysreg(vbar_el1);
    s->contextidr = read_sysreg(contextidr_el1);
    s->tpidr_el1 = read_sysreg(tpidr_el1);
    s->tpidr_el0 = read_sysreg(tpidr_el0);
    s->tpidrro_el0 = read_sysreg(tpidrro_el0);
    s->sp_el1 = read_sysreg(sp_el1);
    s->elr = read_sysreg(elr_el1);
    s->spsr = read_sysreg(spsr_el1);
    s->par = read_sysreg(par_el1);
    s->csselr = read_sysreg(csselr_el1);
    s->cntkctl = read_sysreg(cntkctl_el1);
    s->mdscr = read_sysreg(mdscr_el1);
    s->cntv_ctl = read_sysreg(cntv_ctl_el0);
    s->cntv_cval = read_sysreg(cntv_cval_el0);
    s->cntp_ctl = read_sysreg(cntp_ctl_el0);
    s->cntp_cval = read_sysreg(cntp_cval_el0);
    /* The timers must not fire into the next owner of this pCPU's EL1. */
    write_sysreg(cntv_ctl_el0, 0);
    write_sysreg(cntp_ctl_el0, 0);
    isb();
}

/* The vCPU's full context into the CPU, and the EL2 controls for its VM. */
static void vcpu_load(struct vcpu *v)
{
    struct vm *vm = v->vm;
    write_sysreg(cptr_el2, cpufeature_cptr());
    isb();
    sysregs_load(&v->sys);
    if (cpufeature_guest_sve())
        sve_reset();
    fp_load(&v->fp);
    cpureset_el1();
    uint64_t midr = read_sysreg(midr_el1);
    write_sysreg(vpidr_el2, midr);
    write_sysreg(vmpidr_el2, v->mpidr);
    write_sysreg(vtcr_el2, vm->vtcr);
    write_sysreg(vttbr_el2, aspace_vttbr(&vm->s2));
    write_sysreg(hcr_el2, cpufeature_hcr());
    write_sysreg(mdcr_el2, cpufeature_mdcr());
    cpufeature_guest_traps_load();
    isb();
    /* Nothing this CPU cached for the VMID may survive from an earlier VM
     * with the same VMID (a reset rebuilds VM 0 with VMID 1). */
    __asm__ volatile("tlbi vmalls12e1\n\tdsb nsh\n\tic iallu\n\tdsb nsh" ::: "memory");
    isb();
    vtimer_vcpu_load(v);
    v->ctx.mitigate = spectre_exit_mitigation();
    running[arch_cpu_id()] = v;
}

static void vcpu_put(struct vcpu *v)
{
    vgic_vcpu_put(v);
    sysregs_save(&v->sys);
    vtimer_vcpu_put(v);
    fp_save(&v->fp);
    running[arch_cpu_id()] = NULL;
    write_sysreg(hcr_el2, HCR_RW);
    write_sysreg(vttbr_el2, 0);
    isb();
}

void vcpu_wait_for_interrupt(struct vcpu *v)
{
    if (vgic_vcpu_pending(v))
        return;
    /* QEMU's GICv2 does not re-evaluate the physical CPU interface when a
     * guest's EOI deactivates a hardware-linked interrupt: a level PPI
     * still asserted (a timer) then stays pending but unsignalled and this
     * WFI never ends. Any distributor write makes QEMU look again; enabling
     * the already enabled timer PPIs changes nothing on real GICs. */
    if (gic_version() == 2) {
        gic_irq_enable(GIC_PPI_VTIMER, true);
        gic_irq_enable(GIC_PPI_PTIMER, true);
    }
    __asm__ volatile("wfi" ::: "memory");
    gic_handle_irq();
}

void vcpu_warm_boot(struct vcpu *v, uint64_t entry, uint64_t context)
{
    vcpu_reset(v, entry, context);
    sysregs_load(&v->sys);
    if (cpufeature_guest_sve())
        sve_reset();
    fp_load(&v->fp);
    cpureset_el1();
}

static unsigned power_of(struct vcpu *v)
{
    /* Acquire: pairs with the release store of ON_PENDING in vpsci.c's
     * CPU_ON, so on_entry/on_context are seen. */
    return atomic_load_u32(&v->power, MO_ACQUIRE);
}

static unsigned stop_of(struct vm *vm)
{
    /* Acquire: pairs with the CAS in vm_request_stop(). */
    return atomic_load_u32(&vm->stop, MO_ACQUIRE);
}

unsigned vcpu_run(struct vcpu *v)
{
    struct vm *vm = v->vm;
    vcpu_load(v);
    for (;;) {
        unsigned stop = stop_of(vm);
        if (stop != VM_RUNNING)
            break;
        unsigned p = power_of(v);
        if (p == VCPU_OFF) {
            /* Sleep until CPU_ON or the end of the VM; both kick this pCPU
             * with an IPI, which ends WFI even with IRQs masked at EL2 and
             * is then taken here. (WFE would do on hardware, but emulators
             * run a WFE loop as a busy loop.) */
            __asm__ volatile("wfi" ::: "memory");
            gic_handle_irq();
            continue;
        }
        if (p == VCPU_ON_PENDING) {
            vcpu_warm_boot(v, v->on_entry, v->on_context);
            /* Release: the reset is done before AFFINITY_INFO says ON. */
            atomic_store_u32(&v->power, VCPU_ON, MO_RELEASE);
        }
        vgic_flush(v);
        if (v->id == 0)
            vm_note_first_entry(v->vm);
        unsigned exit = guest_enter(&v->ctx);
        vgic_sync(v);
        v->exits++;
        traps_handle_exit(v, exit);
    }
    vcpu_put(v);
    return stop_of(vm);
}
