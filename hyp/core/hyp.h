/* SPDX-License-Identifier: MIT */
/*
 * Interfaces between the files of the EL2 runtime (hyp/). Not a contract for
 * mm/ or tests: those use include/tally/.
 */
#ifndef TALLY_HYP_H
#define TALLY_HYP_H

#include <tally/atomic.h>
#include <tally/types.h>

#define TALLY_VERSION "0.1.0"

/* Platform description: data, not #ifdefs (hyp/platform/<name>.c). */
struct platform {
    const char *name;
    const char *compatible; /* the root node's, checked at boot (a warning if absent) */
    uint64_t early_uart;    /* PL011 used before /chosen/stdout-path is read */
    uint64_t stack_va_base; /* start of the kernel-stack VA region (unmapped in RAM's range) */
    unsigned va_bits;       /* input size of the EL2 stage-1 */
    /* PSCI over SMC is known to exist even when the device tree is unreadable
     * or has no /psci node: Tally can still power off after reporting it. */
    bool psci_smc_default;
};
extern const struct platform hyp_platform;

/* Image layout (tally.lds). */
extern char _start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], _end[];

/* console/console.c */
enum console_kind { CONSOLE_PL011, CONSOLE_MINI_UART };
void console_init(enum console_kind kind, uint64_t base);
uint64_t console_base(void);
const char *console_name(void); /* "PL011" or "mini-UART" */
void console_write(const char *s, size_t n);
/* From now on console output ignores the console lock (a fatal error may be
 * reported while another CPU, or this one, holds it). */
void console_enter_fatal(void);

/* panic.c: stop every CPU after a fatal report. Powers the machine off via
 * PSCI SYSTEM_OFF (emulators and CI see the end at once) unless the boot
 * arguments say tally.panic=wait, which parks the CPUs for a debugger. */
__attribute__((noreturn)) void hyp_halt(void);
/* Serialise fatal reports: the first CPU to fail reports, others park. */
void hyp_fatal_begin(void);
extern bool hyp_panic_wait; /* from /chosen/bootargs tally.panic=wait */

/* lib/stack_chk.c */
void stack_chk_init(void);

/* head.S */
void mmu_switch(uint64_t ttbr0, uint64_t tcr, uint64_t sctlr);
__attribute__((noreturn)) void call_on_stack(uint64_t top, void (*fn)(void));
extern char secondary_entry[];
extern char spin_table_entry[]; /* reads spin_table_context (smp.c) */
extern uint64_t spin_table_context;
__attribute__((noreturn)) void smp_park(atomic_u32 *flag);
extern char hyp_vectors[];

/* at.S: PAR_EL1 of AT S1E1R (el0 false) or S1E0R of va in the EL1&0 regime
 * loaded on this CPU, the caller's PAR_EL1 kept; PAR.F set if the walk
 * faulted, an external abort on it included: exceptions.c fixes that up
 * (PAR = F | FST 0x10) and counts it in hyp_at_fixups, never fatal. */
uint64_t hyp_at_s1(uint64_t va, bool el0);
extern atomic_u64 hyp_at_fixups;

/* Clean a range to the point of coherency (a CPU with its MMU off reads it). */
void cache_clean_range(const void *p, size_t n);

#endif
