// SPDX-License-Identifier: MIT
// The CPU as Tally finds it and as a guest sees it (cpufeature.h).
//
// The guest's ID registers come from one table, `idregs` below: for each
// register, the fields copied from the hardware (`pass`) and the caps on
// some of them; every other field reads as 0, which for every field not
// passed means "absent". A few fields depend on the VM or on what Tally turns
// on (PARange: the VM's IPA size; GIC: its vGIC; PMUVer: whether the PMU can
// be isolated; MOPS: whether HCRX_EL2 exists to enable it) and are filled in
// by cpufeature_view_init(). docs/cpu-features.md explains every row.
//
// SVE is the guest's where the CPU has it (CPTR_EL2.TZ = 0, ZCR_EL2 at the
// CPU's longest vector; vcpu.c clears its registers at every vCPU start).
// Hidden and trapped: SME (CPTR_EL2.TSM), MTE (HCR_EL2.ATA = 0),
// AMU (CPTR_EL2.TAM), RAS error records (HCR_EL2.TERR/TEA), SPE and trace
// (MDCR_EL2.E2PB = 0, TPMS, TTRF; CPTR_EL2.TTA), the PMU where the CPU lacks
// PMUv3.5's HCCD (MDCR_EL2.TPM), IMPLEMENTATION DEFINED registers
// (HCR_EL2.TIDCP), every register whose enable lives in HCRX_EL2 but MOPS'
// (TCR2, SCTLR2, FPMR, GCS, LS64, ...), and the registers the fine-grained
// traps' "n" bits guard (POR, PIR, TPIDR2, ...). Any such access from the
// guest reaches sysreg.c, which injects an UNDEF.
#include <stdio.h>
#include <tally/errno.h>
#include <tally/pgtable.h>
#include <tally/sysreg.h>

#include "cpufeature.h"
#include "vcpu.h"

#define F(shift)        (0xfull << (shift))
#define FIELD(v, shift) (((v) >> (shift)) & 0xf)
#define IDX(crm, op2)   (((crm)-1) * 8 + (op2))

/* ---- the hardware's ID registers ---------------------------------------- */

#define RD(crm, op2)                                                                               \
    case IDX(crm, op2):                                                                            \
        return read_sysreg(S3_0_C0_C##crm##_##op2)

/* Only registers the table passes something of are read: the rest of the
 * space is reserved (RAZ) or hidden whole. */
static uint64_t hw_idreg(unsigned idx)
{
    switch (idx) {
        RD(1, 0);
        RD(1, 1);
        RD(1, 2);
        RD(1, 4);
        RD(1, 5);
        RD(1, 6);
        RD(1, 7);
        RD(2, 0);
        RD(2, 1);
        RD(2, 2);
        RD(2, 3);
        RD(2, 4);
        RD(2, 5);
        RD(2, 6);
        RD(2, 7);
        RD(3, 0);
        RD(3, 1);
        RD(3, 2);
        RD(3, 4);
        RD(3, 6);
        RD(4, 0);
        RD(4, 1);
        RD(4, 4);
        RD(5, 0);
        RD(6, 0);
        RD(6, 1);
        RD(6, 2);
        RD(7, 0);
        RD(7, 1);
        RD(7, 2);
    default:
        return 0;
    }
}

struct idreg_cap {
    uint8_t shift, max; /* the field reads as min(hardware, max) */
};

struct idreg_desc {
    const char *name;
    bool aarch32;  /* only when EL0 can run AArch32, else all 0 */
    uint64_t pass; /* fields copied from the hardware */
    struct idreg_cap cap[2];
};

/* Fields filled in by cpufeature_view_init(), not by the table. */
#define PFR0_GIC        24
#define PFR0_SVE        32
#define DFR0_PMUVER     8
#define ISAR2_MOPS      16
#define MMFR0_PARANGE   0
#define ID_PFR1_GIC     28
#define ID_DFR0_PERFMON 24

#define ALL32 0xffffffffull

static const struct idreg_desc idregs[IDREG_COUNT] = {
    /* AArch32 EL0 (HCR_EL2.RW: EL1 is AArch64 only). */
    [IDX(1, 0)] = {"ID_PFR0_EL1", true, ALL32 & ~(F(28) /* RAS */ | F(20) /* AMU */)},
    [IDX(1, 1)] = {"ID_PFR1_EL1", true,
                   F(0) /* ProgMod */ | F(8) /* MProgMod */ | F(16) /* GenTimer */},
    [IDX(1, 2)] = {"ID_DFR0_EL1", true, F(0) | F(4) | F(8) /* CopDbg, CopSDbg, MMapDbg */ | F(20)},
    [IDX(1, 4)] = {"ID_MMFR0_EL1", true, ALL32},
    [IDX(1, 5)] = {"ID_MMFR1_EL1", true, ALL32},
    [IDX(1, 6)] = {"ID_MMFR2_EL1", true, ALL32},
    [IDX(1, 7)] = {"ID_MMFR3_EL1", true, ALL32},
    [IDX(2, 0)] = {"ID_ISAR0_EL1", true, ALL32},
    [IDX(2, 1)] = {"ID_ISAR1_EL1", true, ALL32},
    [IDX(2, 2)] = {"ID_ISAR2_EL1", true, ALL32},
    [IDX(2, 3)] = {"ID_ISAR3_EL1", true, ALL32},
    [IDX(2, 4)] = {"ID_ISAR4_EL1", true, ALL32},
    [IDX(2, 5)] = {"ID_ISAR5_EL1", true, ALL32},
    [IDX(2, 6)] = {"ID_MMFR4_EL1", true, ALL32},
    [IDX(2, 7)] = {"ID_ISAR6_EL1", true, ALL32},
    [IDX(3, 0)] = {"MVFR0_EL1", true, ALL32},
    [IDX(3, 1)] = {"MVFR1_EL1", true, ALL32},
    [IDX(3, 2)] = {"MVFR2_EL1", true, ALL32},
    [IDX(3, 4)] = {"ID_PFR2_EL1", true, F(0) /* CSV3 */ | F(4) /* SSBS */},
    [IDX(3, 6)] = {"ID_MMFR5_EL1", true, ALL32},
    /* AArch64. */
    [IDX(4, 0)] = {"ID_AA64PFR0_EL1",
                   false,
                   F(0) | F(4) /* EL0, EL1 */ | F(16) | F(20) /* FP, AdvSIMD */ | F(48) /* DIT */ |
                       F(56) | F(60) /* CSV2, CSV3 */,
                   {{4, 1} /* EL1: AArch64 only */}},
    [IDX(4, 1)] = {"ID_AA64PFR1_EL1", false,
                   F(0) /* BT */ | F(4) /* SSBS */ | F(32) /* CSV2_frac */},
    /* SVE's instruction sets: all of it, where SVE is given (else 0). */
    [IDX(4, 4)] = {"ID_AA64ZFR0_EL1", false, ~0ull},
    [IDX(5, 0)] = {"ID_AA64DFR0_EL1", false,
                   F(0) /* DebugVer */ | F(12) /* BRPs */ | F(20) /* WRPs */ |
                       F(28) /* CTX_CMPs */ | F(36) /* DoubleLock */},
    [IDX(6, 0)] = {"ID_AA64ISAR0_EL1", false, ~0ull & ~F(24) /* TME */},
    [IDX(6, 1)] = {"ID_AA64ISAR1_EL1", false, ~0ull & ~F(60) /* LS64 */},
    [IDX(6, 2)] = {"ID_AA64ISAR2_EL1", false,
                   F(0) /* WFxT */ | F(4) /* RPRES */ | F(8) /* GPA3 */ | F(12) /* APA3 */ |
                       F(20) /* BC */ | F(24) /* PAC_frac */ | F(28) /* CLRBHB */ |
                       F(40) /* PRFMSLC */ | F(48) /* RPRFM */ | F(52) /* CSSC */},
    [IDX(7, 0)] = {"ID_AA64MMFR0_EL1",
                   false,
                   F(4) /* ASIDBits */ | F(8) /* BigEnd */ | F(16) /* BigEndEL0 */ | F(20) | F(24) |
                       F(28) /* TGran16, TGran64, TGran4 */ | F(44) /* ExS */ | F(60) /* ECV */,
                   {{60, 1} /* ECV: self-synchronised counter reads only */}},
    [IDX(7, 1)] = {"ID_AA64MMFR1_EL1", false,
                   F(0) /* HAFDBS */ | F(12) /* HPDS */ | F(16) /* LO */ | F(20) /* PAN */ |
                       F(36) /* ETS */ | F(44) /* AFP */ | F(48) /* nTLBPA */ | F(60) /* ECBHB */},
    [IDX(7, 2)] = {"ID_AA64MMFR2_EL1", false,
                   F(0) /* CnP */ | F(4) /* UAO */ | F(8) /* LSM */ | F(12) /* IESB */ |
                       F(16) /* VARange */ | F(20) /* CCIDX */ | F(28) /* ST */ | F(32) /* AT */ |
                       F(36) /* IDS */ | F(48) /* TTL */ | F(52) /* BBM */ | F(60) /* E0PD */},
};

static uint64_t apply_caps(uint64_t v, const struct idreg_desc *d)
{
    for (unsigned i = 0; i < 2; i++) {
        const struct idreg_cap *c = &d->cap[i];
        if (c->max == 0 && c->shift == 0)
            continue;
        if (FIELD(v, c->shift) > c->max)
            v = (v & ~F(c->shift)) | ((uint64_t)c->max << c->shift);
    }
    return v;
}

/* ---- capabilities -------------------------------------------------------- */

static uint64_t pmuver(void)
{
    return FIELD(read_sysreg(id_aa64dfr0_el1), 8);
}

static bool cpu_has_pmu(void)
{
    uint64_t p = pmuver();
    return p != 0 && p != 0xf; /* 0xf: IMPLEMENTATION DEFINED, not PMUv3 */
}

bool cpufeature_guest_pmu(void)
{
    return cpu_has_pmu() && pmuver() >= 6; /* PMUv3.5: MDCR_EL2.HCCD */
}

static bool cpu_has_hcx(void)
{
    return FIELD(read_sysreg(id_aa64mmfr1_el1), 40) != 0;
}

static unsigned cpu_fgt(void)
{
    return FIELD(read_sysreg(id_aa64mmfr0_el1), 56); /* 1: FGT, 2: FGT2 */
}

static bool cpu_has_amu(void)
{
    return FIELD(read_sysreg(id_aa64pfr0_el1), 44) != 0;
}

static bool cpu_has_ras(void)
{
    return FIELD(read_sysreg(id_aa64pfr0_el1), 28) != 0;
}

bool cpufeature_guest_sve(void)
{
    return FIELD(read_sysreg(id_aa64pfr0_el1), PFR0_SVE) != 0;
}

unsigned cpufeature_sve_max_vl(void)
{
    uint64_t vl;
    __asm__ volatile(".arch_extension sve\n\trdvl %0, #1" : "=r"(vl));
    return (unsigned)vl;
}

bool cpufeature_guest_mops(void)
{
    return cpu_has_hcx() && FIELD(read_sysreg(id_aa64isar2_el1), ISAR2_MOPS) != 0;
}

/* ---- stage 2 ------------------------------------------------------------- */

int cpufeature_stage2(struct stage2_geometry *g, char *why, size_t len)
{
    static const unsigned pa_bits[] = {32, 36, 40, 42, 44, 48, 52};
    uint64_t mmfr0 = read_sysreg(id_aa64mmfr0_el1), mmfr1 = read_sysreg(id_aa64mmfr1_el1);
    uint64_t parange = ID_AA64MMFR0_PARANGE(mmfr0);
    unsigned tgran4 = FIELD(mmfr0, 28), tgran4_2 = FIELD(mmfr0, 40);
    bool s2_4k = tgran4_2 >= 2 || (tgran4_2 == 0 && tgran4 != 0xf);
    if (!s2_4k) {
        snprintf(why, len, "this CPU has no 4 KiB stage-2 granule (ID_AA64MMFR0_EL1 0x%lx)", mmfr0);
        return ERR_NOTSUP;
    }
    if (parange > 5)
        parange = 5; /* 48 bits: Tally's tables use no 52-bit descriptors */
    unsigned pa = pa_bits[parange];
    /* A 4 KiB stage 2 starts at level 0 only with PARange >= 44 bits, and
     * Tally's tables have no concatenated roots: below that, one level-1
     * table, whose 39 bits are cut to the PARange value below them so the
     * guest's own PARange tells the truth. */
    g->ipa_bits = pa >= 44 ? 40 : pa >= 36 ? 36 : 32;
    g->vtcr_ps = parange;
    g->vmid16 = FIELD(mmfr1, 4) == 2;
    return ERR_OK;
}

static uint64_t vtcr_value(const struct stage2_geometry *g, uint64_t t0sz_sl0)
{
    uint64_t vtcr = t0sz_sl0 | (1ull << 8) /* IRGN0 WBWA */ | (1ull << 10) /* ORGN0 WBWA */ |
                    (3ull << 12) /* SH0 inner */ | (g->vtcr_ps << 16) | (1ull << 31) /* RES1 */;
    if (g->vmid16)
        vtcr |= 1ull << 19; /* VS */
    return vtcr;
}

uint64_t cpufeature_vtcr(const struct stage2_geometry *g, uint64_t t0sz_sl0)
{
    return vtcr_value(g, t0sz_sl0);
}

/* ---- EL2 controls -------------------------------------------------------- */

#define HCR_TID3  (1ull << 18)
#define HCR_TIDCP (1ull << 20)
#define HCR_TERR  (1ull << 36)
#define HCR_TEA   (1ull << 37)

uint64_t cpufeature_hcr(void)
{
    uint64_t h = HCR_GUEST | HCR_TID3 | HCR_TIDCP;
    if (cpu_has_s2fwb())
        h |= HCR_FWB;
    uint64_t isar1 = read_sysreg(id_aa64isar1_el1);
    /* APA [7:4], API [11:8], GPA [27:24], GPI [31:28]: any pointer auth. */
    if (!(isar1 & 0xff000ff0ull))
        h &= ~(HCR_APK | HCR_API);
    if (cpu_has_ras())
        h |= HCR_TERR | HCR_TEA;
    /* CSV2 >= 2 (FEAT_CSV2_2) is given as the hardware has it, so its
     * SCXTNUM_EL0/EL1 are the guest's too (cleared at every vCPU start).
     * Capping CSV2 at 1 instead made Linux on -cpu max (CSV2 = 3) report
     * "Mitigation: CSV2, but not BHB" where bare QEMU says "Not affected". */
    if (FIELD(read_sysreg(id_aa64pfr0_el1), 56) >= 2)
        h |= HCR_ENSCXT;
    return h;
}

#define MDCR_TPMCR (1ull << 5)
#define MDCR_TPM   (1ull << 6)
#define MDCR_TPMS  (1ull << 14)
#define MDCR_HPMD  (1ull << 17)
#define MDCR_TTRF  (1ull << 19)
#define MDCR_HCCD  (1ull << 23)

/*
 * The guest owns the PMU only with PMUv3.5: HPMD stops event counting and
 * HCCD the cycle counter at EL2 whatever the guest writes to PMCR_EL0.DP or
 * the filters. Before it (HPMD alone leaves the cycle counter running at EL2
 * unless PMCR_EL0.DP, which the guest owns) the PMU is trapped whole and
 * reads as absent, which is what KVM gives a VM without a configured PMU.
 * SPE and trace are trapped (E2PB = 0, E2TB = 0, TPMS, TTRF); debug
 * registers are the guest's (reset by vcpu_load, never used by Tally).
 */
uint64_t cpufeature_mdcr(void)
{
    uint64_t dfr0 = read_sysreg(id_aa64dfr0_el1), m = 0;
    if (cpu_has_pmu()) {
        m |= (read_sysreg(pmcr_el0) >> 11) & 0x1f; /* HPMN = PMCR_EL0.N */
        if (pmuver() >= 4)
            m |= MDCR_HPMD;
        if (cpufeature_guest_pmu())
            m |= MDCR_HCCD;
        else
            m |= MDCR_TPM | MDCR_TPMCR;
    }
    if (FIELD(dfr0, 32)) /* PMSVer */
        m |= MDCR_TPMS;
    if (FIELD(dfr0, 40)) /* TraceFilt */
        m |= MDCR_TTRF;
    return m;
}

/* CPTR_EL2 (non-VHE): FP/SIMD and SVE free; SME (TSM), trace (TTA) and
 * activity monitors (TAM) trapped. TZ and TSM are RES1 without the feature. */
#define CPTR_EL2_RES1 0x22ffull
#define CPTR_EL2_TZ   (1ull << 8)
#define CPTR_EL2_TSM  (1ull << 12)
#define CPTR_EL2_TTA  (1ull << 20)
#define CPTR_EL2_TAM  (1ull << 30)

uint64_t cpufeature_cptr(void)
{
    uint64_t c = CPTR_EL2_RES1 | CPTR_EL2_TZ | CPTR_EL2_TSM | CPTR_EL2_TTA;
    if (cpufeature_guest_sve())
        c &= ~CPTR_EL2_TZ;
    if (cpu_has_amu())
        c |= CPTR_EL2_TAM;
    return c;
}

#define HCRX_MSCEN (1ull << 11)

/* HCRX_EL2: only FEAT_MOPS is enabled (MSCEn); its exceptions go to the
 * guest's EL1 (MCE2 = 0). Every other enable stays 0, so TCR2, SCTLR2, FPMR,
 * GCS, LS64, NMI and the rest trap or UNDEF and read as absent. */
static uint64_t hcrx_value(void)
{
    return cpufeature_guest_mops() ? HCRX_MSCEN : 0;
}

void cpufeature_guest_traps_load(void)
{
    if (cpu_has_hcx())
        write_sysreg(S3_4_C1_C2_2, hcrx_value()); /* HCRX_EL2 */
    unsigned fgt = cpu_fgt();
    if (fgt == 0)
        return;
    /* Fine-grained traps: none of the positive ones; every "n" bit (a
     * register of a feature Tally hides: POR, PIR, TPIDR2, SMPRI, GCS,
     * ACCDATA, BRBE, SPE's) is 0 and so traps to EL2 and an UNDEF. */
    write_sysreg(S3_4_C1_C1_4, 0); /* HFGRTR_EL2 */
    write_sysreg(S3_4_C1_C1_5, 0); /* HFGWTR_EL2 */
    write_sysreg(S3_4_C1_C1_6, 0); /* HFGITR_EL2 */
    write_sysreg(S3_4_C3_C1_4, 0); /* HDFGRTR_EL2 */
    write_sysreg(S3_4_C3_C1_5, 0); /* HDFGWTR_EL2 */
    if (cpu_has_amu())
        write_sysreg(S3_4_C3_C1_6, 0); /* HAFGRTR_EL2 */
    if (fgt >= 2) {
        write_sysreg(S3_4_C3_C1_0, 0); /* HDFGRTR2_EL2 */
        write_sysreg(S3_4_C3_C1_1, 0); /* HDFGWTR2_EL2 */
        write_sysreg(S3_4_C3_C1_2, 0); /* HFGRTR2_EL2 */
        write_sysreg(S3_4_C3_C1_3, 0); /* HFGWTR2_EL2 */
        write_sysreg(S3_4_C3_C1_7, 0); /* HFGITR2_EL2 */
    }
}

void cpufeature_el2_init(void)
{
    char why[8];
    struct stage2_geometry g;
    write_sysreg(hcr_el2, HCR_RW);
    write_sysreg(cptr_el2, cpufeature_cptr());
    if (cpufeature_guest_sve())
        write_sysreg(S3_4_C1_C2_0, 0xf); /* ZCR_EL2.LEN: the CPU's longest vector */
    write_sysreg(mdcr_el2, cpufeature_mdcr());
    write_sysreg(hstr_el2, 0);  /* no AArch32 EL1: nothing to trap */
    write_sysreg(actlr_el2, 0); /* no EL1 access to IMPLEMENTATION DEFINED controls */
    cpufeature_guest_traps_load();
    uint64_t midr = read_sysreg(midr_el1), mpidr = read_sysreg(mpidr_el1);
    write_sysreg(vpidr_el2, midr);
    write_sysreg(vmpidr_el2, mpidr);
    /* The stage-2 geometry every VM gets (vm.c), with no table yet:
     * HCR_EL2.VM is 0 until a vCPU loads. */
    uint64_t vtcr = 0;
    if (cpufeature_stage2(&g, why, sizeof(why)) == ERR_OK) {
        unsigned level = pt_start_level(g.ipa_bits);
        vtcr = vtcr_value(&g, (64ull - g.ipa_bits) | ((uint64_t)(2 - level) << 6));
    }
    write_sysreg(vtcr_el2, vtcr);
    write_sysreg(vttbr_el2, 0);
    isb();
}

/* ---- the guest's view ---------------------------------------------------- */

static const uint8_t ipa_parange[] = {[32] = 0, [36] = 1, [40] = 2};

void cpufeature_view_init(struct idreg_view *view, unsigned gic_version)
{
    bool aarch32_el0 = FIELD(read_sysreg(id_aa64pfr0_el1), 0) == 2;
    for (unsigned i = 0; i < IDREG_COUNT; i++) {
        const struct idreg_desc *d = &idregs[i];
        view->val[i] = 0;
        if (!d->pass || (d->aarch32 && !aarch32_el0))
            continue;
        view->val[i] = apply_caps(hw_idreg(i) & d->pass, d);
    }
    struct stage2_geometry g;
    char why[8];
    if (cpufeature_stage2(&g, why, sizeof(why)) == ERR_OK)
        view->val[IDX(7, 0)] |= (uint64_t)ipa_parange[g.ipa_bits] << MMFR0_PARANGE;
    if (gic_version == 3) {
        view->val[IDX(4, 0)] |= 1ull << PFR0_GIC;
        if (aarch32_el0)
            view->val[IDX(1, 1)] |= 1ull << ID_PFR1_GIC;
    }
    if (cpufeature_guest_sve())
        view->val[IDX(4, 0)] |= hw_idreg(IDX(4, 0)) & F(PFR0_SVE);
    else
        view->val[IDX(4, 4)] = 0;
    if (cpufeature_guest_pmu()) {
        view->val[IDX(5, 0)] |= pmuver() << DFR0_PMUVER;
        if (aarch32_el0)
            view->val[IDX(1, 2)] |= hw_idreg(IDX(1, 2)) & F(ID_DFR0_PERFMON);
    }
    if (cpufeature_guest_mops())
        view->val[IDX(6, 2)] |= (uint64_t)FIELD(read_sysreg(id_aa64isar2_el1), ISAR2_MOPS)
                                << ISAR2_MOPS;
}

struct hidden_feature {
    const char *name;
    uint8_t crm, op2, shift; /* the hardware field that says the CPU has it */
};

static const struct hidden_feature hidden[] = {
    {"SVE", 4, 0, 32}, {"SME", 4, 1, 24},  {"MTE", 4, 1, 8},   {"AMU", 4, 0, 44},
    {"RAS", 4, 0, 28}, {"SPE", 5, 0, 32},  {"trace", 5, 0, 4}, {"MPAM", 4, 0, 40},
    {"TME", 6, 0, 24}, {"LS64", 6, 1, 60}, {"GCS", 4, 1, 44},
};

void cpufeature_print(unsigned vm_id, const struct stage2_geometry *g)
{
    char list[96] = "";
    size_t n = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(hidden); i++) {
        const struct hidden_feature *h = &hidden[i];
        uint64_t hw = 0;
        switch (IDX(h->crm, h->op2)) {
        case IDX(4, 0):
            hw = read_sysreg(id_aa64pfr0_el1);
            break;
        case IDX(4, 1):
            hw = read_sysreg(id_aa64pfr1_el1);
            break;
        case IDX(5, 0):
            hw = read_sysreg(id_aa64dfr0_el1);
            break;
        case IDX(6, 0):
            hw = read_sysreg(id_aa64isar0_el1);
            break;
        case IDX(6, 1):
            hw = read_sysreg(id_aa64isar1_el1);
            break;
        }
        if (h->shift == PFR0_SVE && IDX(h->crm, h->op2) == IDX(4, 0) && cpufeature_guest_sve())
            continue;
        if (FIELD(hw, h->shift) && n < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, " %s", h->name);
    }
    char sve[32] = "absent";
    if (cpufeature_guest_sve())
        snprintf(sve, sizeof(sve), "given (%u-bit vectors)", cpufeature_sve_max_vl() * 8);
    printf("tally: VM %u: guest CPU: IPA %u bits (stage 2 from level %u), %u-bit VMIDs, PMU %s, "
           "MOPS %s, SVE %s; hidden:%s\n",
           vm_id, g->ipa_bits, pt_start_level(g->ipa_bits), g->vmid16 ? 16 : 8,
           cpufeature_guest_pmu() ? "given"
           : cpu_has_pmu()        ? "hidden"
                                  : "absent",
           cpufeature_guest_mops() ? "given" : "absent", sve, n ? list : " none");
}
