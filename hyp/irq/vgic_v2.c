// SPDX-License-Identifier: MIT
// GICv2 list registers and virtual CPU interface state through the GICH
// frame (vgic_hw.h); the GICH frame is banked per CPU. The guest reaches the
// virtual CPU interface (GICV) directly: vgic.c maps it at its GICC.
#include "gic.h"
#include "gic_hw.h"
#include "vgic_hw.h"

#define GICH_HCR   0x000
#define GICH_VMCR  0x008
#define GICH_APR   0x0f0
#define GICH_LR(n) (0x100 + 4 * (n))

#define GICH_HCR_EN  (1u << 0)
#define GICH_HCR_UIE (1u << 1)

void vgic_v2_load(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    uint64_t h = gic_v2_gich_base();
    for (unsigned n = 0; n < nr_lrs; n++)
        mmio_write32(h + GICH_LR(n), (c->lr_used & (1u << n)) ? (uint32_t)c->lr[n] : 0);
    if (!c->hw_live) {
        mmio_write32(h + GICH_VMCR, c->vmcr);
        mmio_write32(h + GICH_APR, c->ap1r[0]);
        c->hw_live = true;
    }
    mmio_write32(h + GICH_HCR, GICH_HCR_EN | (c->underflow ? GICH_HCR_UIE : 0));
}

void vgic_v2_save(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    uint64_t h = gic_v2_gich_base();
    for (unsigned n = 0; n < nr_lrs; n++)
        if (c->lr_used & (1u << n))
            c->lr[n] = mmio_read32(h + GICH_LR(n));
}

void vgic_v2_put(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    uint64_t h = gic_v2_gich_base();
    vgic_v2_save(c, nr_lrs);
    c->vmcr = mmio_read32(h + GICH_VMCR);
    c->ap1r[0] = mmio_read32(h + GICH_APR);
    c->hw_live = false;
}

void vgic_v2_quiesce(void)
{
    mmio_write32(gic_v2_gich_base() + GICH_HCR, 0);
}

void vgic_v2_reset(unsigned nr_lrs)
{
    uint64_t h = gic_v2_gich_base();
    mmio_write32(h + GICH_HCR, 0);
    for (unsigned n = 0; n < nr_lrs; n++)
        mmio_write32(h + GICH_LR(n), 0);
    mmio_write32(h + GICH_VMCR, 0);
    mmio_write32(h + GICH_APR, 0);
}
