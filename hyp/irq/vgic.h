/* SPDX-License-Identifier: MIT */
/*
 * The vGIC of a VM (hyp/irq/vgic.c, vgic_v3.c, vgic_v2.c) and its virtual timer
 * (hyp/irq/vtimer.c): the interface between VM-core (hyp/vm/vm.c, vcpu.c, traps.c)
 * and the interrupt side.
 *
 * Guest view (QEMU virt's): GICv3 GICD at 0x08000000 (64 KiB) and one
 * 128 KiB redistributor per vCPU from 0x080a0000; GICv2 GICD at 0x08000000
 * and the GICV page(s) of the host's GIC mapped at GICC 0x08010000. vCPU i
 * has MPIDR Aff0 = i.
 *
 * Call order on a vCPU's own pCPU:
 *   vgic_vcpu_init(v)           once, before the vCPU first runs
 *   vtimer_vcpu_load(v)         before the first entry (timer, CNTHCTL)
 *   loop: vgic_flush(v); enter guest; exit; vgic_sync(v); handle exit
 *         (an IRQ exit calls gic_handle_irq(); a trapped ICC_SGI1R_EL1,
 *          EC 0x18, goes to vgic_handle_sysreg first)
 *   vgic_vcpu_put(v); vtimer_vcpu_put(v)   when the vCPU leaves for good
 * and vgic_vm_destroy(vm) once every vCPU has been put.
 */
#ifndef TALLY_HYP_VGIC_H
#define TALLY_HYP_VGIC_H

#include <tally/types.h>

#include "vgic_dist.h"

struct vm;
struct vcpu;

/* The VM's distributor (vm->vgic), its MMIO regions (vm_add_mmio) and the
 * GICV mapping for GICv2 (stage-2 device mapping at VM_GICC_IPA). Needs vm->nr_vcpus and the
 * stage-2 set up. ERR_NOMEM if no distributor is free or a mapping fails,
 * ERR_NOTSUP if the physical GIC has no virtualisation support. */
int vgic_vm_init(struct vm *vm);
/* Undo vgic_vm_init. */
void vgic_vm_destroy(struct vm *vm);
/* The vCPU's model (v->vgic) attached to the VM's distributor: call after
 * vgic_vm_init, for every vCPU. */
void vgic_vcpu_init(struct vcpu *v);
/* Make INTID intid pending for the VM (vcpu_id names the vCPU for an SGI or
 * PPI) and kick the vCPU it goes to. */
void vgic_inject(struct vm *vm, unsigned vcpu_id, uint32_t intid);
/* Before entering the guest: list registers, ICH_HCR_EL2/GICH_HCR,
 * ICH_VMCR_EL2/GICH_VMCR and the active-priority registers. */
void vgic_flush(struct vcpu *v);
/* After an exit: read the list registers back and free the finished ones. */
void vgic_sync(struct vcpu *v);
/* A trapped system-register access (EC 0x18): ICC_SGI1R_EL1, ICC_ASGI1R_EL1,
 * ICC_SGI0R_EL1 writes. True if handled (the caller skips the instruction). */
bool vgic_handle_sysreg(struct vcpu *v, uint64_t esr);
/* True if the vCPU has a virtual interrupt to take (WFI emulation). */
bool vgic_vcpu_pending(struct vcpu *v);
/* The vCPU leaves its pCPU for good: list registers cleared, every physical
 * interrupt it still held hardware-linked deactivated. On its own pCPU. */
void vgic_vcpu_put(struct vcpu *v);

/* After gic_init, before any VM: take the maintenance interrupt from the
 * physical GIC. */
int vgic_init(void);

/* hyp/irq/vtimer.c. load: CNTHCTL_EL2 (EL1 reads the physical counter and
 * owns the EL1 physical timer), CNTVOFF_EL2 = 0 and, with FEAT_ECV,
 * CNTPOFF_EL2 = 0. put: both EL1 timers disabled. */
void vtimer_vcpu_load(struct vcpu *v);
void vtimer_vcpu_put(struct vcpu *v);
/* After gic_init, before any VM: take both EL1 timers' PPIs. */
int vtimer_init(void);
/* The output level of this pCPU's EL1 timer behind PPI intid (27 or 30):
 * enabled, not masked, condition met. */
bool vtimer_asserted(uint32_t intid);

#endif
