// SPDX-License-Identifier: MIT
// Exits from the guest, dispatched by kind and, for synchronous ones, by
// the ESR's exception class. Whatever the guest does, the answer is an
// emulated result, an exception injected into the guest, or the VM being
// stopped; never a fault in Tally.
//
//   IRQ, FIQ          gic_handle_irq(): kicks, the EL1 timers, the UART
//   SError            the VM is stopped (VM_STOP_FATAL) with a report
//   HVC64, SMC64      PSCI (vpsci.c), SMCCC 1.1 and the Spectre workarounds
//                     (spectre.c), else Tally's hypercalls (hypercall.c),
//                     which answer NOT_SUPPORTED to anything unknown
//   data abort        MMIO emulation (mmio.c); a stage-2 permission fault (a
//                     write to a page shared read-only, an access to a page
//                     lent out) becomes a permission-fault data abort; else
//                     a synchronous external abort injected: unmapped IPA,
//                     Tally's memory (never mapped)
//   instruction abort an injected instruction abort
//   MSR/MRS           sysreg.c's table (ID registers, the vGIC's), else undef
//   WFI               trapped (TWI): the pCPU idles in EL2 until an interrupt
//   WFE/WFIT/WFET     skipped (an early wake-up is allowed)
//   anything else     an undefined-instruction exception injected
#include <stdio.h>
#include <tally/sysreg.h>

#include "console/console.h"
#include "irq/gic.h"
#include "sysreg.h"
#include "vcpu.h"
#include "irq/vgic.h"
#include "vm.h"

#define ISS_S1PTW     (1ull << 7)
#define ISS_CM        (1ull << 8) /* a cache maintenance instruction faulted */
#define ISS_DFSC(esr) ((unsigned)(esr)&0x3f)

/* Data fault status codes (Arm ARM, ESR_ELx.ISS.DFSC). */
static bool dfsc_translation_or_access(unsigned fsc)
{
    return (fsc >= 0x04 && fsc <= 0x0b) || fsc == 0x2b; /* level 0-3 (and -1, FEAT_LPA2) */
}

static bool dfsc_external(unsigned fsc)
{
    /* Synchronous external abort, on a walk (levels -1..3), parity/ECC. */
    return fsc == 0x10 || fsc == 0x13 || (fsc >= 0x14 && fsc <= 0x17) || fsc == 0x18 ||
           fsc == 0x1b || (fsc >= 0x1c && fsc <= 0x1f);
}

/* HPFAR_EL2.FIPA [43:4] holds IPA[51:12]; the page offset comes from FAR. */
static uint64_t fault_ipa(const struct vcpu *v)
{
    return ((v->ctx.hpfar & 0xffffffffff0ull) << 8) | (v->ctx.far & 0xfff);
}

/*
 * A data abort from the guest, by its fault status (DFSC) first: HPFAR_EL2
 * holds the faulting IPA only for stage-2 translation and access-flag
 * faults (and faults on a stage-1 walk); for anything else it is UNKNOWN.
 *   translation/access flag  MMIO emulation (never for a fault on the
 *                            guest's own stage-1 walk); a cache maintenance
 *                            instruction on an MMIO or unbacked address is
 *                            skipped, as KVM does (there is nothing to
 *                            clean); else a synchronous external abort
 *   external abort, parity   the guest takes a virtual SError (HCR_EL2.VSE),
 *                            as KVM does for an abort the hardware reported:
 *                            the access cannot be completed or emulated
 *   permission               (a write to a page shared read-only with this
 *                            VM, any access to a page it lent out) a
 *                            permission fault at the same level
 *   anything else            a synchronous external abort, HPFAR unread
 */
static void data_abort(struct vcpu *v, uint64_t esr)
{
    unsigned fsc = ISS_DFSC(esr);
    if (dfsc_external(fsc)) {
        v->exits_abort++;
        /* The PE clears VSE when the guest takes the SError. */
        uint64_t hcr = read_sysreg(hcr_el2);
        write_sysreg(hcr_el2, hcr | HCR_VSE);
        return;
    }
    /* First touch of the VM's RAM (a translation fault, also on the guest's
     * stage-1 walk or a cache maintenance instruction): zeroed, mapped,
     * the access retried. */
    if (fsc >= 0x04 && fsc <= 0x07 && vm_fault_in(v->vm, fault_ipa(v))) {
        v->exits_touch++;
        return;
    }
    if (dfsc_translation_or_access(fsc) && !(esr & ISS_S1PTW)) {
        if (esr & ISS_CM) {
            vcpu_skip_insn(v, esr);
            return;
        }
        if (mmio_handle_abort(v, esr, fault_ipa(v))) {
            v->exits_mmio++;
            return;
        }
    }
    v->exits_abort++;
    if (!(esr & ISS_S1PTW) && (ESR_DFSC(esr) & 0x3c) == 0x0c) {
        inject_dabt_perm(v, v->ctx.far, esr & ESR_WNR, ESR_DFSC(esr) & 3);
        return;
    }
    inject_dabt(v, v->ctx.far, (esr & ESR_WNR) && !(esr & ISS_S1PTW) && !(esr & ISS_CM));
}

static void smccc_call(struct vcpu *v)
{
    uint32_t fid = (uint32_t)v->ctx.x[0];
    v->exits_hvc++;
    if (!vpsci_handle(v, fid) && !spectre_smccc_handle(v, fid))
        hypercall_handle(v, fid);
}

/* tally.inject-serror=N: set once at boot, before any VM runs. The flag is
 * then read and cleared only by VM N's vCPU 0, on its one pCPU. */
static bool serror_armed;
static unsigned serror_vm;

void traps_inject_serror(unsigned vm_id)
{
    serror_vm = vm_id;
    serror_armed = true;
}

/* QEMU's TCG raises no asynchronous SError a guest could cause, so the
 * test turns one real exit into the SError exit the hardware would give;
 * everything after it is the path a real one takes. */
static unsigned injected(struct vcpu *v, unsigned exit)
{
    if (likely(!serror_armed) || v->vm->id != serror_vm || v->id != 0 || exit != EXIT_SYNC ||
        ESR_EC(v->ctx.esr) != EC_HVC64)
        return exit;
    serror_armed = false;
    v->ctx.esr = (uint64_t)EC_SERROR << 26;
    return EXIT_SERROR;
}

void traps_handle_exit(struct vcpu *v, unsigned exit)
{
    exit = injected(v, exit);
    if (exit == EXIT_IRQ || exit == EXIT_FIQ) {
        v->exits_irq++;
        gic_handle_irq();
        return;
    }
    uint64_t esr = v->ctx.esr;
    if (exit == EXIT_SERROR) {
        if (vm_request_stop(v->vm, VM_STOP_FATAL))
            printf("tally: VM %u vCPU %u: SError (ESR 0x%lx) at PC 0x%lx: VM stopped\n", v->vm->id,
                   v->id, esr, v->ctx.pc);
        return;
    }
    switch (ESR_EC(esr)) {
    case EC_HVC64:
        /* ELR is already past the HVC. */
        smccc_call(v);
        break;
    case EC_SMC64:
        /* A trapped SMC leaves ELR at the SMC itself. */
        vcpu_skip_insn(v, esr);
        smccc_call(v);
        break;
    case EC_DABT_LOW:
        data_abort(v, esr);
        break;
    case EC_IABT_LOW:
        /* An instruction fetch from untouched RAM: first touch. */
        if (ISS_DFSC(esr) >= 0x04 && ISS_DFSC(esr) <= 0x07 && vm_fault_in(v->vm, fault_ipa(v))) {
            v->exits_touch++;
            break;
        }
        v->exits_abort++;
        inject_iabt(v, v->ctx.far);
        break;
    case EC_SYS64:
        sysreg_handle_trap(v, esr);
        break;
    case EC_WFX:
        vcpu_skip_insn(v, esr);
        /* WFI (ISS.TI = 0): idle this pCPU in EL2 until a physical
         * interrupt (the vtimer, a kick, the UART) unless the vCPU already
         * has a virtual interrupt to take. WFE, WFIT, WFET (TI = 1, 2, 3):
         * go straight back; an early wake-up is architecturally allowed,
         * and sleeping here would ignore WFIT's deadline. */
        if ((esr & 3) == 0)
            console_vm_idle(v->vm->id); /* its prompt or echo, now */
        if ((esr & 3) == 0)
            vcpu_wait_for_interrupt(v);
        break;
    default:
        inject_undef(v);
        break;
    }
}
