// SPDX-License-Identifier: MIT
// The physical GIC, version-independent part: which GIC the host device
// tree describes, the console UART's SPI, and the interrupt dispatch at EL2
// (gic.h). The register work is in gic_v3.c and gic_v2.c.
//
// Dispatch (gic_handle_irq), every interrupt acknowledged, then:
//   kick SGI        EOI + deactivate: leaving the guest was the point, the
//                   next vgic_flush loads what the sender made pending
//   maintenance     virtual CPU interface off (the level maintenance
//                   interrupt drops; vgic_flush rewrites the list registers
//                   and turns it on), EOI + deactivate
//   EL1 timers      EOI only: forwarded hardware-linked to the running vCPU
//   UART SPI        EOI only: forwarded hardware-linked to VM 0
//   anything else   disabled, EOI + deactivate, counted
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>

#include "core/dt.h"
#include "gic.h"
#include "gic_hw.h"
#include "core/hyp.h"
#include "vgic.h"

static const struct gic_ops *ops;
static unsigned version;
static uint32_t uart_intid;
static uint64_t unexpected_irqs;

unsigned gic_version(void)
{
    return version;
}

uint32_t gic_uart_intid(void)
{
    return uart_intid;
}

uint64_t gic_v2_gich_base(void)
{
    return version == 2 ? gic_v2_gich : 0;
}

uint64_t gic_v2_gicv_base(void)
{
    return version == 2 ? gic_v2_gicv : 0;
}

/* The console PL011's interrupt: <type number flags>, type 0 = SPI. */
static uint32_t find_uart_intid(const void *fdt)
{
    int node = -1;
    while ((node = fdt_node_offset_by_compatible(fdt, node, "arm,pl011")) >= 0) {
        uint64_t base, size;
        int len;
        if (!dt_reg(fdt, node, 0, &base, &size) || base != console_base())
            continue;
        const fdt32_t *irq = fdt_getprop(fdt, node, "interrupts", &len);
        if (!irq || len < 12 || fdt32_to_cpu(irq[0]) != 0)
            return 0;
        return fdt32_to_cpu(irq[1]) + 32;
    }
    return 0;
}

int gic_init(const void *fdt, char *msg, size_t len)
{
    struct dt_gic g;
    dt_gic(fdt, &g);
    const struct gic_ops *o = g.version == 3 ? &gic_v3_ops : g.version == 2 ? &gic_v2_ops : NULL;
    if (!o) {
        snprintf(msg, len, "no GICv2 or GICv3 in the device tree");
        return ERR_NOENT;
    }
    int err = o->init(&g, msg, len);
    if (err != ERR_OK)
        return err;
    ops = o;
    version = g.version;
    uart_intid = find_uart_intid(fdt);
    return ERR_OK;
}

void gic_cpu_init(void)
{
    if (ops)
        ops->cpu_init();
}

void gic_send_ipi(unsigned pcpu)
{
    if (ops)
        ops->send_sgi(pcpu, GIC_SGI_KICK);
}

void gic_irq_enable(uint32_t intid, bool enable)
{
    if (ops)
        ops->irq_enable(intid, enable);
}

void gic_irq_deactivate(uint32_t intid)
{
    if (ops)
        ops->irq_clear_active(intid);
}

void gic_irq_route(uint32_t intid, unsigned pcpu)
{
    if (ops)
        ops->irq_route(intid, pcpu);
}

unsigned gic_nr_lrs(void)
{
    return ops ? ops->nr_lrs() : 0;
}

void gic_handle_irq(void)
{
    if (!ops)
        return;
    for (;;) {
        uint32_t iar = ops->ack();
        uint32_t intid = iar & (version == 3 ? 0xffffff : 0x3ff);
        if (intid >= 1020 && intid <= 1023)
            return;
        ops->eoi(iar);
        if (intid == GIC_PPI_VTIMER || intid == GIC_PPI_PTIMER) {
            vtimer_handle_irq(intid);
            continue;
        }
        if (intid == uart_intid && uart_intid && vgic_forward_spi(intid))
            continue;
        if (intid == GIC_PPI_MAINT)
            ops->maint_quiesce();
        else if (intid == uart_intid && uart_intid)
            ops->irq_enable(intid, false); /* no VM wants it: silence it */
        else if (intid >= 16) {
            unexpected_irqs++; /* nobody handles it: silence it too */
            ops->irq_enable(intid, false);
        }
        ops->deactivate(iar);
    }
}
