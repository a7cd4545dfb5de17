/* SPDX-License-Identifier: MIT */
/*
 * Device-tree lookups of the EL2 runtime beyond the memory map (which is
 * hyp/core/memmap.c): the console UART, the GIC, a node's reg. Addresses are
 * taken as the parent's #address-cells/#size-cells say; `ranges`
 * translation is not applied (QEMU virt puts its devices at the root).
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

/* Entry idx of node's reg. False if absent or malformed. */
bool dt_reg(const void *fdt, int node, unsigned idx, uint64_t *base, uint64_t *size);
/* The PL011 that /chosen/stdout-path (or an alias it names) points to. */
bool dt_stdout_pl011(const void *fdt, uint64_t *base, uint64_t *size);
/* The interrupt controller: arm,gic-v3, or arm,cortex-a15-gic / arm,gic-400 /
 * arm,cortex-a7-gic (GICv2). */
void dt_gic(const void *fdt, struct dt_gic *g);
/* /chosen/bootargs, or NULL. */
const char *dt_bootargs(const void *fdt);

#endif
