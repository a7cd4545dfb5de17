// SPDX-License-Identifier: MIT
// Test guest GIC driver: just what the checks need (SGIs and PPIs on each
// CPU), for GICv3 (system-register CPU interface, ICC_SGI1R_EL1) and GICv2
// (memory-mapped CPU interface, GICD_SGIR). Found from the device tree; set
// up the way Linux sets it up, so a hypervisor's vGIC sees familiar accesses.

#include "testguest.h"

/* Distributor (both versions). */
#define GICD_CTLR       0x000
#define GICD_ISENABLER  0x100
#define GICD_ISPENDR    0x200
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800
#define GICD_SGIR       0xf00
#define GICD_CTLR_RWP   (1U << 31)
/* GICv3 GICD_CTLR: ARE_NS | EnableGrp1A | EnableGrp1 (as Linux writes it). */
#define GICD_CTLR_V3_ENABLE ((1U << 4) | (1U << 1) | (1U << 0))

/* GICv3 redistributor: RD frame, then the SGI frame 64 KiB above it. */
#define GICR_TYPER         0x0008
#define GICR_WAKER         0x0014
#define GICR_WAKER_PSLEEP  (1U << 1)
#define GICR_WAKER_CASLEEP (1U << 2)
#define GICR_TYPER_VLPIS   (1ULL << 1)
#define GICR_TYPER_LAST    (1ULL << 4)
#define GICR_SGI           0x10000
#define GICR_IGROUPR0      (GICR_SGI + 0x080)
#define GICR_ISENABLER0    (GICR_SGI + 0x100)
#define GICR_ISPENDR0      (GICR_SGI + 0x200)
#define GICR_IPRIORITYR0   (GICR_SGI + 0x400)

/* GICv2 CPU interface. */
#define GICC_CTLR 0x00
#define GICC_PMR  0x04
#define GICC_IAR  0x0c
#define GICC_EOIR 0x10

#define PRIO_WORD 0xa0a0a0a0U

static int version;
static u64 gicd, gicr_base, gicr_size, gicc;
static u32 v2_cpu_mask[8]; /* GICv2: interface mask of each CPU, by index */

int gic_version(void)
{
    return version;
}

int gic_init(void)
{
    int node = dt_find_compatible(-1, "arm,gic-v3");
    u64 size;
    if (node >= 0) {
        version = 3;
        if (!dt_reg(node, 0, &gicd, &size) || !dt_reg(node, 1, &gicr_base, &gicr_size))
            return -1;
    } else {
        node = dt_find_compatible(-1, "arm,cortex-a15-gic");
        if (node < 0)
            node = dt_find_compatible(-1, "arm,gic-400");
        if (node < 0)
            return -1;
        version = 2;
        if (!dt_reg(node, 0, &gicd, &size) || !dt_reg(node, 1, &gicc, &size))
            return -1;
    }
    if (version == 3) {
        mmio_write32(gicd + GICD_CTLR, GICD_CTLR_V3_ENABLE);
        while (mmio_read32(gicd + GICD_CTLR) & GICD_CTLR_RWP)
            ;
    } else {
        mmio_write32(gicd + GICD_CTLR, 1);
    }
    return 0;
}

static u64 mpidr_aff(void)
{
    u64 m = sysreg_read(mpidr_el1);
    return (m & 0xffffffULL) | ((m >> 32) & 0xff) << 24;
}

/* This CPU's redistributor: the frame whose GICR_TYPER affinity is ours. */
static u64 my_redist(void)
{
    u64 aff = mpidr_aff();
    for (u64 rd = gicr_base; rd < gicr_base + gicr_size;) {
        u64 typer = mmio_read32(rd + GICR_TYPER) | (u64)mmio_read32(rd + GICR_TYPER + 4) << 32;
        if ((typer >> 32) == aff)
            return rd;
        if (typer & GICR_TYPER_LAST)
            break;
        rd += (typer & GICR_TYPER_VLPIS) ? 0x40000 : 0x20000;
    }
    return 0;
}

void gic_cpu_init(void)
{
    if (version == 3) {
        u64 rd = my_redist();
        if (rd) {
            mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~GICR_WAKER_PSLEEP);
            while (mmio_read32(rd + GICR_WAKER) & GICR_WAKER_CASLEEP)
                ;
            mmio_write32(rd + GICR_IGROUPR0, 0xffffffffU);
            for (int i = 0; i < 8; i++)
                mmio_write32(rd + GICR_IPRIORITYR0 + 4 * i, PRIO_WORD);
        }
        sysreg_write(S3_0_C12_C12_5, sysreg_read(S3_0_C12_C12_5) | 1); /* ICC_SRE_EL1.SRE */
        isb();
        sysreg_write(S3_0_C4_C6_0, 0xff); /* ICC_PMR_EL1 */
        sysreg_write(S3_0_C12_C12_3, 0);  /* ICC_BPR1_EL1 */
        sysreg_write(S3_0_C12_C12_4, 0);  /* ICC_CTLR_EL1: EOImode 0 */
        sysreg_write(S3_0_C12_C12_7, 1);  /* ICC_IGRPEN1_EL1 */
        isb();
    } else {
        u32 idx = (u32)(sysreg_read(mpidr_el1) & 0xff);
        /* ITARGETSR0 is banked: its first byte is this CPU's own mask. */
        if (idx < 8)
            v2_cpu_mask[idx] = mmio_read32(gicd + GICD_ITARGETSR) & 0xff;
        for (int i = 0; i < 8; i++)
            mmio_write32(gicd + GICD_IPRIORITYR + 4 * i, PRIO_WORD);
        mmio_write32(gicc + GICC_PMR, 0xf0);
        mmio_write32(gicc + GICC_CTLR, 1);
    }
}

void gic_enable_ppi_sgi(u32 intid)
{
    u64 rd = version == 3 ? my_redist() : 0;
    if (rd)
        mmio_write32(rd + GICR_ISENABLER0, 1U << intid);
    else if (version == 3)
        return; /* no redistributor for this CPU: the checks report it */
    else
        mmio_write32(gicd + GICD_ISENABLER, 1U << intid);
    dsb_sy();
}

bool gic_ppi_sgi_pending(u32 intid)
{
    u64 rd = version == 3 ? my_redist() : 0;
    u32 pend = rd ? mmio_read32(rd + GICR_ISPENDR0) : mmio_read32(gicd + GICD_ISPENDR);
    return (pend >> intid) & 1;
}

void gic_send_sgi(u32 intid, u64 target_mpidr, u32 target_cpu_index)
{
    dsb_sy(); /* data the receiver reads must be visible before the SGI */
    if (version == 3) {
        u64 v = (1ULL << (target_mpidr & 0xf)) | ((target_mpidr >> 8) & 0xff) << 16 |
                (u64)intid << 24 | ((target_mpidr >> 16) & 0xff) << 32 |
                ((target_mpidr >> 32) & 0xff) << 48;
        sysreg_write(S3_0_C12_C11_5, v); /* ICC_SGI1R_EL1 */
        isb();
    } else {
        u32 mask = target_cpu_index < 8 ? v2_cpu_mask[target_cpu_index] : 0;
        mmio_write32(gicd + GICD_SGIR, mask << 16 | intid);
    }
}

u32 gic_ack(u32 *token)
{
    u32 iar;
    if (version == 3) {
        iar = (u32)sysreg_read(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
        *token = iar;
        return iar & 0xffffff;
    }
    iar = mmio_read32(gicc + GICC_IAR);
    *token = iar;
    return iar & 0x3ff;
}

void gic_eoi(u32 token)
{
    if (version == 3) {
        sysreg_write(S3_0_C12_C12_1, token); /* ICC_EOIR1_EL1 */
        isb();
    } else {
        mmio_write32(gicc + GICC_EOIR, token);
    }
}
