// SPDX-License-Identifier: MIT
// The physical GICv2 (GIC-400, QEMU's cortex-a15-gic) at EL2: distributor
// and CPU interface by MMIO (GICC_CTLR.EOImode = 1), SGIs with GICD_SGIR.
// Every interrupt stays group 0, which a GIC without the security
// extensions (QEMU virt, the Pi 4 as Linux sees it) signals as IRQ. The
// device tree also gives the virtualisation frames GICH and GICV.
#include <stdio.h>
#include <tally/errno.h>
#include <tally/sysreg.h>

#include "gic.h"
#include "gic_hw.h"
#include "core/percpu.h"

#define GICD_CTLR       0x000
#define GICD_TYPER      0x004
#define GICD_ISENABLER  0x100
#define GICD_ICENABLER  0x180
#define GICD_ICPENDR    0x280
#define GICD_ICACTIVER  0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800
#define GICD_SGIR       0xf00

#define GICC_CTLR         0x0000
#define GICC_PMR          0x0004
#define GICC_BPR          0x0008
#define GICC_IAR          0x000c
#define GICC_EOIR         0x0010
#define GICC_DIR          0x1000
#define GICC_CTLR_EN      0x3
#define GICC_CTLR_EOIMODE (1u << 9)

#define GICH_HCR 0x000
#define GICH_VTR 0x004

uint64_t gic_v2_gich, gic_v2_gicv;
static uint64_t gicd, gicc;
static unsigned nr_irqs;
static uint8_t cpu_mask[TALLY_MAX_CPUS]; /* each CPU's bit in ITARGETSR / SGIR */

static int v2_init(const struct dt_gic *g, char *msg, size_t len)
{
    if (g->nr_regs < 2) {
        snprintf(msg, len, "GICv2 node without GICD and GICC frames");
        return ERR_NOENT;
    }
    gicd = g->base[0];
    gicc = g->base[1];
    if (g->nr_regs >= 4) {
        gic_v2_gich = g->base[2];
        gic_v2_gicv = g->base[3];
    }
    nr_irqs = ((mmio_read32(gicd + GICD_TYPER) & 0x1f) + 1) * 32;
    if (nr_irqs > 1020)
        nr_irqs = 1020;
    mmio_write32(gicd + GICD_CTLR, 0);
    uint8_t boot = (uint8_t)mmio_read32(gicd + GICD_ITARGETSR); /* banked: our own bit */
    for (unsigned i = 32; i < nr_irqs; i += 32) {
        mmio_write32(gicd + GICD_ICENABLER + i / 8, ~0u);
        mmio_write32(gicd + GICD_ICPENDR + i / 8, ~0u);
        mmio_write32(gicd + GICD_ICACTIVER + i / 8, ~0u);
    }
    for (unsigned i = 32; i < nr_irqs; i++) {
        mmio_write8(gicd + GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT);
        mmio_write8(gicd + GICD_ITARGETSR + i, boot);
    }
    mmio_write32(gicd + GICD_CTLR, 3);
    return ERR_OK;
}

static void v2_cpu_init(void)
{
    struct percpu *pc = this_cpu();
    cpu_mask[pc->id] = (uint8_t)mmio_read32(gicd + GICD_ITARGETSR);
    mmio_write32(gicd + GICD_ICENABLER, ~0u);
    mmio_write32(gicd + GICD_ICPENDR, ~0u);
    mmio_write32(gicd + GICD_ICACTIVER, ~0u);
    for (unsigned i = 0; i < 32; i++)
        mmio_write8(gicd + GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT);
    mmio_write32(gicd + GICD_ISENABLER, (1u << GIC_SGI_KICK) | (1u << GIC_PPI_MAINT) |
                                            (1u << GIC_PPI_VTIMER) | (1u << GIC_PPI_PTIMER));
    mmio_write32(gicc + GICC_PMR, 0xff);
    mmio_write32(gicc + GICC_BPR, 0);
    mmio_write32(gicc + GICC_CTLR, GICC_CTLR_EN | GICC_CTLR_EOIMODE);
    if (gic_v2_gich)
        mmio_write32(gic_v2_gich + GICH_HCR, 0);
}

static uint32_t v2_ack(void)
{
    return mmio_read32(gicc + GICC_IAR);
}

static void v2_eoi(uint32_t iar)
{
    mmio_write32(gicc + GICC_EOIR, iar);
}

static void v2_deactivate(uint32_t iar)
{
    mmio_write32(gicc + GICC_DIR, iar);
}

static void v2_send_sgi(unsigned pcpu, uint32_t intid)
{
    __asm__ volatile("dsb ishst" ::: "memory"); /* the work the kick announces first */
    mmio_write32(gicd + GICD_SGIR, ((uint32_t)cpu_mask[pcpu] << 16) | intid);
}

static void v2_irq_enable(uint32_t intid, bool enable)
{
    mmio_write32(gicd + (enable ? GICD_ISENABLER : GICD_ICENABLER) + intid / 32 * 4,
                 1u << (intid % 32));
}

static void v2_irq_clear_active(uint32_t intid)
{
    mmio_write32(gicd + GICD_ICACTIVER + intid / 32 * 4, 1u << (intid % 32));
}

static void v2_irq_route(uint32_t intid, unsigned pcpu)
{
    if (intid >= 32 && intid < nr_irqs)
        mmio_write8(gicd + GICD_ITARGETSR + intid, cpu_mask[pcpu]);
}

static unsigned v2_nr_lrs(void)
{
    return gic_v2_gich ? (mmio_read32(gic_v2_gich + GICH_VTR) & 0x3f) + 1 : 0;
}

const struct gic_ops gic_v2_ops = {
    .init = v2_init,
    .cpu_init = v2_cpu_init,
    .ack = v2_ack,
    .eoi = v2_eoi,
    .deactivate = v2_deactivate,
    .send_sgi = v2_send_sgi,
    .irq_enable = v2_irq_enable,
    .irq_clear_active = v2_irq_clear_active,
    .irq_route = v2_irq_route,
    .nr_lrs = v2_nr_lrs,
};
