/* SPDX-License-Identifier: MIT */
/*
 * Device-tree lookups of the EL2 runtime beyond the memory map (which is
 * hyp/core/memmap.c): the console UART, the GIC, a node's reg. Addresses are
 * taken as the parent's #address-cells/#size-cells say and translated up to
 * the CPU's physical address space through every bus's `ranges` (a Pi 4's
 * devices sit under /soc at bus addresses 0x7e..., the CPU sees 0xfe...).
 */
#ifndef TALLY_HYP_DT_H
#define TALLY_HYP_DT_H

#include <tally/types.h>

#define DT_GIC_MAX_REGS 4

struct dt_gic {
    unsigned version; /* 2 or 3; 0 if none found */
    const char *compatible;
    unsigned nr_regs;
    uint64_t base[DT_GIC_MAX_REGS], size[DT_GIC_MAX_REGS];
};

enum dt_uart_kind {
    DT_UART_PL011, /* arm,pl011 */
    DT_UART_MINI,  /* brcm,bcm2835-aux-uart: the BCM2711 mini-UART */
};

struct dt_uart {
    enum dt_uart_kind kind;
    int node;
    uint64_t base, size; /* CPU physical */
};

/* Entry idx of node's reg as a CPU physical address. False if absent,
 * malformed, or outside every `ranges` window of a bus on the way up. */
bool dt_reg(const void *fdt, int node, unsigned idx, uint64_t *base, uint64_t *size);
/* The UART that /chosen/stdout-path (or an alias it names) points to, if
 * Tally has a driver for it. */
bool dt_stdout_uart(const void *fdt, struct dt_uart *u);
/* The first node compatible with `compatible` whose status is okay and whose
 * first reg translates: its offset, with base and size set; -1 if none. */
int dt_find_compatible(const void *fdt, const char *compatible, uint64_t *base, uint64_t *size);
/* The interrupt controller: arm,gic-v3, or arm,cortex-a15-gic / arm,gic-400 /
 * arm,cortex-a7-gic (GICv2). */
void dt_gic(const void *fdt, struct dt_gic *g);
/* /chosen/bootargs, or NULL. */
const char *dt_bootargs(const void *fdt);

#endif
