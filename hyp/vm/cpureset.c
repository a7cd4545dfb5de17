// SPDX-License-Identifier: MIT
// The guest-writable registers struct vcpu_sysregs does not carry, put back
// to their reset values when a vCPU starts (first load, CPU_ON): nothing a
// previous VM, a previous boot of this VM or a previous life of this vCPU
// wrote survives. Between starts they stay in the CPU, untouched by Tally
// (which uses no debug, PMU, pointer authentication or SME state at EL2), so
// the guest's values hold across every exit.
//
//   debug     breakpoint and watchpoint registers off, OS lock set (as after
//             a cold reset), double lock clear,
//             DCC interrupt enable, claim tags
//   PMU       counters, enables, overflow flags, event types, filters
//   PAuth     the five keys (zero: the guest's kernel sets its own)
//   TPIDR2    where SME exists (hidden from guests, but the register is there)
//   ICC_SRE   system-register interface on, IRQ/FIQ bypass disabled (GICv3)
//
// SVE and SME state needs nothing: both are trapped (CPTR_EL2.TZ/TSM), so a
// guest never had any.
#include <tally/sysreg.h>

#include "irq/gic.h"
#include "cpureset.h"

#define FIELD(v, shift) (((v) >> (shift)) & 0xf)

#define BP(n)                                                                                      \
    case n:                                                                                        \
        write_sysreg(dbgbcr##n##_el1, 0);                                                          \
        write_sysreg(dbgbvr##n##_el1, 0);                                                          \
        break
#define WP(n)                                                                                      \
    case n:                                                                                        \
        write_sysreg(dbgwcr##n##_el1, 0);                                                          \
        write_sysreg(dbgwvr##n##_el1, 0);                                                          \
        break

static void clear_breakpoint(unsigned n)
{
    switch (n) {
        BP(0);
        BP(1);
        BP(2);
        BP(3);
        BP(4);
        BP(5);
        BP(6);
        BP(7);
        BP(8);
        BP(9);
        BP(10);
        BP(11);
        BP(12);
        BP(13);
        BP(14);
        BP(15);
    }
}

static void clear_watchpoint(unsigned n)
{
    switch (n) {
        WP(0);
        WP(1);
        WP(2);
        WP(3);
        WP(4);
        WP(5);
        WP(6);
        WP(7);
        WP(8);
        WP(9);
        WP(10);
        WP(11);
        WP(12);
        WP(13);
        WP(14);
        WP(15);
    }
}

static void debug_reset(void)
{
    uint64_t dfr0 = read_sysreg(id_aa64dfr0_el1);
    for (unsigned n = 0; n <= FIELD(dfr0, 12); n++) /* BRPs: count - 1 */
        clear_breakpoint(n);
    for (unsigned n = 0; n <= FIELD(dfr0, 20); n++) /* WRPs: count - 1 */
        clear_watchpoint(n);
    write_sysreg(mdccint_el1, 0);
    write_sysreg(dbgclaimclr_el1, 0xff);
    write_sysreg(osdlr_el1, 0);
    write_sysreg(oslar_el1, 1); /* locked, as after a cold reset (the guest OS unlocks it) */
}

#define PMCR_P  (1ull << 1) /* reset event counters */
#define PMCR_C  (1ull << 2) /* reset the cycle counter */
#define PMCR_LC (1ull << 6) /* 64-bit cycle counter overflow */

static void pmu_reset(void)
{
    uint64_t ver = FIELD(read_sysreg(id_aa64dfr0_el1), 8);
    if (ver == 0 || ver == 0xf)
        return;
    write_sysreg(pmcr_el0, PMCR_P | PMCR_C | PMCR_LC); /* E = 0: all stopped */
    write_sysreg(pmcntenclr_el0, ~0ull);
    write_sysreg(pmintenclr_el1, ~0ull);
    write_sysreg(pmovsclr_el0, ~0ull);
    write_sysreg(pmuserenr_el0, 0);
    write_sysreg(pmccfiltr_el0, 0);
    unsigned n = (read_sysreg(pmcr_el0) >> 11) & 0x1f;
    for (unsigned i = 0; i < n; i++) {
        write_sysreg(pmselr_el0, i);
        isb();
        write_sysreg(pmxevtyper_el0, 0);
    }
    write_sysreg(pmselr_el0, 0);
}

static void pauth_reset(void)
{
    /* ISAR1 APA, API, GPA, GPI; ISAR2 GPA3, APA3. */
    if (!(read_sysreg(id_aa64isar1_el1) & 0xff000ff0ull) &&
        !(read_sysreg(id_aa64isar2_el1) & 0xff00ull))
        return;
    write_sysreg(S3_0_C2_C1_0, 0); /* APIAKeyLo_EL1 */
    write_sysreg(S3_0_C2_C1_1, 0);
    write_sysreg(S3_0_C2_C1_2, 0); /* APIBKeyLo_EL1 */
    write_sysreg(S3_0_C2_C1_3, 0);
    write_sysreg(S3_0_C2_C2_0, 0); /* APDAKeyLo_EL1 */
    write_sysreg(S3_0_C2_C2_1, 0);
    write_sysreg(S3_0_C2_C2_2, 0); /* APDBKeyLo_EL1 */
    write_sysreg(S3_0_C2_C2_3, 0);
    write_sysreg(S3_0_C2_C3_0, 0); /* APGAKeyLo_EL1 */
    write_sysreg(S3_0_C2_C3_1, 0);
}

void cpureset_el1(void)
{
    debug_reset();
    pmu_reset();
    pauth_reset();
    if (FIELD(read_sysreg(id_aa64pfr1_el1), 24))        /* SME */
        write_sysreg(S3_3_C13_C0_5, 0);                 /* TPIDR2_EL0 */
    if (FIELD(read_sysreg(id_aa64pfr0_el1), 56) >= 2) { /* FEAT_CSV2_2 */
        write_sysreg(S3_3_C13_C0_7, 0);                 /* SCXTNUM_EL0 */
        write_sysreg(S3_0_C13_C0_7, 0);                 /* SCXTNUM_EL1 */
    }
    if (gic_version() == 3)
        write_sysreg(S3_0_C12_C12_5, 0x7); /* ICC_SRE_EL1: SRE, DFB, DIB */
    isb();
}
