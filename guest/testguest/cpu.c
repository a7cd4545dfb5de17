// SPDX-License-Identifier: MIT
// The CPU as the guest sees it.
//
//   id-registers  (under Tally) every encoding of the ID space against
//                 docs/cpu-features.md, through idregs.h, which
//                 scripts/idregs-from-doc generates from that table: no field
//                 outside the table is non-zero, no field passes its cap,
//                 the AArch32 registers are 0 unless EL0 has AArch32, and
//                 PARange covers the guest's RAM
//   mops          where ID_AA64ISAR2_EL1.MOPS says so: 1,000 rounds of a
//                 4 KiB SETP/SETM/SETE and CPYP/CPYM/CPYE, each followed by
//                 an exit to the hypervisor, with memory and the
//                 instructions' register results checked every round;
//                 otherwise the three CPY instructions are each an UNDEF
//   clean-start   the debug, PMU and pointer-authentication registers hold
//                 their reset values (cpu_dirty_for_reset() writes them
//                 before a SYSTEM_RESET, so the reset loop proves they do not
//                 survive one)
#include "testguest.h"

struct idreg_expect {
    char name[20];
    u8 crm, op2, aarch32;
    u64 allowed;
    struct {
        u8 shift, max; /* max 15: no cap */
    } cap[4];
};

#include "idregs.h"

#define FIELD(v, shift) (((v) >> (shift)) & 0xf)
#define NR_EXPECT       (sizeof(idreg_expect) / sizeof(idreg_expect[0]))

static unsigned expect_index(unsigned i)
{
    return (unsigned)(idreg_expect[i].crm - 1) * 8 + idreg_expect[i].op2;
}

#define RD(crm, op2)                                                                               \
    case ((crm)-1) * 8 + (op2):                                                                    \
        return sysreg_read(S3_0_C0_C##crm##_##op2)
#define RD8(crm)                                                                                   \
    RD(crm, 0);                                                                                    \
    RD(crm, 1);                                                                                    \
    RD(crm, 2);                                                                                    \
    RD(crm, 3);                                                                                    \
    RD(crm, 4);                                                                                    \
    RD(crm, 5);                                                                                    \
    RD(crm, 6);                                                                                    \
    RD(crm, 7)

static u64 idreg_read(unsigned idx)
{
    switch (idx) {
        RD8(1);
        RD8(2);
        RD8(3);
        RD8(4);
        RD8(5);
        RD8(6);
        RD8(7);
    }
    return 0;
}

static void idreg_fail(const char *what, unsigned idx, u64 v)
{
    con_puts("testguest: ID register S3_0_C0_C");
    con_putu(idx / 8 + 1);
    con_puts("_");
    con_putu(idx % 8);
    for (unsigned i = 0; i < NR_EXPECT; i++)
        if (expect_index(i) == idx) {
            con_puts(" (");
            con_puts(idreg_expect[i].name);
            con_puts(")");
        }
    con_puts(" = ");
    con_puthex(v);
    con_puts("\n");
    tg_fail("id-registers", what, (long)idx);
}

void cpu_check_idregs(u64 ram_end)
{
    bool aarch32_el0 = FIELD(sysreg_read(S3_0_C0_C4_0), 0) == 2;
    for (unsigned idx = 0; idx < 56; idx++) {
        const struct idreg_expect *e = NULL;
        for (unsigned i = 0; i < NR_EXPECT; i++)
            if (expect_index(i) == idx)
                e = &idreg_expect[i];
        u64 v = idreg_read(idx), allowed = e ? e->allowed : 0;
        if (e && e->aarch32 && !aarch32_el0)
            allowed = 0;
        if (v & ~allowed) {
            idreg_fail("a field the docs say reads 0 is set; index", idx, v);
            return;
        }
        for (unsigned c = 0; e && c < 4; c++)
            if (FIELD(v, e->cap[c].shift) > e->cap[c].max) {
                idreg_fail("a field passes its documented cap; index", idx, v);
                return;
            }
    }
    static const u8 pa_bits[] = {32, 36, 40};
    u64 parange = FIELD(sysreg_read(S3_0_C0_C7_0), 0);
    if (parange > 2 || ram_end > (1ULL << pa_bits[parange])) {
        tg_fail("id-registers", "PARange does not cover the RAM:", (long)parange);
        return;
    }
    con_puts("testguest: PARange ");
    con_putu(pa_bits[parange]);
    con_puts(" bits, MOPS ");
    con_puts(FIELD(sysreg_read(S3_0_C0_C6_2), 16) ? "advertised" : "absent");
    con_puts(", PMUVer ");
    con_putu(FIELD(sysreg_read(S3_0_C0_C5_0), 8));
    con_puts("\n");
    tg_pass("id-registers");
}

/* ---- MOPS ---------------------------------------------------------------- */

#define MOPS_SIZE 4096
static u8 mops_src[MOPS_SIZE] __attribute__((aligned(64)));
static u8 mops_dst[MOPS_SIZE] __attribute__((aligned(64)));

struct mops_regs {
    u64 d, s, n;
};

static struct mops_regs mops_set(u8 *d, u64 n, u64 byte)
{
    __asm__ volatile(".arch_extension mops\n\t"
                     "setp [%0]!, %1!, %2\n\t"
                     "setm [%0]!, %1!, %2\n\t"
                     "sete [%0]!, %1!, %2"
                     : "+r"(d), "+r"(n)
                     : "r"(byte)
                     : "memory", "cc");
    return (struct mops_regs){(u64)d, 0, n};
}

static struct mops_regs mops_cpy(u8 *d, const u8 *s, u64 n)
{
    __asm__ volatile(".arch_extension mops\n\t"
                     "cpyp [%0]!, [%1]!, %2!\n\t"
                     "cpym [%0]!, [%1]!, %2!\n\t"
                     "cpye [%0]!, [%1]!, %2!"
                     : "+r"(d), "+r"(s), "+r"(n)
                     :
                     : "memory", "cc");
    return (struct mops_regs){(u64)d, (u64)s, n};
}

void cpu_check_mops(long (*exit_call)(void))
{
    if (!FIELD(sysreg_read(S3_0_C0_C6_2), 16)) {
        /* Not advertised: each of CPYP/CPYM/CPYE is UNDEFINED. */
        mops_dst[0] = 0x5a;
        tg_undefs = 0;
        tg_undef_armed = true;
        mops_cpy(mops_dst, mops_src, 64);
        tg_undef_armed = false;
        if (tg_undefs != 3 || mops_dst[0] != 0x5a)
            tg_fail("mops", "not advertised, but CPY* did not UNDEF 3 times:", tg_undefs);
        else
            tg_pass("mops");
        return;
    }
    for (unsigned round = 0; round < 1000; round++) {
        u8 b = (u8)(round * 7 + 1);
        struct mops_regs r = mops_set(mops_src, MOPS_SIZE, b);
        if (r.d != (u64)mops_src + MOPS_SIZE || r.n != 0) {
            tg_fail("mops", "SETE left wrong registers in round", round);
            return;
        }
        r = mops_cpy(mops_dst, mops_src, MOPS_SIZE);
        if (r.d != (u64)mops_dst + MOPS_SIZE || r.s != (u64)mops_src + MOPS_SIZE || r.n != 0) {
            tg_fail("mops", "CPYE left wrong registers in round", round);
            return;
        }
        exit_call(); /* leave the guest and come back */
        for (unsigned i = 0; i < MOPS_SIZE; i++)
            if (mops_dst[i] != b) {
                tg_fail("mops", "copied byte wrong in round", round);
                return;
            }
    }
    tg_pass("mops");
}

/* ---- state across a reset ------------------------------------------------ */

static bool has_pauth(void)
{
    /* ID_AA64ISAR1_EL1 APA, API, GPA, GPI; ISAR2 GPA3, APA3. */
    return (sysreg_read(S3_0_C0_C6_1) & 0xff000ff0ULL) || (sysreg_read(S3_0_C0_C6_2) & 0xff00ULL);
}

static bool has_pmu(void)
{
    u64 v = FIELD(sysreg_read(S3_0_C0_C5_0), 8);
    return v != 0 && v != 0xf;
}

#define OSLSR_OSLK (1u << 1)

void cpu_check_clean_start(void)
{
    if (sysreg_read(dbgbcr0_el1) & 1 || sysreg_read(dbgbvr0_el1) || sysreg_read(dbgwcr0_el1) & 1 ||
        sysreg_read(dbgwvr0_el1)) {
        tg_fail("clean-start", "breakpoint/watchpoint 0 not reset; DBGBVR0",
                (long)sysreg_read(dbgbvr0_el1));
        return;
    }
    if (!(sysreg_read(oslsr_el1) & OSLSR_OSLK)) {
        tg_fail("clean-start", "the OS lock is not set as after a cold reset; OSLSR",
                (long)sysreg_read(oslsr_el1));
        return;
    }
    if (has_pauth() && (sysreg_read(S3_0_C2_C1_0) || sysreg_read(S3_0_C2_C3_0))) {
        tg_fail("clean-start", "pointer-authentication keys not reset; APIAKeyLo",
                (long)sysreg_read(S3_0_C2_C1_0));
        return;
    }
    if (has_pmu() && (sysreg_read(pmccfiltr_el0) || sysreg_read(pmcntenset_el0) ||
                      sysreg_read(pmuserenr_el0) || (sysreg_read(pmcr_el0) & 1))) {
        tg_fail("clean-start", "PMU not reset; PMCCFILTR", (long)sysreg_read(pmccfiltr_el0));
        return;
    }
    tg_pass("clean-start");
}

void cpu_dirty_for_reset(void)
{
    sysreg_write(dbgbvr0_el1, 0x40001000ULL);
    sysreg_write(dbgwvr0_el1, 0x40002000ULL);
    sysreg_write(oslar_el1, 0); /* unlock, as an OS does */
    if (has_pauth()) {
        sysreg_write(S3_0_C2_C1_0, 0x1234567890abcdefULL);
        sysreg_write(S3_0_C2_C3_0, 0xfedcba0987654321ULL);
    }
    if (has_pmu()) {
        sysreg_write(pmccfiltr_el0, 1u << 31);
        sysreg_write(pmcntenset_el0, 1u << 31);
        sysreg_write(pmuserenr_el0, 1);
    }
    isb();
}
