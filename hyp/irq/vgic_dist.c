// SPDX-License-Identifier: MIT
// The vGIC's interrupt model, emulated distributor and redistributors, and
// list-register selection (see vgic_dist.h). Portable: no system register,
// no device access; the caller holds d->lock around every entry point.
#include <string.h>
#include <tally/errno.h>

#include "vgic_dist.h"

/* GICD offsets (both versions unless marked). */
#define GICD_CTLR       0x000
#define GICD_TYPER      0x004
#define GICD_IIDR       0x008
#define GICD_IGROUPR    0x080
#define GICD_ISENABLER  0x100
#define GICD_ICENABLER  0x180
#define GICD_ISPENDR    0x200
#define GICD_ICPENDR    0x280
#define GICD_ISACTIVER  0x300
#define GICD_ICACTIVER  0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800 /* v2 */
#define GICD_ICFGR      0xc00
#define GICD_SGIR       0xf00  /* v2 */
#define GICD_IROUTER    0x6000 /* v3 */
#define GICD_PIDR2_V2   0xfe8
#define GICD_PIDR2_V3   0xffe8

#define GICD_CTLR_V3_ARE (1u << 4)
#define GICD_CTLR_V3_DS  (1u << 6)
#define GICD_IIDR_ARM    0x43b

/* GICv3 redistributor: RD_base, then SGI_base at +64 KiB. */
#define GICR_CTLR     0x0000
#define GICR_IIDR     0x0004
#define GICR_TYPER    0x0008
#define GICR_WAKER    0x0014
#define GICR_PIDR2    0xffe8
#define GICR_SGI_BASE 0x10000

#define GICR_WAKER_PROCESSOR_SLEEP (1u << 1)
#define GICR_WAKER_CHILDREN_ASLEEP (1u << 2)

#define PRIORITY_MASK 0xf8 /* 5 priority bits, as the list registers hold */

enum bit_reg {
    REG_GROUP,
    REG_SET_ENABLE,
    REG_CLEAR_ENABLE,
    REG_SET_PENDING,
    REG_CLEAR_PENDING,
    REG_SET_ACTIVE,
    REG_CLEAR_ACTIVE,
};

/* --- list-register encodings ------------------------------------------------ */

/* GICv3 ICH_LR<n>_EL2 */
#define LR3_STATE_SHIFT  62
#define LR3_HW           (1ull << 61)
#define LR3_GROUP1       (1ull << 60)
#define LR3_PRIO_SHIFT   48
#define LR3_PINTID_SHIFT 32
#define LR3_EOI          (1ull << 41)
/* GICv2 GICH_LR<n> */
#define LR2_HW           (1u << 31)
#define LR2_GROUP1       (1u << 30)
#define LR2_STATE_SHIFT  28
#define LR2_PRIO_SHIFT   23
#define LR2_PINTID_SHIFT 10
#define LR2_EOI          (1u << 19)

uint64_t vgic_lr_encode(unsigned version, uint32_t intid, uint8_t priority, bool group1,
                        unsigned state, bool hw, uint32_t hw_intid, unsigned sgi_source)
{
    if (version == 3) {
        uint64_t lr = intid | ((uint64_t)priority << LR3_PRIO_SHIFT) |
                      ((uint64_t)(state & 3) << LR3_STATE_SHIFT);
        if (group1)
            lr |= LR3_GROUP1;
        if (hw)
            lr |= LR3_HW | ((uint64_t)(hw_intid & 0x3ff) << LR3_PINTID_SHIFT);
        return lr;
    }
    uint64_t lr = (intid & 0x3ff) | ((uint64_t)(priority >> 3) << LR2_PRIO_SHIFT) |
                  ((uint64_t)(state & 3) << LR2_STATE_SHIFT);
    if (group1)
        lr |= LR2_GROUP1;
    if (hw)
        lr |= LR2_HW | ((uint64_t)(hw_intid & 0x3ff) << LR2_PINTID_SHIFT);
    else if (intid < VGIC_NR_SGIS)
        lr |= (uint64_t)(sgi_source & 7) << LR2_PINTID_SHIFT;
    return lr;
}

unsigned vgic_lr_state(unsigned version, uint64_t lr)
{
    return version == 3 ? (unsigned)(lr >> LR3_STATE_SHIFT) & 3
                        : (unsigned)(lr >> LR2_STATE_SHIFT) & 3;
}

uint64_t vgic_lr_with_state(unsigned version, uint64_t lr, unsigned state)
{
    if (version == 3)
        return (lr & ~(3ull << LR3_STATE_SHIFT)) | ((uint64_t)(state & 3) << LR3_STATE_SHIFT);
    return (lr & ~(3ull << LR2_STATE_SHIFT)) | ((uint64_t)(state & 3) << LR2_STATE_SHIFT);
}

static uint64_t lr_with_eoi(unsigned version, uint64_t lr)
{
    return lr | (version == 3 ? LR3_EOI : LR2_EOI);
}

/* --- the model --------------------------------------------------------------- */

static void irq_reset(struct vgic_irq *irq, unsigned version, uint32_t intid)
{
    memset(irq, 0, sizeof(*irq));
    irq->lr = -1;
    if (version == 3)
        irq->flags |= VGIC_IRQ_GROUP1;
    if (intid < VGIC_NR_SGIS)
        irq->flags |= VGIC_IRQ_EDGE;
    irq->target = 0;
    irq->targets2 = 1;
}

void vgic_cpu_state_init(struct vgic_cpu_state *c, unsigned id)
{
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->rd_waker = GICR_WAKER_PROCESSOR_SLEEP;
}

void vgic_dist_init(struct vgic_dist *d, unsigned version, unsigned nr_vcpus, unsigned nr_lrs,
                    const struct vgic_dist_ops *ops, void *owner)
{
    memset(d, 0, sizeof(*d));
    spin_lock_init(&d->lock);
    d->version = version;
    d->nr_vcpus = nr_vcpus > VGIC_MAX_VCPUS ? VGIC_MAX_VCPUS : nr_vcpus;
    d->nr_lrs = nr_lrs > VGIC_MAX_LRS ? VGIC_MAX_LRS : nr_lrs;
    d->ops = ops;
    d->owner = owner;
    for (unsigned i = 0; i < VGIC_NR_SPIS; i++)
        irq_reset(&d->spi[i], version, VGIC_NR_PRIVATE + i);
}

_Static_assert(VGIC_NR_SPIS <= 64 && VGIC_NR_PRIVATE <= 32, "latch bitmaps");

/* The bitmap word and bit that mirror irq's latch: an SPI's in the
 * distributor, a private interrupt's in its (attached) vCPU. */
static void latch_bit(struct vgic_dist *d, struct vgic_irq *irq, uint64_t **spi, uint32_t **priv,
                      unsigned *bit)
{
    *spi = NULL;
    *priv = NULL;
    if (irq >= d->spi && irq < d->spi + VGIC_NR_SPIS) {
        *spi = &d->latched_spi;
        *bit = (unsigned)(irq - d->spi);
        return;
    }
    for (unsigned v = 0; v < d->nr_vcpus; v++) {
        struct vgic_cpu_state *c = d->cpu[v];
        if (c && irq >= c->priv && irq < c->priv + VGIC_NR_PRIVATE) {
            *priv = &c->latched_priv;
            *bit = (unsigned)(irq - c->priv);
            return;
        }
    }
}

/* Every change of a latch goes through these: d->nr_latched counts them and
 * the bitmaps name them, so a flush visits only latched interrupts and one
 * with nothing latched anywhere in the VM skips the scan. */
static void latch_set(struct vgic_dist *d, struct vgic_irq *irq)
{
    if (!(irq->flags & VGIC_IRQ_LATCH)) {
        uint64_t *spi;
        uint32_t *priv;
        unsigned bit = 0;
        latch_bit(d, irq, &spi, &priv, &bit);
        if (spi)
            *spi |= 1ull << bit;
        else if (priv)
            *priv |= 1u << bit;
        d->nr_latched++;
    }
    irq->flags |= VGIC_IRQ_LATCH;
}

static void latch_clear(struct vgic_dist *d, struct vgic_irq *irq)
{
    if (irq->flags & VGIC_IRQ_LATCH) {
        uint64_t *spi;
        uint32_t *priv;
        unsigned bit = 0;
        latch_bit(d, irq, &spi, &priv, &bit);
        if (spi)
            *spi &= ~(1ull << bit);
        else if (priv)
            *priv &= ~(1u << bit);
        d->nr_latched--;
    }
    irq->flags &= (uint8_t)~VGIC_IRQ_LATCH;
}

void vgic_dist_attach(struct vgic_dist *d, struct vgic_cpu_state *c)
{
    for (uint32_t i = 0; i < VGIC_NR_PRIVATE; i++) {
        if (d->cpu[c->id] == c) /* attached again: its latches leave the count */
            latch_clear(d, &c->priv[i]);
        irq_reset(&c->priv[i], d->version, i);
    }
    d->cpu[c->id] = c;
}

static struct vgic_irq *irq_get(struct vgic_dist *d, unsigned vcpu, uint32_t intid)
{
    if (intid < VGIC_NR_PRIVATE)
        return vcpu < d->nr_vcpus && d->cpu[vcpu] ? &d->cpu[vcpu]->priv[intid] : NULL;
    if (intid < VGIC_NR_IRQS)
        return &d->spi[intid - VGIC_NR_PRIVATE];
    return NULL;
}

int vgic_dist_set_hw(struct vgic_dist *d, unsigned vcpu, uint32_t intid, uint32_t hw_intid)
{
    struct vgic_irq *irq = irq_get(d, vcpu, intid);
    if (!irq || intid < VGIC_NR_SGIS)
        return ERR_INVAL;
    irq->flags |= VGIC_IRQ_HW;
    irq->hw_intid = (uint16_t)hw_intid;
    return ERR_OK;
}

/* The vCPU an interrupt goes to, or -1. */
static int irq_target(const struct vgic_dist *d, unsigned vcpu, uint32_t intid,
                      const struct vgic_irq *irq)
{
    if (intid < VGIC_NR_PRIVATE)
        return (int)vcpu;
    return irq->target < d->nr_vcpus ? irq->target : -1;
}

static bool deliverable(const struct vgic_dist *d, const struct vgic_irq *irq)
{
    unsigned grp = (irq->flags & VGIC_IRQ_GROUP1) ? 2 : 1;
    return (irq->flags & VGIC_IRQ_ENABLED) && (d->ctlr & grp);
}

static void kick(struct vgic_dist *d, int vcpu)
{
    if (vcpu >= 0 && d->ops && d->ops->kick)
        d->ops->kick(d, (unsigned)vcpu);
}

/*
 * A latched, deliverable interrupt always kicks its vCPU, even when the model
 * says a list register still holds it: that shadow is only as fresh as the
 * target's last exit. A running guest acknowledges and EOIs an interrupt in
 * the list register without exiting, so the list register may already be
 * invalid and only an exit (fold, then flush) can place the new edge. Not
 * kicking there lost every second back-to-back SGI until some unrelated exit
 * (a timer tick) came along. When the list register is in fact still
 * pending the kick costs one spurious exit, and the edge coalesces as on the
 * GIC.
 */
static void kick_if_ready(struct vgic_dist *d, unsigned vcpu, uint32_t intid,
                          const struct vgic_irq *irq)
{
    if ((irq->flags & VGIC_IRQ_LATCH) && deliverable(d, irq))
        kick(d, irq_target(d, vcpu, intid, irq));
}

static void hw_enable(struct vgic_dist *d, unsigned vcpu, uint32_t intid,
                      const struct vgic_irq *irq, bool enable)
{
    int t = irq_target(d, vcpu, intid, irq);
    if ((irq->flags & VGIC_IRQ_HW) && d->ops && d->ops->hw_enable)
        d->ops->hw_enable(d, irq->hw_intid, enable, t < 0 ? 0 : (unsigned)t);
}

static void latch_sgi(struct vgic_dist *d, unsigned target, uint32_t intid, unsigned source)
{
    struct vgic_cpu_state *c = target < d->nr_vcpus ? d->cpu[target] : NULL;
    if (!c || intid >= VGIC_NR_SGIS)
        return;
    latch_set(d, &c->priv[intid]);
    if (d->version == 2)
        c->sgi_sources[intid] |= (uint8_t)(1u << (source & 7));
    kick_if_ready(d, target, intid, &c->priv[intid]);
}

int vgic_dist_inject(struct vgic_dist *d, unsigned vcpu, uint32_t intid)
{
    struct vgic_irq *irq = irq_get(d, vcpu, intid);
    if (!irq)
        return ERR_INVAL;
    if (intid < VGIC_NR_SGIS) {
        latch_sgi(d, vcpu, intid, vcpu);
        return ERR_OK;
    }
    latch_set(d, irq);
    kick_if_ready(d, vcpu, intid, irq);
    return ERR_OK;
}

/* State of an interrupt held in a list register (0 if in none). */
static unsigned irq_lr_state(const struct vgic_dist *d, const struct vgic_irq *irq)
{
    if (irq->lr < 0 || irq->owner >= d->nr_vcpus || !d->cpu[irq->owner])
        return 0;
    return vgic_lr_state(d->version, d->cpu[irq->owner]->lr[irq->lr]);
}

static bool irq_pending(const struct vgic_dist *d, const struct vgic_irq *irq)
{
    return (irq->flags & VGIC_IRQ_LATCH) || (irq_lr_state(d, irq) & VGIC_LR_PENDING);
}

static bool irq_active(const struct vgic_dist *d, const struct vgic_irq *irq)
{
    return irq->lr >= 0 ? (irq_lr_state(d, irq) & VGIC_LR_ACTIVE) != 0
                        : (irq->flags & VGIC_IRQ_ACTIVE) != 0;
}

/* Change the list-register state of an interrupt the accessing vCPU holds
 * (another vCPU's list registers are live in its CPU: left alone). A
 * hardware-linked one is never changed: its physical state would be lost. */
static void irq_lr_clear_state(struct vgic_dist *d, unsigned vcpu, struct vgic_irq *irq,
                               unsigned clear)
{
    if (irq->lr < 0 || irq->owner != vcpu || (irq->flags & VGIC_IRQ_HW))
        return;
    struct vgic_cpu_state *c = d->cpu[vcpu];
    uint64_t *lr = &c->lr[irq->lr];
    *lr = vgic_lr_with_state(d->version, *lr, vgic_lr_state(d->version, *lr) & ~clear);
}

/* --- bitmap registers ----------------------------------------------------------- */

static uint32_t bits_read(struct vgic_dist *d, unsigned vcpu, uint32_t first, enum bit_reg r)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 32; i++) {
        const struct vgic_irq *irq = irq_get(d, vcpu, first + i);
        if (!irq)
            break;
        bool b = false;
        switch (r) {
        case REG_GROUP:
            b = irq->flags & VGIC_IRQ_GROUP1;
            break;
        case REG_SET_ENABLE:
        case REG_CLEAR_ENABLE:
            b = irq->flags & VGIC_IRQ_ENABLED;
            break;
        case REG_SET_PENDING:
        case REG_CLEAR_PENDING:
            b = irq_pending(d, irq);
            break;
        case REG_SET_ACTIVE:
        case REG_CLEAR_ACTIVE:
            b = irq_active(d, irq);
            break;
        }
        v |= (uint32_t)b << i;
    }
    return v;
}

static void bits_write(struct vgic_dist *d, unsigned vcpu, uint32_t first, enum bit_reg r,
                       uint32_t v)
{
    for (unsigned i = 0; i < 32; i++) {
        uint32_t intid = first + i;
        struct vgic_irq *irq = irq_get(d, vcpu, intid);
        if (!irq)
            break;
        bool b = (v >> i) & 1;
        if (r == REG_GROUP) {
            irq->flags = (uint8_t)((irq->flags & ~VGIC_IRQ_GROUP1) | (b ? VGIC_IRQ_GROUP1 : 0));
            kick_if_ready(d, vcpu, intid, irq);
            continue;
        }
        if (!b)
            continue;
        switch (r) {
        case REG_SET_ENABLE:
            if (!(irq->flags & VGIC_IRQ_ENABLED)) {
                irq->flags |= VGIC_IRQ_ENABLED;
                hw_enable(d, vcpu, intid, irq, true);
                kick_if_ready(d, vcpu, intid, irq);
            }
            break;
        case REG_CLEAR_ENABLE:
            if (irq->flags & VGIC_IRQ_ENABLED) {
                irq->flags &= (uint8_t)~VGIC_IRQ_ENABLED;
                hw_enable(d, vcpu, intid, irq, false);
            }
            break;
        case REG_SET_PENDING:
            if (intid < VGIC_NR_SGIS)
                latch_sgi(d, vcpu, intid, vcpu);
            else {
                latch_set(d, irq);
                kick_if_ready(d, vcpu, intid, irq);
            }
            break;
        case REG_CLEAR_PENDING:
            latch_clear(d, irq);
            if (intid < VGIC_NR_SGIS)
                d->cpu[vcpu]->sgi_sources[intid] = 0;
            irq_lr_clear_state(d, vcpu, irq, VGIC_LR_PENDING);
            break;
        case REG_SET_ACTIVE: /* guests only restore saved state with it: not modelled */
            break;
        case REG_CLEAR_ACTIVE:
            irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
            irq_lr_clear_state(d, vcpu, irq, VGIC_LR_ACTIVE);
            break;
        case REG_GROUP:
            break;
        }
    }
}

/* Offset in [base, base + 0x80) of a bitmap register block: the register's
 * first INTID through *first. */
static bool bit_block(uint64_t off, uint64_t base, uint32_t *first)
{
    if (off < base || off >= base + 0x80)
        return false;
    *first = (uint32_t)((off - base) / 4 * 32);
    return true;
}

static const struct {
    uint64_t base;
    enum bit_reg reg;
} bit_blocks[] = {
    {GICD_IGROUPR, REG_GROUP},          {GICD_ISENABLER, REG_SET_ENABLE},
    {GICD_ICENABLER, REG_CLEAR_ENABLE}, {GICD_ISPENDR, REG_SET_PENDING},
    {GICD_ICPENDR, REG_CLEAR_PENDING},  {GICD_ISACTIVER, REG_SET_ACTIVE},
    {GICD_ICACTIVER, REG_CLEAR_ACTIVE},
};

/* Priority, ICFGR and (v2) ITARGETSR: byte-wide fields. */
static uint32_t prio_read(struct vgic_dist *d, unsigned vcpu, uint32_t intid, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct vgic_irq *irq = irq_get(d, vcpu, intid + i);
        if (irq)
            v |= (uint32_t)irq->priority << (8 * i);
    }
    return v;
}

static void prio_write(struct vgic_dist *d, unsigned vcpu, uint32_t intid, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++) {
        struct vgic_irq *irq = irq_get(d, vcpu, intid + i);
        if (irq)
            irq->priority = (uint8_t)(v >> (8 * i)) & PRIORITY_MASK;
    }
}

static uint32_t cfg_read(struct vgic_dist *d, unsigned vcpu, uint32_t first)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 16; i++) {
        const struct vgic_irq *irq = irq_get(d, vcpu, first + i);
        if (irq && (irq->flags & VGIC_IRQ_EDGE))
            v |= 2u << (2 * i);
    }
    return v;
}

static void cfg_write(struct vgic_dist *d, unsigned vcpu, uint32_t first, uint32_t v)
{
    for (unsigned i = 0; i < 16; i++) {
        struct vgic_irq *irq = irq_get(d, vcpu, first + i);
        if (!irq || first + i < VGIC_NR_SGIS) /* SGIs are always edge */
            continue;
        irq->flags =
            (uint8_t)((irq->flags & ~VGIC_IRQ_EDGE) | (((v >> (2 * i)) & 2) ? VGIC_IRQ_EDGE : 0));
    }
}

static void spi_retarget(struct vgic_dist *d, unsigned vcpu, uint32_t intid, struct vgic_irq *irq,
                         uint8_t target)
{
    if (irq->target == target)
        return;
    irq->target = target;
    if (irq->flags & VGIC_IRQ_ENABLED)
        hw_enable(d, vcpu, intid, irq, true);
    kick_if_ready(d, vcpu, intid, irq);
}

static uint32_t targets_read(struct vgic_dist *d, unsigned vcpu, uint32_t intid, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct vgic_irq *irq = irq_get(d, vcpu, intid + i);
        if (!irq)
            continue;
        uint32_t t = intid + i < VGIC_NR_PRIVATE ? 1u << vcpu : irq->targets2;
        v |= t << (8 * i);
    }
    return v;
}

static void targets_write(struct vgic_dist *d, unsigned vcpu, uint32_t intid, unsigned n,
                          uint64_t v)
{
    for (unsigned i = 0; i < n; i++) {
        struct vgic_irq *irq = irq_get(d, vcpu, intid + i);
        if (!irq || intid + i < VGIC_NR_PRIVATE)
            continue;
        uint8_t t = (uint8_t)(v >> (8 * i)) & (uint8_t)((1u << d->nr_vcpus) - 1);
        irq->targets2 = t;
        spi_retarget(d, vcpu, intid + i, irq, t ? (uint8_t)__builtin_ctz(t) : 0xff);
    }
}

/* Accesses of the byte-field registers: 1 or 4 bytes, aligned; the rest
 * 4 bytes aligned. */
static bool size_ok(uint64_t off, unsigned size, bool bytes)
{
    if (off % size)
        return false;
    return size == 4 || (bytes && size == 1);
}

static void sgir_write(struct vgic_dist *d, unsigned vcpu, uint32_t v)
{
    uint32_t intid = v & 0xf, filter = (v >> 24) & 3, list = (v >> 16) & 0xff;
    if (filter == 1)
        list = ((1u << d->nr_vcpus) - 1) & ~(1u << vcpu);
    else if (filter == 2)
        list = 1u << vcpu;
    else if (filter == 3)
        return;
    for (unsigned t = 0; t < d->nr_vcpus; t++)
        if (list & (1u << t))
            latch_sgi(d, t, intid, vcpu);
}

void vgic_dist_sgi1r(struct vgic_dist *d, unsigned vcpu, uint64_t val)
{
    uint32_t intid = (uint32_t)(val >> 24) & 0xf;
    if (val & (1ull << 40)) { /* IRM: every PE but the sender */
        for (unsigned t = 0; t < d->nr_vcpus; t++)
            if (t != vcpu)
                latch_sgi(d, t, intid, vcpu);
        return;
    }
    /* vCPUs have Aff3..Aff1 = 0 and Aff0 = index */
    uint64_t aff321 = ((val >> 16) & 0xff) | ((val >> 32) & 0xff) | ((val >> 48) & 0xff);
    if (aff321)
        return;
    unsigned rs = (unsigned)(val >> 44) & 0xf;
    for (unsigned b = 0; b < 16; b++)
        if (val & (1u << b))
            latch_sgi(d, rs * 16 + b, intid, vcpu);
}

static void ctlr_write(struct vgic_dist *d, uint32_t v)
{
    uint32_t old = d->ctlr;
    d->ctlr = v & 3;
    if (d->ctlr & ~old)
        for (unsigned t = 0; t < d->nr_vcpus; t++)
            kick(d, (int)t);
}

int vgic_dist_read(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t *val)
{
    bool v3 = d->version == 3;
    uint32_t first;
    *val = 0;
    if (v3 && off >= GICD_IROUTER && off < GICD_IROUTER + 8 * 1024) {
        if (!(size == 8 && off % 8 == 0) && !(size == 4 && off % 4 == 0))
            return ERR_INVAL;
        uint32_t intid = (uint32_t)((off - GICD_IROUTER) / 8);
        struct vgic_irq *irq = intid >= VGIC_NR_PRIVATE ? irq_get(d, vcpu, intid) : NULL;
        uint64_t r = irq ? irq->irouter : 0;
        *val = size == 8 ? r : (off % 8 ? r >> 32 : (uint32_t)r);
        return ERR_OK;
    }
    bool bytes = (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) ||
                 (!v3 && off >= GICD_ITARGETSR && off < GICD_ITARGETSR + 0x400);
    if (!size_ok(off, size, bytes))
        return ERR_INVAL;
    if (off == GICD_CTLR) {
        *val = d->ctlr | (v3 ? GICD_CTLR_V3_ARE | GICD_CTLR_V3_DS : 0);
    } else if (off == GICD_TYPER) {
        *val = (VGIC_NR_IRQS / 32 - 1) | ((d->nr_vcpus - 1) << 5) | (v3 ? 9u << 19 : 0);
    } else if (off == GICD_IIDR) {
        *val = GICD_IIDR_ARM;
    } else if (off == (v3 ? GICD_PIDR2_V3 : GICD_PIDR2_V2)) {
        *val = v3 ? 0x3b : 0x2b;
    } else if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) {
        uint32_t intid = (uint32_t)(off - GICD_IPRIORITYR);
        if (!(v3 && intid < VGIC_NR_PRIVATE))
            *val = prio_read(d, vcpu, intid, size);
    } else if (bytes) { /* v2 ITARGETSR */
        *val = targets_read(d, vcpu, (uint32_t)(off - GICD_ITARGETSR), size);
    } else if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100) {
        uint32_t f = (uint32_t)(off - GICD_ICFGR) / 4 * 16;
        if (!(v3 && f < VGIC_NR_PRIVATE))
            *val = cfg_read(d, vcpu, f);
    } else {
        for (unsigned i = 0; i < ARRAY_SIZE(bit_blocks); i++)
            if (bit_block(off, bit_blocks[i].base, &first)) {
                if (!(v3 && first < VGIC_NR_PRIVATE)) /* ARE: private ones are the GICR's */
                    *val = bits_read(d, vcpu, first, bit_blocks[i].reg);
                break;
            }
    }
    return ERR_OK;
}

int vgic_dist_write(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t val)
{
    bool v3 = d->version == 3;
    uint32_t first;
    if (v3 && off >= GICD_IROUTER && off < GICD_IROUTER + 8 * 1024) {
        if (!(size == 8 && off % 8 == 0) && !(size == 4 && off % 4 == 0))
            return ERR_INVAL;
        uint32_t intid = (uint32_t)((off - GICD_IROUTER) / 8);
        struct vgic_irq *irq = intid >= VGIC_NR_PRIVATE ? irq_get(d, vcpu, intid) : NULL;
        if (!irq)
            return ERR_OK;
        uint64_t r = irq->irouter;
        if (size == 8)
            r = val;
        else if (off % 8)
            r = (r & 0xffffffffull) | (val << 32);
        else
            r = (r & ~0xffffffffull) | (uint32_t)val;
        irq->irouter = r & 0xff80ffffffull; /* Aff3, IRM (bit 31), Aff2..Aff0 */
        uint8_t t;
        if (r & (1ull << 31))
            t = 0; /* 1-of-N: vCPU 0 takes it */
        else
            t = (r & 0xff00ffff00ull) || (r & 0xff) >= d->nr_vcpus ? 0xff : (uint8_t)(r & 0xff);
        spi_retarget(d, vcpu, intid, irq, t);
        return ERR_OK;
    }
    bool bytes = (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) ||
                 (!v3 && off >= GICD_ITARGETSR && off < GICD_ITARGETSR + 0x400);
    if (!size_ok(off, size, bytes))
        return ERR_INVAL;
    if (off == GICD_CTLR) {
        ctlr_write(d, (uint32_t)val);
    } else if (!v3 && off == GICD_SGIR) {
        sgir_write(d, vcpu, (uint32_t)val);
    } else if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) {
        uint32_t intid = (uint32_t)(off - GICD_IPRIORITYR);
        if (!(v3 && intid < VGIC_NR_PRIVATE))
            prio_write(d, vcpu, intid, size, val);
    } else if (bytes) {
        targets_write(d, vcpu, (uint32_t)(off - GICD_ITARGETSR), size, val);
    } else if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100) {
        uint32_t f = (uint32_t)(off - GICD_ICFGR) / 4 * 16;
        if (!(v3 && f < VGIC_NR_PRIVATE))
            cfg_write(d, vcpu, f, (uint32_t)val);
    } else {
        for (unsigned i = 0; i < ARRAY_SIZE(bit_blocks); i++)
            if (bit_block(off, bit_blocks[i].base, &first)) {
                if (!(v3 && first < VGIC_NR_PRIVATE))
                    bits_write(d, vcpu, first, bit_blocks[i].reg, (uint32_t)val);
                break;
            }
    }
    return ERR_OK;
}

/* --- GICv3 redistributors ----------------------------------------------------------- */

int vgic_rdist_read(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t *val)
{
    unsigned t = (unsigned)(off / VGIC_V3_GICR_STRIDE);
    uint64_t o = off % VGIC_V3_GICR_STRIDE;
    *val = 0;
    if (t >= d->nr_vcpus || !d->cpu[t])
        return ERR_INVAL;
    struct vgic_cpu_state *c = d->cpu[t];
    if (o == GICR_TYPER || o == GICR_TYPER + 4) {
        if (!(size == 8 && o == GICR_TYPER) && size != 4)
            return ERR_INVAL;
        uint64_t typer =
            ((uint64_t)t << 32) | ((uint64_t)t << 8) | (t == d->nr_vcpus - 1 ? 1u << 4 : 0);
        *val = size == 8 ? typer : (o == GICR_TYPER ? (uint32_t)typer : typer >> 32);
        return ERR_OK;
    }
    uint64_t s = o - GICR_SGI_BASE;
    bool bytes = o >= GICR_SGI_BASE && s >= GICD_IPRIORITYR && s < GICD_IPRIORITYR + 32;
    if (!size_ok(o, size, bytes))
        return ERR_INVAL;
    uint32_t first;
    if (o == GICR_CTLR)
        *val = c->rd_ctlr;
    else if (o == GICR_IIDR)
        *val = GICD_IIDR_ARM;
    else if (o == GICR_WAKER)
        *val = c->rd_waker;
    else if (o == GICR_PIDR2)
        *val = 0x3b;
    else if (o < GICR_SGI_BASE)
        *val = 0;
    else if (bytes)
        *val = prio_read(d, t, (uint32_t)(s - GICD_IPRIORITYR), size);
    else if (s == GICD_ICFGR || s == GICD_ICFGR + 4)
        *val = cfg_read(d, t, (uint32_t)(s - GICD_ICFGR) * 4);
    else
        for (unsigned i = 0; i < ARRAY_SIZE(bit_blocks); i++)
            if (bit_block(s, bit_blocks[i].base, &first)) {
                if (first == 0)
                    *val = bits_read(d, t, 0, bit_blocks[i].reg);
                break;
            }
    return ERR_OK;
}

int vgic_rdist_write(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t val)
{
    unsigned t = (unsigned)(off / VGIC_V3_GICR_STRIDE);
    uint64_t o = off % VGIC_V3_GICR_STRIDE;
    if (t >= d->nr_vcpus || !d->cpu[t])
        return ERR_INVAL;
    struct vgic_cpu_state *c = d->cpu[t];
    uint64_t s = o - GICR_SGI_BASE;
    bool bytes = o >= GICR_SGI_BASE && s >= GICD_IPRIORITYR && s < GICD_IPRIORITYR + 32;
    if (o == GICR_TYPER && size == 8)
        return ERR_OK; /* read-only */
    if (!size_ok(o, size, bytes))
        return ERR_INVAL;
    uint32_t first;
    if (o == GICR_WAKER) {
        /* ChildrenAsleep follows ProcessorSleep at once. */
        c->rd_waker = (val & GICR_WAKER_PROCESSOR_SLEEP)
                          ? GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP
                          : 0;
    } else if (o < GICR_SGI_BASE) {
        /* CTLR (no LPIs: EnableLPIs stays 0), the rest read-only or RAZ/WI */
    } else if (bytes) {
        prio_write(d, t, (uint32_t)(s - GICD_IPRIORITYR), size, val);
    } else if (s == GICD_ICFGR || s == GICD_ICFGR + 4) {
        cfg_write(d, t, (uint32_t)(s - GICD_ICFGR) * 4, (uint32_t)val);
    } else {
        for (unsigned i = 0; i < ARRAY_SIZE(bit_blocks); i++)
            if (bit_block(s, bit_blocks[i].base, &first)) {
                if (first == 0)
                    bits_write(d, t, 0, bit_blocks[i].reg, (uint32_t)val);
                break;
            }
    }
    return ERR_OK;
}

/* --- list registers ------------------------------------------------------------------ */

static struct vgic_irq *lr_irq(struct vgic_dist *d, struct vgic_cpu_state *c, unsigned n)
{
    return irq_get(d, c->id, c->lr_intid[n]);
}

/* A latch set again while the interrupt sits in a list register. */
static void merge_latch(struct vgic_dist *d, struct vgic_cpu_state *c, unsigned n,
                        struct vgic_irq *irq)
{
    uint32_t intid = c->lr_intid[n];
    unsigned st = vgic_lr_state(d->version, c->lr[n]);
    if (d->version == 2 && intid < VGIC_NR_SGIS) {
        /* One source per list register: ask for a maintenance interrupt
         * when this one is done, then queue the next source. */
        c->lr[n] = lr_with_eoi(2, c->lr[n]);
        return;
    }
    latch_clear(d, irq);
    if (!(st & VGIC_LR_PENDING) && !(irq->flags & VGIC_IRQ_HW))
        c->lr[n] = vgic_lr_with_state(d->version, c->lr[n], st | VGIC_LR_PENDING);
    /* Already pending: edges coalesce, as on the GIC. Hardware-linked and
     * active: the physical interrupt cannot be pending again before the
     * guest deactivates it, so the latch came from ISPENDR and is dropped. */
}

static void place(struct vgic_dist *d, struct vgic_cpu_state *c, unsigned n, uint32_t intid,
                  struct vgic_irq *irq)
{
    unsigned source = 0;
    bool more = false;
    if (d->version == 2 && intid < VGIC_NR_SGIS) {
        uint8_t s = c->sgi_sources[intid];
        source = s ? (unsigned)__builtin_ctz(s) : c->id;
        c->sgi_sources[intid] = (uint8_t)(s & (s - 1));
        more = c->sgi_sources[intid] != 0;
    }
    if (!more)
        latch_clear(d, irq);
    c->lr[n] = vgic_lr_encode(d->version, intid, irq->priority, irq->flags & VGIC_IRQ_GROUP1,
                              VGIC_LR_PENDING, irq->flags & VGIC_IRQ_HW, irq->hw_intid, source);
    if (more)
        c->lr[n] = lr_with_eoi(d->version, c->lr[n]);
    c->lr_intid[n] = (uint16_t)intid;
    c->lr_used |= 1u << n;
    irq->lr = (int8_t)n;
    irq->owner = (uint8_t)c->id;
}

/* The highest-priority (lowest value; then lowest INTID) deliverable
 * interrupt of vCPU c waiting for a list register, or NULL. */
static struct vgic_irq *best_waiting(struct vgic_dist *d, struct vgic_cpu_state *c, uint32_t *intid)
{
    struct vgic_irq *best = NULL;
    if (!d->nr_latched)
        return NULL;
    /* In INTID order, so the lowest INTID wins a tie. */
    for (uint32_t m = c->latched_priv; m; m &= m - 1) {
        uint32_t i = (uint32_t)__builtin_ctz(m);
        struct vgic_irq *irq = &c->priv[i];
        if (!(irq->flags & VGIC_IRQ_LATCH) || irq->lr >= 0 || !deliverable(d, irq))
            continue;
        if (!best || irq->priority < best->priority) {
            best = irq;
            *intid = i;
        }
    }
    for (uint64_t m = d->latched_spi; m; m &= m - 1) {
        uint32_t i = (uint32_t)__builtin_ctzll(m);
        struct vgic_irq *irq = &d->spi[i];
        if (!(irq->flags & VGIC_IRQ_LATCH) || irq->lr >= 0 || !deliverable(d, irq) ||
            irq->target != c->id)
            continue;
        if (!best || irq->priority < best->priority) {
            best = irq;
            *intid = VGIC_NR_PRIVATE + i;
        }
    }
    return best;
}

void vgic_dist_flush(struct vgic_dist *d, unsigned vcpu)
{
    struct vgic_cpu_state *c = d->cpu[vcpu];
    for (unsigned n = 0; n < d->nr_lrs; n++) {
        if (!(c->lr_used & (1u << n)))
            continue;
        struct vgic_irq *irq = lr_irq(d, c, n);
        if (irq->flags & VGIC_IRQ_LATCH)
            merge_latch(d, c, n, irq);
    }
    c->underflow = false;
    for (;;) {
        uint32_t intid = 0;
        struct vgic_irq *irq = best_waiting(d, c, &intid);
        if (!irq)
            break;
        unsigned n = 0;
        while (n < d->nr_lrs && (c->lr_used & (1u << n)))
            n++;
        if (n == d->nr_lrs) {
            /* Underflow fires when at most one list register is valid: with
             * every one valid it waits for the guest to finish some. */
            c->underflow = d->nr_lrs >= 2;
            break;
        }
        place(d, c, n, intid, irq);
    }
}

void vgic_dist_fold(struct vgic_dist *d, unsigned vcpu)
{
    struct vgic_cpu_state *c = d->cpu[vcpu];
    for (unsigned n = 0; n < d->nr_lrs; n++) {
        if (!(c->lr_used & (1u << n)))
            continue;
        struct vgic_irq *irq = lr_irq(d, c, n);
        unsigned st = vgic_lr_state(d->version, c->lr[n]);
        if (st == 0) {
            c->lr_used &= ~(1u << n);
            c->lr[n] = 0;
            irq->lr = -1;
            irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
        } else if (st & VGIC_LR_ACTIVE) {
            irq->flags |= VGIC_IRQ_ACTIVE;
        } else {
            irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
        }
    }
}

bool vgic_dist_vcpu_pending(struct vgic_dist *d, unsigned vcpu)
{
    struct vgic_cpu_state *c = d->cpu[vcpu];
    for (unsigned n = 0; n < d->nr_lrs; n++)
        if ((c->lr_used & (1u << n)) && (vgic_lr_state(d->version, c->lr[n]) & VGIC_LR_PENDING))
            return true;
    uint32_t intid;
    return best_waiting(d, c, &intid) != NULL;
}

bool vgic_dist_hw_pending(struct vgic_dist *d, unsigned vcpu, uint32_t intid)
{
    struct vgic_irq *irq = intid < VGIC_NR_PRIVATE ? irq_get(d, vcpu, intid) : NULL;
    if (!irq || !(irq->flags & VGIC_IRQ_HW))
        return false;
    if (irq->flags & VGIC_IRQ_LATCH)
        return true;
    return irq->lr >= 0 && irq_lr_state(d, irq) == VGIC_LR_PENDING;
}

bool vgic_dist_hw_retract(struct vgic_dist *d, unsigned vcpu, uint32_t intid)
{
    if (!vgic_dist_hw_pending(d, vcpu, intid))
        return false;
    struct vgic_irq *irq = irq_get(d, vcpu, intid);
    struct vgic_cpu_state *c = d->cpu[vcpu];
    latch_clear(d, irq);
    if (irq->lr >= 0 && irq->owner == vcpu) {
        c->lr[irq->lr] = 0;
        c->lr_used &= ~(1u << irq->lr);
        irq->lr = -1;
    }
    irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
    return true;
}

unsigned vgic_dist_vcpu_release(struct vgic_dist *d, unsigned vcpu, uint32_t *hw, unsigned max)
{
    struct vgic_cpu_state *c = d->cpu[vcpu];
    unsigned nr = 0;
    for (unsigned n = 0; n < d->nr_lrs; n++) {
        if (!(c->lr_used & (1u << n)))
            continue;
        struct vgic_irq *irq = lr_irq(d, c, n);
        if ((irq->flags & VGIC_IRQ_HW) && nr < max)
            hw[nr++] = irq->hw_intid;
        irq->lr = -1;
        latch_clear(d, irq);
        irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
        c->lr[n] = 0;
    }
    c->lr_used = 0;
    c->underflow = false;
    for (uint32_t i = 0; i < VGIC_NR_PRIVATE; i++) {
        struct vgic_irq *irq = &c->priv[i];
        if ((irq->flags & (VGIC_IRQ_HW | VGIC_IRQ_LATCH)) == (VGIC_IRQ_HW | VGIC_IRQ_LATCH) &&
            nr < max)
            hw[nr++] = irq->hw_intid;
        latch_clear(d, irq);
        irq->flags &= (uint8_t)~VGIC_IRQ_ACTIVE;
    }
    memset(c->sgi_sources, 0, sizeof(c->sgi_sources));
    return nr;
}
