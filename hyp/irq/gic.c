// SPDX-License-Identifier: MIT
// The physical GIC, version-independent part: which GIC the host device
// tree describes, the console UART's SPI, and the interrupt dispatch at EL2
// (gic.h). The register work is in gic_v3.c and gic_v2.c.
//
// Dispatch (gic_handle_irq): every interrupt is acknowledged and
// priority-dropped (EOI), then its owner's handler says what it did:
//   GIC_IRQ_DONE       deactivate (e.g. the vGIC's maintenance interrupt)
//   GIC_IRQ_FORWARDED  nothing: the guest's deactivation ends it (the
//                      virtual timer, VM 0's console SPI)
//   GIC_IRQ_UNWANTED   disable, deactivate
// An SGI without a handler (the kick) is deactivated: leaving the guest was
// the point, the next vgic_flush loads what the sender made pending. Any
// other interrupt without a handler is disabled, deactivated and counted.
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/atomic.h>
#include <tally/errno.h>
#include <tally/spinlock.h>

#include "core/dt.h"
#include "gic.h"
#include "gic_hw.h"
#include "core/hyp.h"

static const struct gic_ops *ops;
static unsigned version;
static uint32_t uart_intid;
static uint64_t unexpected_irqs;

/* Few interrupts have owners; a short table scanned in registration order
 * (the virtual timer, the most frequent, registers first). Written at boot
 * before any guest runs, read by every CPU's gic_handle_irq. */
#define GIC_MAX_HANDLERS 8
static struct {
    uint32_t intid;
    gic_irq_handler fn;
} handlers[GIC_MAX_HANDLERS];
static atomic_u32 nr_handlers;
static struct spinlock handlers_lock = SPINLOCK_INIT;

int gic_irq_set_handler(uint32_t intid, gic_irq_handler h)
{
    int err = ERR_OK;
    spin_lock(&handlers_lock);
    unsigned n = atomic_load_u32(&nr_handlers, MO_RELAXED), i;
    for (i = 0; i < n && handlers[i].intid != intid; i++)
        ;
    if (i < n)
        err = handlers[i].fn == h ? ERR_OK : ERR_EXIST;
    else if (n == GIC_MAX_HANDLERS)
        err = ERR_NOMEM;
    else {
        handlers[i].intid = intid;
        handlers[i].fn = h;
        /* Release: a CPU that sees the new count sees the entry. Pairs with
         * the acquire load in find_handler(). */
        atomic_store_u32(&nr_handlers, i + 1, MO_RELEASE);
    }
    spin_unlock(&handlers_lock);
    return err;
}

static gic_irq_handler find_handler(uint32_t intid)
{
    unsigned n = atomic_load_u32(&nr_handlers, MO_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (handlers[i].intid == intid)
            return handlers[i].fn;
    return NULL;
}

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
        gic_irq_handler h = find_handler(intid);
        enum gic_irq_result r = h ? h(intid) : intid < 16 ? GIC_IRQ_DONE : GIC_IRQ_UNWANTED;
        if (r == GIC_IRQ_FORWARDED)
            continue;
        if (r == GIC_IRQ_UNWANTED) {
            if (!h)
                unexpected_irqs++;
            ops->irq_enable(intid, false);
        }
        ops->deactivate(iar);
    }
}
