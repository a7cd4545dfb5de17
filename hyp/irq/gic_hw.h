/* SPDX-License-Identifier: MIT */
/*
 * Between hyp/irq/gic.c (common part: device tree, dispatch) and the two
 * physical GIC back ends, hyp/irq/gic_v3.c and hyp/irq/gic_v2.c, and the vGIC's
 * hardware halves (vgic_v3.c, vgic_v2.c).
 */
#ifndef TALLY_HYP_GIC_HW_H
#define TALLY_HYP_GIC_HW_H

#include <tally/types.h>

#include "core/dt.h"

/* Default priority of every physical interrupt Tally enables. */
#define GIC_PRIO_DEFAULT 0xa0

struct gic_ops {
    int (*init)(const struct dt_gic *g, char *msg, size_t len);
    void (*cpu_init)(void);
    uint32_t (*ack)(void);            /* IAR value (INTID in the low bits) */
    void (*eoi)(uint32_t iar);        /* priority drop only (EOImode = 1) */
    void (*deactivate)(uint32_t iar); /* DIR */
    void (*send_sgi)(unsigned pcpu, uint32_t intid);
    void (*irq_enable)(uint32_t intid, bool enable);
    void (*irq_clear_active)(uint32_t intid);
    void (*irq_route)(uint32_t intid, unsigned pcpu);
    unsigned (*nr_lrs)(void);
};

extern const struct gic_ops gic_v3_ops, gic_v2_ops;

/* GICv2 frames, set by gic_v2.c's init. */
extern uint64_t gic_v2_gich, gic_v2_gicv;

static inline uint32_t mmio_read32(uint64_t a)
{
    return *(volatile uint32_t *)a;
}
static inline void mmio_write32(uint64_t a, uint32_t v)
{
    *(volatile uint32_t *)a = v;
}
static inline uint64_t mmio_read64(uint64_t a)
{
    return *(volatile uint64_t *)a;
}
static inline void mmio_write64(uint64_t a, uint64_t v)
{
    *(volatile uint64_t *)a = v;
}
static inline void mmio_write8(uint64_t a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
}

#endif
