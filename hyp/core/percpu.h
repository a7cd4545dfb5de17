/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU data of the EL2 runtime. TPIDR_EL2 of each CPU points to its own
 * entry, so arch_cpu_id() and this_cpu() are one system-register read.
 *
 * The first fields are read by hyp/core/head.S on a secondary CPU before its MMU
 * is on (the boot CPU cleans the entry to the point of coherency before
 * PSCI CPU_ON); their offsets are the PERCPU_* constants below, checked
 * against the struct at build time in smp.c.
 */
#ifndef TALLY_HYP_PERCPU_H
#define TALLY_HYP_PERCPU_H

#define PERCPU_TTBR0   0
#define PERCPU_TCR     8
#define PERCPU_MAIR    16
#define PERCPU_SCTLR   24
#define PERCPU_VBAR    32
#define PERCPU_SP      40 /* top of the tracked kernel stack (stack VA region) */
#define PERCPU_SP_EMRG 48 /* top of the emergency stack, used as SP_EL2 */
#define PERCPU_ALIGN   128

/* Emergency stack per CPU: exceptions taken at EL2 run on it (SP_EL2). */
#define EMERGENCY_STACK_SIZE 8192
/* Stack of the boot CPU until it moves onto its tracked stack. */
#define BOOT_STACK_SIZE 16384

#ifndef __ASSEMBLER__
#include <tally/arch.h>
#include <tally/atomic.h>
#include <tally/errno.h> /* page.h uses ERR_* before including it */
#include <tally/page.h>

/* Pages of each tracked kernel stack; one unmapped guard page lies below. */
#define KSTACK_PAGES 4

struct percpu {
    uint64_t ttbr0, tcr, mair, sctlr, vbar;
    uint64_t sp;
    uint64_t sp_emergency;
    unsigned id;
    uint64_t mpidr;
    /* The CPU's stack pages; the stack's mapping owns one more reference each. */
    struct kstack stack[KSTACK_PAGES];
    uint64_t stack_guard_va; /* the guard page below the stack */
    atomic_u32 online;       /* 1 once the CPU runs C on its own stack */
    atomic_u64 call;         /* smp_call(): function for this CPU to run, or 0 */
    uint64_t release_addr;   /* spin-table cpu-release-addr; 0: started by PSCI */
    atomic_u32 parked;       /* spin-table: 1 once parked for good (smp_park) */
} __attribute__((aligned(PERCPU_ALIGN)));

extern struct percpu hyp_percpu[TALLY_MAX_CPUS];
extern unsigned hyp_nr_cpus; /* CPUs described in the device tree */
extern char hyp_emergency_stacks[TALLY_MAX_CPUS][EMERGENCY_STACK_SIZE];

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mrs %0, tpidr_el2" : "=r"(p));
    return p;
}
#endif

#endif
