/* SPDX-License-Identifier: MIT */
/*
 * The physical GIC as Tally drives it at EL2 (hyp/irq/gic.c, gic_v3.c, gic_v2.c).
 *
 * Tally owns the physical GIC: every interrupt is group 1 non-secure, taken
 * at EL2 (HCR_EL2.IMO routes IRQs there while a guest runs) and handled by
 * gic_handle_irq(). EOImode = 1 splits the end of an interrupt in two: the
 * EOI write only drops the running priority, a separate deactivation (DIR)
 * ends it. An interrupt handed to a guest with a hardware-linked list
 * register is only priority-dropped here; the guest's own deactivation of
 * the virtual interrupt deactivates the physical one.
 *
 * Interrupts Tally uses itself:
 *   SGI  GIC_SGI_KICK (0)   kick: make a pCPU leave its guest so it loads
 *                           newly pending virtual interrupts
 *   PPI  GIC_PPI_MAINT (25) vGIC maintenance (list-register underflow)
 *   PPI  GIC_PPI_VTIMER (27) the EL1 virtual timer, forwarded to the guest
 *   PPI  GIC_PPI_PTIMER (30) the EL1 physical timer, forwarded to the guest
 *   SPI  the console UART's, forwarded to VM 0 (gic_uart_intid())
 */
#ifndef TALLY_HYP_GIC_H
#define TALLY_HYP_GIC_H

#include <tally/types.h>

#define GIC_SGI_KICK       0
#define GIC_PPI_MAINT      25
#define GIC_PPI_VTIMER     27
#define GIC_PPI_PTIMER     30
#define GIC_INTID_SPURIOUS 1023

/* Read the GIC from the host device tree (/intc: "arm,gic-v3" or a GICv2
 * compatible), initialise the distributor and the boot CPU's interface, and
 * find the console UART's SPI. ERR_NOENT with a message in msg if there is
 * no usable GIC (then gic_version() is 0 and no guest can run). */
int gic_init(const void *fdt, char *msg, size_t len);
/* Per-CPU part: this CPU's redistributor (v3) or banked distributor
 * registers and CPU interface (v2); enables SGIs and PPIs Tally uses.
 * Called on every CPU after gic_init, the boot CPU included. */
void gic_cpu_init(void);
/* 3, 2, or 0 before gic_init succeeded. */
unsigned gic_version(void);
/* Send the kick SGI to physical CPU pcpu (Tally's CPU index). */
void gic_send_ipi(unsigned pcpu);
/* Take and handle every pending physical interrupt on this CPU (called with
 * interrupts masked, from the IRQ exit path of a guest or from an EL2 wait).
 * Returns after the GIC reports no more pending (spurious INTID). */
void gic_handle_irq(void);
/* The console UART's INTID from the host DT (33 on QEMU virt), 0 if none. */
uint32_t gic_uart_intid(void);

/* For the vGIC: enable/disable a physical interrupt, deactivate one (after a
 * guest holding it hardware-linked went away), set an SPI's target CPU. */
void gic_irq_enable(uint32_t intid, bool enable);
void gic_irq_deactivate(uint32_t intid);
void gic_irq_route(uint32_t intid, unsigned pcpu);
/* List registers of the CPU interface's virtualisation (ICH_VTR_EL2 /
 * GICH_VTR), 0 if the GIC has none. */
unsigned gic_nr_lrs(void);
/* GICv2 virtualisation frames from the host DT (GICH, GICV); 0 on GICv3. */
uint64_t gic_v2_gich_base(void);
uint64_t gic_v2_gicv_base(void);

#endif
