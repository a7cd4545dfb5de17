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
//   sve           where ID_AA64PFR0_EL1.SVE says so, at the longest vector
//                 (ZCR_EL1.LEN all ones): Z0-Z31, P0-P15 and FFR filled with
//                 a pattern per register, then 1,000 exits to the hypervisor,
//                 the registers compared every 50; otherwise RDVL is an UNDEF
//   clean-start   the debug, PMU, pointer-authentication and SVE registers
//                 hold their reset values (cpu_dirty_for_reset() writes them
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

/* ---- SVE ----------------------------------------------------------------- */

#define SVE_MAX_VL 256 /* bytes: 2048-bit vectors, the architecture's longest */
static u8 sve_z[32 * SVE_MAX_VL] __attribute__((aligned(16)));
static u8 sve_p[17 * SVE_MAX_VL / 8] __attribute__((aligned(16))); /* P0-P15, FFR */

static bool has_sve(void)
{
    return FIELD(sysreg_read(S3_0_C0_C4_0), 32) != 0;
}

#define CPACR_FPEN_ZEN ((3u << 20) | (3u << 16))

/* SVE on at EL1 and EL0, at the longest vector the hypervisor allows;
 * returns it in bytes. */
static u64 sve_enable(void)
{
    u64 vl;
    sysreg_write(cpacr_el1, sysreg_read(cpacr_el1) | CPACR_FPEN_ZEN);
    isb();
    sysreg_write(S3_0_C1_C2_0, 0xf); /* ZCR_EL1 */
    isb();
    __asm__ volatile(".arch_extension sve\n\trdvl %0, #1" : "=r"(vl));
    return vl;
}

/* Every SVE register into sve_z / sve_p (FFR after P15). P0 is restored
 * after it carried FFR. */
static void sve_store(void)
{
    __asm__ volatile(".arch_extension sve\n"
                     ".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
                     "25,26,27,28,29,30,31\n"
                     "str z\\n, [%0, #\\n, mul vl]\n"
                     ".endr\n"
                     ".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
                     "str p\\n, [%1, #\\n, mul vl]\n"
                     ".endr\n"
                     "rdffr p0.b\n"
                     "str p0, [%1, #16, mul vl]\n"
                     "ldr p0, [%1, #0, mul vl]\n" ::"r"(sve_z),
                     "r"(sve_p)
                     : "memory");
}

/* Zn: every byte n + 1. Pn: the first 3n + 1 byte lanes true. FFR: P5's. */
static void sve_fill(void)
{
    __asm__ volatile(".arch_extension sve\n"
                     ".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
                     "25,26,27,28,29,30,31\n"
                     "dup z\\n\\().b, #(\\n + 1)\n"
                     ".endr\n"
                     ".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
                     "mov x9, #(3 * \\n + 1)\n"
                     "whilelo p\\n\\().b, xzr, x9\n"
                     ".endr\n"
                     "wrffr p5.b\n" ::
                         : "x9", "memory");
}

/* The first byte where the stored registers differ from sve_fill's
 * pattern (or from zero), as 1 + its index; 0 when all match. */
static u64 sve_mismatch(u64 vl, bool zero)
{
    for (u64 n = 0; n < 32; n++)
        for (u64 i = 0; i < vl; i++)
            if (sve_z[n * vl + i] != (zero ? 0 : n + 1))
                return 1 + n * vl + i;
    u64 pl = vl / 8;
    for (u64 n = 0; n < 17; n++) {
        u64 k = zero ? 0 : n == 16 ? 16 : 3 * n + 1;
        for (u64 lane = 0; lane < vl; lane++) {
            bool bit = (sve_p[n * pl + lane / 8] >> (lane % 8)) & 1;
            if (bit != (lane < k))
                return 1 + 32 * vl + n * pl + lane / 8;
        }
    }
    return 0;
}

void cpu_check_sve(long (*exit_call)(void))
{
    if (!has_sve()) {
        tg_undefs = 0;
        tg_undef_armed = true;
        sysreg_write(cpacr_el1, sysreg_read(cpacr_el1) | CPACR_FPEN_ZEN);
        isb();
        __asm__ volatile(".arch_extension sve\n\trdvl x0, #1" ::: "x0");
        tg_undef_armed = false;
        if (tg_undefs != 1)
            tg_fail("sve", "not advertised, but RDVL did not UNDEF once:", tg_undefs);
        else
            tg_pass("sve");
        return;
    }
    u64 vl = sve_enable();
    if (vl < 16 || vl > SVE_MAX_VL || vl % 16) {
        tg_fail("sve", "vector length out of range, bytes:", (long)vl);
        return;
    }
    sve_fill();
    for (unsigned round = 0; round < 1000; round++) {
        exit_call();
        if (round % 50 != 49)
            continue;
        sve_store();
        u64 bad = sve_mismatch(vl, false);
        if (bad) {
            con_puts("testguest: sve: byte ");
            con_putu(bad - 1);
            con_puts(" of the stored registers changed\n");
            tg_fail("sve", "registers changed across exits, round", round);
            return;
        }
    }
    con_puts("testguest: sve: ");
    con_putu(vl * 8);
    con_puts("-bit vectors, Z/P/FFR kept across 1000 exits\n");
    tg_pass("sve");
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
    if (has_sve()) {
        sysreg_write(cpacr_el1, sysreg_read(cpacr_el1) | CPACR_FPEN_ZEN);
        isb();
        u64 zcr = sysreg_read(S3_0_C1_C2_0) & 0xf;
        if (zcr) {
            tg_fail("clean-start", "ZCR_EL1.LEN not reset:", (long)zcr);
            return;
        }
        u64 vl = sve_enable();
        sve_store();
        u64 bad = sve_mismatch(vl, true);
        sysreg_write(S3_0_C1_C2_0, 0);
        isb();
        if (bad) {
            tg_fail("clean-start", "SVE registers not zero at start; byte", (long)(bad - 1));
            return;
        }
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
    if (has_sve()) {
        sve_enable();
        sve_fill(); /* ZCR_EL1.LEN stays all ones too */
    }
    isb();
}
