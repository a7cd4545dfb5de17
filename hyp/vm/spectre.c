// SPDX-License-Identifier: MIT
// Spectre v2, Spectre-BHB and Spectre v4 (speculative store bypass) for
// guests: the SMCCC 1.1 architecture calls (SMCCC_VERSION,
// SMCCC_ARCH_FEATURES, SMCCC_ARCH_WORKAROUND_1/2/3) answered for the CPU the
// vCPU runs on, and the mitigation behind every "implemented" answer, run on
// every exit from the guest (guest_entry.S, selected by vcpu_ctx.mitigate).
//
// Per CPU, as Linux's arch/arm64/kernel/proton-pack.c classifies it:
//   v2   unaffected with ID_AA64PFR0_EL1.CSV2 >= 1 or a core known safe
//        (A35, A53, A55); otherwise only a predictor invalidation helps,
//        which on the affected Arm cores (A57, A72, ...) only EL3 can do:
//        mitigated if the firmware implements ARCH_WORKAROUND_1, which EL2
//        then calls on every guest exit (what KVM's hyp vectors do), else
//        vulnerable.
//   BHB  unaffected with CSV2 = 3 (FEAT_CSV2_3), ECBHB, or a safe core;
//        mitigated at EL2 itself by the branch loop of the core's length
//        (8: A57, A72; 24: A76, A77, N1; 32: A78, X1, V1, N2, A710), else by
//        CLRBHB (ID_AA64ISAR2_EL1.CLRBHB), else by the firmware's
//        ARCH_WORKAROUND_3; otherwise vulnerable.
//   v4   not required with SSBS (the guest sets PSTATE.SSBS itself) or a
//        safe core; with a firmware that implements ARCH_WORKAROUND_2, Tally
//        turns the mitigation on for good on this CPU (as KVM does) and the
//        guest is told it is not required; otherwise not supported.
// A guest's ARCH_WORKAROUND_1/3 call is itself an exit, so the exit path has
// done the work when the call is answered; ARCH_WORKAROUND_2 needs nothing
// more either (permanently on, or not required).
#include <tally/arch.h>
#include <tally/sysreg.h>

#include "core/psci.h"
#include "vcpu.h"

#define SMCCC_VERSION       0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SMCCC_WORKAROUND_1  0x80008000u
#define SMCCC_WORKAROUND_2  0x80007fffu
#define SMCCC_WORKAROUND_3  0x80003fffu

#define SMCCC_SUCCESS       0
#define SMCCC_NOT_SUPPORTED (-1)
#define SMCCC_NOT_REQUIRED  (-2)
#define SMCCC_WA_UNAFFECTED 1 /* ARCH_FEATURES of WORKAROUND_1/3: not affected */

enum spectre_state { UNAFFECTED, MITIGATED, VULNERABLE };

struct spectre_cpu {
    bool known;
    enum spectre_state v2, bhb, v4;
    uint64_t mitigate; /* vcpu_ctx.mitigate: what guest_entry.S runs on exit */
};

static struct spectre_cpu cpus[TALLY_MAX_CPUS]; /* each written by its own CPU */

#define MIDR_PART(midr) ((uint32_t)(midr)&0xff00fff0u) /* implementer, part number */
#define ARM_PART(p)     (0x41000000u | ((p) << 4))

static bool midr_in(uint64_t midr, const uint16_t *parts, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (MIDR_PART(midr) == ARM_PART(parts[i]))
            return true;
    return false;
}

/* Cortex-A35, A53, A55: in-order enough for v2, BHB and v4. */
static const uint16_t safe_parts[] = {0xd04, 0xd03, 0xd05};
static const uint16_t bhb_k8[] = {0xd07, 0xd08};         /* A57, A72 */
static const uint16_t bhb_k24[] = {0xd0b, 0xd0d, 0xd0c}; /* A76, A77, N1 */
static const uint16_t bhb_k32[] = {0xd41, 0xd4b, 0xd44,
                                   0xd40, 0xd49, 0xd47}; /* A78, A78C, X1, V1, N2, A710 */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void classify(struct spectre_cpu *c)
{
    uint64_t midr = read_sysreg(midr_el1);
    uint64_t csv2 = (read_sysreg(id_aa64pfr0_el1) >> 56) & 0xf;
    uint64_t ssbs = (read_sysreg(id_aa64pfr1_el1) >> 4) & 0xf;
    uint64_t ecbhb = (read_sysreg(id_aa64mmfr1_el1) >> 60) & 0xf;
    uint64_t clrbhb = (read_sysreg(S3_0_C0_C6_2) >> 28) & 0xf; /* ID_AA64ISAR2_EL1 */
    bool safe = midr_in(midr, safe_parts, N(safe_parts));
    c->mitigate = 0;

    if (csv2 >= 1 || safe) {
        c->v2 = UNAFFECTED;
    } else if (psci_smccc_arch_features(SMCCC_WORKAROUND_1) == SMCCC_SUCCESS) {
        c->v2 = MITIGATED;
        c->mitigate |= MITIGATE_FW_WA1;
    } else {
        c->v2 = VULNERABLE;
    }

    unsigned k = midr_in(midr, bhb_k8, N(bhb_k8))     ? 8
                 : midr_in(midr, bhb_k24, N(bhb_k24)) ? 24
                 : midr_in(midr, bhb_k32, N(bhb_k32)) ? 32
                                                      : 0;
    if (csv2 >= 3 || ecbhb || safe) {
        c->bhb = UNAFFECTED;
    } else if (k) {
        c->bhb = MITIGATED;
        c->mitigate |= MITIGATE_BHB_LOOP(k);
    } else if (clrbhb) {
        c->bhb = MITIGATED;
        c->mitigate |= MITIGATE_CLRBHB;
    } else if (psci_smccc_arch_features(SMCCC_WORKAROUND_3) == SMCCC_SUCCESS) {
        c->bhb = MITIGATED;
        c->mitigate |= MITIGATE_FW_WA3;
        c->mitigate &= ~(uint64_t)MITIGATE_FW_WA1; /* WA3 invalidates the predictors too */
    } else {
        c->bhb = VULNERABLE;
    }

    if (ssbs || safe) {
        c->v4 = UNAFFECTED;
    } else if (psci_smccc_arch_features(SMCCC_WORKAROUND_2) == SMCCC_SUCCESS) {
        psci_smccc_call(SMCCC_WORKAROUND_2, 1); /* on, for EL2 and every guest */
        c->v4 = MITIGATED;
    } else {
        c->v4 = VULNERABLE;
    }
    c->known = true;
}

static struct spectre_cpu *this_cpu(void)
{
    struct spectre_cpu *c = &cpus[arch_cpu_id()];
    if (!c->known)
        classify(c);
    return c;
}

uint64_t spectre_exit_mitigation(void)
{
    return this_cpu()->mitigate;
}

static int64_t arch_features(uint32_t fid)
{
    const struct spectre_cpu *c = this_cpu();
    switch (fid) {
    case SMCCC_VERSION:
    case SMCCC_ARCH_FEATURES:
        return SMCCC_SUCCESS;
    case SMCCC_WORKAROUND_1:
        return c->v2 == UNAFFECTED  ? SMCCC_WA_UNAFFECTED
               : c->v2 == MITIGATED ? SMCCC_SUCCESS
                                    : SMCCC_NOT_SUPPORTED;
    case SMCCC_WORKAROUND_2:
        return c->v4 == VULNERABLE ? SMCCC_NOT_SUPPORTED : SMCCC_NOT_REQUIRED;
    case SMCCC_WORKAROUND_3:
        /* WORKAROUND_3 promises v2 and BHB both. */
        if (c->v2 == VULNERABLE || c->bhb == VULNERABLE)
            return SMCCC_NOT_SUPPORTED;
        return c->v2 == UNAFFECTED && c->bhb == UNAFFECTED ? SMCCC_WA_UNAFFECTED : SMCCC_SUCCESS;
    default:
        return SMCCC_NOT_SUPPORTED;
    }
}

bool spectre_smccc_handle(struct vcpu *v, uint32_t fid)
{
    uint64_t *x = v->ctx.x;
    switch (fid) {
    case SMCCC_VERSION:
        x[0] = 0x10001; /* 1.1 */
        return true;
    case SMCCC_ARCH_FEATURES:
        x[0] = (uint64_t)arch_features((uint32_t)x[1]);
        return true;
    case SMCCC_WORKAROUND_1:
    case SMCCC_WORKAROUND_3:
    case SMCCC_WORKAROUND_2:
        /* Done by the exit that brought the call here (1, 3), or for good
         * at boot (2). A guest calling one it was told is not supported
         * gets that answer again. */
        x[0] = arch_features(fid) == SMCCC_SUCCESS ? 0 : (uint64_t)(int64_t)SMCCC_NOT_SUPPORTED;
        return true;
    default:
        return false;
    }
}
