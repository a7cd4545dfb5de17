// SPDX-License-Identifier: MIT
// The physical GICv3 at EL2: distributor (affinity routing, every SPI group 1
// non-secure, routed to the boot CPU until the vGIC routes one), one
// redistributor per CPU found by matching GICR_TYPER's affinity with the
// CPU's MPIDR, and the CPU interface through the ICC_* system registers
// (ICC_SRE_EL2.SRE, group 1, EOImode = 1, PMR open).
#include <stdio.h>
#include <tally/errno.h>
#include <tally/sysreg.h>

#include "gic.h"
#include "gic_hw.h"
#include "core/percpu.h"

#define GICD_CTLR       0x0000
#define GICD_TYPER      0x0004
#define GICD_IGROUPR    0x0080
#define GICD_ISENABLER  0x0100
#define GICD_ICENABLER  0x0180
#define GICD_ICPENDR    0x0280
#define GICD_ICACTIVER  0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR      0x0c00
#define GICD_IROUTER    0x6000
#define GICD_CTLR_RWP   (1u << 31)
#define GICD_CTLR_ARE   (1u << 4)
#define GICD_CTLR_G1A   (1u << 1)
#define GICD_CTLR_G0    (1u << 0)

#define GICR_STRIDE      0x20000
#define GICR_TYPER       0x0008
#define GICR_WAKER       0x0014
#define GICR_TYPER_LAST  (1u << 4)
#define GICR_TYPER_VLPIS (1u << 1)
#define GICR_WAKER_PS    (1u << 1)
#define GICR_WAKER_CA    (1u << 2)
#define GICR_SGI         0x10000

#define ICC_SRE_SRE      (1u << 0)
#define ICC_SRE_DFB      (1u << 1)
#define ICC_SRE_DIB      (1u << 2)
#define ICC_SRE_ENABLE   (1u << 3)
#define ICC_CTLR_EOIMODE (1u << 1)

static uint64_t gicd, gicr_base, gicr_size;
static unsigned nr_irqs;
static uint64_t gicr[TALLY_MAX_CPUS];

static void dist_wait_rwp(void)
{
    while (mmio_read32(gicd + GICD_CTLR) & GICD_CTLR_RWP)
        ;
}

static uint64_t mpidr_to_irouter(uint64_t mpidr)
{
    return (mpidr & 0xffffff) | ((mpidr >> 32 & 0xff) << 32);
}

static int v3_init(const struct dt_gic *g, char *msg, size_t len)
{
    if (g->nr_regs < 2) {
        snprintf(msg, len, "GICv3 node without GICD and GICR frames");
        return ERR_NOENT;
    }
    gicd = g->base[0];
    gicr_base = g->base[1];
    gicr_size = g->size[1];
    nr_irqs = ((mmio_read32(gicd + GICD_TYPER) & 0x1f) + 1) * 32;
    if (nr_irqs > 1020)
        nr_irqs = 1020;

    mmio_write32(gicd + GICD_CTLR, 0);
    dist_wait_rwp();
    uint64_t boot = mpidr_to_irouter(hyp_percpu[0].mpidr);
    for (unsigned i = 32; i < nr_irqs; i += 32) {
        mmio_write32(gicd + GICD_ICENABLER + i / 8, ~0u);
        mmio_write32(gicd + GICD_ICPENDR + i / 8, ~0u);
        mmio_write32(gicd + GICD_ICACTIVER + i / 8, ~0u);
        mmio_write32(gicd + GICD_IGROUPR + i / 8, ~0u);
    }
    for (unsigned i = 32; i < nr_irqs; i++) {
        mmio_write8(gicd + GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT);
        mmio_write64(gicd + GICD_IROUTER + 8 * i, boot);
    }
    dist_wait_rwp();
    mmio_write32(gicd + GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_G1A | GICD_CTLR_G0);
    dist_wait_rwp();
    return ERR_OK;
}

/* This CPU's redistributor: the frame whose GICR_TYPER affinity is ours. */
static uint64_t find_rdist(uint64_t mpidr)
{
    uint64_t aff = ((mpidr >> 32 & 0xff) << 24) | (mpidr & 0xffffff);
    for (uint64_t a = gicr_base; a < gicr_base + gicr_size;) {
        uint64_t typer = mmio_read64(a + GICR_TYPER);
        if ((typer >> 32) == aff)
            return a;
        if (typer & GICR_TYPER_LAST)
            break;
        a += (typer & GICR_TYPER_VLPIS) ? 2 * GICR_STRIDE : GICR_STRIDE;
    }
    return 0;
}

static void rdist_wait_rwp(uint64_t rd)
{
    while (mmio_read32(rd) & GICD_CTLR_RWP) /* GICR_CTLR.RWP, bit 31 too */
        ;
}

static void v3_cpu_init(void)
{
    struct percpu *pc = this_cpu();
    uint64_t rd = find_rdist(pc->mpidr);
    if (!rd) {
        printf("tally: CPU %u: no GICv3 redistributor for MPIDR 0x%lx\n", pc->id, pc->mpidr);
        return;
    }
    gicr[pc->id] = rd;
    mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~GICR_WAKER_PS);
    while (mmio_read32(rd + GICR_WAKER) & GICR_WAKER_CA)
        ;
    uint64_t sgi = rd + GICR_SGI;
    mmio_write32(sgi + GICD_ICENABLER, ~0u);
    rdist_wait_rwp(rd);
    mmio_write32(sgi + GICD_ICPENDR, ~0u);
    mmio_write32(sgi + GICD_ICACTIVER, ~0u);
    mmio_write32(sgi + GICD_IGROUPR, ~0u);
    for (unsigned i = 0; i < 32; i++)
        mmio_write8(sgi + GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT);
    mmio_write32(sgi + GICD_ISENABLER, (1u << GIC_SGI_KICK) | (1u << GIC_PPI_MAINT) |
                                           (1u << GIC_PPI_VTIMER) | (1u << GIC_PPI_PTIMER));

    write_sysreg(S3_4_C12_C9_5, ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB | ICC_SRE_ENABLE);
    isb();
    write_sysreg(S3_0_C4_C6_0, 0xff);               /* ICC_PMR_EL1 */
    write_sysreg(S3_0_C12_C12_3, 0);                /* ICC_BPR1_EL1 */
    write_sysreg(S3_0_C12_C12_4, ICC_CTLR_EOIMODE); /* ICC_CTLR_EL1 */
    write_sysreg(S3_0_C12_C12_7, 1);                /* ICC_IGRPEN1_EL1 */
    write_sysreg(S3_4_C12_C11_0, 0);                /* ICH_HCR_EL2: vGIC off until a guest */
    isb();
}

static uint32_t v3_ack(void)
{
    uint32_t iar = (uint32_t)read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
    __asm__ volatile("dsb sy" ::: "memory");
    return iar;
}

static void v3_eoi(uint32_t iar)
{
    write_sysreg(S3_0_C12_C12_1, iar); /* ICC_EOIR1_EL1 */
    isb();
}

static void v3_deactivate(uint32_t iar)
{
    write_sysreg(S3_0_C12_C11_1, iar); /* ICC_DIR_EL1 */
    isb();
}

static void v3_send_sgi(unsigned pcpu, uint32_t intid)
{
    uint64_t m = hyp_percpu[pcpu].mpidr;
    uint64_t v = ((m >> 32 & 0xff) << 48) | ((m >> 16 & 0xff) << 32) | ((m >> 8 & 0xff) << 16) |
                 ((uint64_t)(m & 0xf0) << 40) | ((uint64_t)intid << 24) | (1u << (m & 0xf));
    __asm__ volatile("dsb ishst" ::: "memory"); /* the work the kick announces first */
    write_sysreg(S3_0_C12_C11_5, v);            /* ICC_SGI1R_EL1 */
    isb();
}

/* The register frame of intid's enable/active bits: this CPU's SGI_base
 * for private interrupts, the distributor for SPIs. */
static uint64_t bank(uint32_t intid)
{
    return intid < 32 ? gicr[this_cpu()->id] + GICR_SGI : gicd;
}

static void v3_irq_enable(uint32_t intid, bool enable)
{
    uint64_t b = bank(intid);
    mmio_write32(b + (enable ? GICD_ISENABLER : GICD_ICENABLER) + intid / 32 * 4,
                 1u << (intid % 32));
}

static void v3_irq_clear_active(uint32_t intid)
{
    mmio_write32(bank(intid) + GICD_ICACTIVER + intid / 32 * 4, 1u << (intid % 32));
}

static void v3_irq_route(uint32_t intid, unsigned pcpu)
{
    if (intid >= 32 && intid < nr_irqs)
        mmio_write64(gicd + GICD_IROUTER + 8 * intid, mpidr_to_irouter(hyp_percpu[pcpu].mpidr));
}

static unsigned v3_nr_lrs(void)
{
    return (unsigned)(read_sysreg(S3_4_C12_C11_1) & 0x1f) + 1; /* ICH_VTR_EL2.ListRegs */
}

const struct gic_ops gic_v3_ops = {
    .init = v3_init,
    .cpu_init = v3_cpu_init,
    .ack = v3_ack,
    .eoi = v3_eoi,
    .deactivate = v3_deactivate,
    .send_sgi = v3_send_sgi,
    .irq_enable = v3_irq_enable,
    .irq_clear_active = v3_irq_clear_active,
    .irq_route = v3_irq_route,
    .nr_lrs = v3_nr_lrs,
};
