/* SPDX-License-Identifier: MIT */
/*
 * The hardware halves of the vGIC: load a vCPU's list registers and
 * interface state into this CPU (vgic_v3.c: ICH_*_EL2 system registers;
 * vgic_v2.c: the GICH frame) and read them back. Only hyp/irq/vgic.c calls them.
 */
#ifndef TALLY_HYP_VGIC_HW_H
#define TALLY_HYP_VGIC_HW_H

#include "vgic_dist.h"

/* Load c: list registers (lr_used ones, the others zero), HCR = En (| UIE
 * if c->underflow), and on the first load since a put (!c->hw_live) VMCR and
 * active priorities too. */
void vgic_v3_load(struct vgic_cpu_state *c, unsigned nr_lrs);
/* Read back the used list registers (an exit: VMCR and active priorities
 * stay in the hardware). */
void vgic_v3_save(struct vgic_cpu_state *c, unsigned nr_lrs);
/* The vCPU leaves this CPU: read back the used list registers, VMCR and
 * active priorities; the next load writes everything. */
void vgic_v3_put(struct vgic_cpu_state *c, unsigned nr_lrs);
/* Interface off, every list register and active priority zero. */
void vgic_v3_reset(unsigned nr_lrs);
/* Interface off (ICH_HCR_EL2 = 0), list registers kept: the level
 * maintenance interrupt drops until the next load turns it on again. */
void vgic_v3_quiesce(void);

void vgic_v2_load(struct vgic_cpu_state *c, unsigned nr_lrs);
void vgic_v2_save(struct vgic_cpu_state *c, unsigned nr_lrs);
void vgic_v2_put(struct vgic_cpu_state *c, unsigned nr_lrs);
void vgic_v2_reset(unsigned nr_lrs);
void vgic_v2_quiesce(void);

#endif
