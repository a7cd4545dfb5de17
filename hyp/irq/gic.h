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
 * The driver knows no consumer: whoever owns an interrupt registers a
 * handler for it (gic_irq_set_handler), and gic_handle_irq calls it.
 * Interrupts Tally uses:
 *   SGI  GIC_SGI_KICK (0)   kick: make a pCPU leave its guest so it loads
 *                           newly pending virtual interrupts (no handler:
 *                           leaving the guest was the point)
 *   PPI  GIC_PPI_MAINT (25) vGIC maintenance (list-register underflow), the vGIC's
 *   PPI  GIC_PPI_VTIMER (27) the EL1 virtual timer, the timer's
 *   PPI  GIC_PPI_PTIMER (30) the EL1 physical timer, the timer's
 *   SPI  the console UART's (gic_uart_intid()): Tally's console input (hyp/vm)
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
/* What a handler did with its interrupt (already priority-dropped). */
enum gic_irq_result {
    GIC_IRQ_DONE,      /* handled: the driver deactivates it */
    GIC_IRQ_FORWARDED, /* handed to a guest hardware-linked: the guest's
                        * deactivation of the virtual interrupt ends it */
    GIC_IRQ_UNWANTED,  /* nobody wants it now: disabled and deactivated */
};
typedef enum gic_irq_result (*gic_irq_handler)(uint32_t intid);
/* Make h the handler of intid. One handler per INTID: ERR_EXIST if another
 * owns it, ERR_NOMEM if the table is full; registering the same handler
 * again is ERR_OK. An interrupt with no handler is disabled when it fires
 * (an SGI is only deactivated). */
int gic_irq_set_handler(uint32_t intid, gic_irq_handler h);
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
