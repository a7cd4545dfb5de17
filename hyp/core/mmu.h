/* SPDX-License-Identifier: MIT */
/*
 * Tally's own address space (hyp/core/mmu.c): an EL2 stage-1 tree built by the
 * page-table engine, every table page tracked.
 *
 *   identity   RAM but no-map reserved ranges, read-write, never executable
 *              (pass-through: no refs)
 *              except the image, which is mapped by section with W^X:
 *              text R-X, rodata R--, data and .bss RW-
 *   identity   the console UART, the GIC and the power-off watchdog (if the
 *              platform has no PSCI), Device-nGnRE
 *   stacks     platform.stack_va_base + cpu * MMU_STACK_STRIDE: an unmapped
 *              guard page, then KSTACK_PAGES tracked kernel-stack pages
 *              (the mapping owns a reference to each)
 */
#ifndef TALLY_HYP_MMU_H
#define TALLY_HYP_MMU_H

#include <tally/memmap.h>
#include <tally/pgtable.h>

#include "dt.h"

#define MMU_STACK_STRIDE (16 * PAGE_SIZE)

extern struct aspace hyp_aspace;

/* Build the tree (boot CPU, boot map still on). Panics on failure: without
 * its own address space Tally cannot continue. */
void mmu_build(const struct memmap *m, const struct dt_gic *gic);
/* Allocate, map and record CPU cpu's kernel stack; fills the percpu's MMU
 * register values too (what a secondary loads before its MMU is on).
 * ERR_NOMEM if a page or a table is missing (nothing is left allocated). */
int mmu_setup_cpu(unsigned cpu);
/* Unmap and drop CPU cpu's stack (the CPU must be off). */
void mmu_free_cpu_stack(unsigned cpu);
/* a is RAM that the tree maps (in a bank, not in a no-map range). */
bool mmu_is_mapped_ram(uint64_t a);
/* Replace the boot map with the tree on this CPU. */
void mmu_enable(void);

#endif
