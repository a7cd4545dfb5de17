// SPDX-License-Identifier: MIT
// The per-CPU Spectre decision (spectre_policy.h), a pure function of the
// CPU's identity, its ID registers and the firmware's answers, so that the
// host tests can hold every case to an exact answer.
//
// Each of v2, BHB and v4 is classified the way Linux's
// arch/arm64/kernel/proton-pack.c classifies it: hardware first, then the
// firmware, whose answers are read as Linux reads them:
//   WA1, WA3:  0 implemented (mitigated), 1 not affected, anything else
//              (-1, -2, ...) vulnerable;
//   WA2:       0 implemented, dynamic (mitigated), 1 or -2 (NOT_REQUIRED)
//              not affected, anything else vulnerable.
// What a guest is told is what KVM tells it for the same state, so that a
// Linux guest classifies itself exactly as it would on the bare CPU:
//   WA1:  unaffected 1, mitigated 0, vulnerable -1;
//   WA3:  promises v2 and BHB together: 1 if both unaffected, -1 if either
//         is vulnerable, else 0;
//   WA2:  unaffected, or mitigated by the firmware (turned on for good,
//         fw_ssbd_on) -2 NOT_REQUIRED; with SSBS -1, as KVM answers: the
//         guest sees SSBS in its ID registers and sets PSTATE.SSBS itself,
//         and a firmware call would add nothing; vulnerable -1.
#include "spectre_policy.h"

#define MIDR_PART(midr) ((uint32_t)(midr)&0xff00fff0u) /* implementer, part number */
#define ARM(p)          (0x41000000u | ((p) << 4))
#define AMPERE(p)       (0xc0000000u | ((p) << 4))

static bool midr_in(uint64_t midr, const uint32_t *parts, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (MIDR_PART(midr) == parts[i])
            return true;
    return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Cortex-A35, A53, A55: in-order enough for v2, BHB and v4. */
static const uint32_t safe_parts[] = {ARM(0xd04), ARM(0xd03), ARM(0xd05)};
/* Also safe from BHB: Cortex-A510, A520. */
static const uint32_t bhb_safe_parts[] = {ARM(0xd46), ARM(0xd80)};
static const uint32_t bhb_k8[] = {ARM(0xd07), ARM(0xd08)};              /* A57, A72 */
static const uint32_t bhb_k11[] = {AMPERE(0xac3)};                      /* AmpereOne */
static const uint32_t bhb_k24[] = {ARM(0xd0b), ARM(0xd0d), ARM(0xd0c)}; /* A76, A77, N1 */
/* A78, A78AE, A78C, X1, A710, X2, N2, V1 */
static const uint32_t bhb_k32[] = {ARM(0xd41), ARM(0xd42), ARM(0xd4b), ARM(0xd44),
                                   ARM(0xd47), ARM(0xd48), ARM(0xd49), ARM(0xd40)};

static unsigned field(uint64_t reg, unsigned shift)
{
    return (unsigned)(reg >> shift) & 0xf;
}

static unsigned bhb_loop(uint64_t midr)
{
    if (midr_in(midr, bhb_k32, N(bhb_k32)))
        return 32;
    if (midr_in(midr, bhb_k24, N(bhb_k24)))
        return 24;
    if (midr_in(midr, bhb_k11, N(bhb_k11)))
        return 11;
    if (midr_in(midr, bhb_k8, N(bhb_k8)))
        return 8;
    return 0;
}

void spectre_policy(const struct spectre_cpu_id *id, const struct spectre_fw *fw,
                    struct spectre_plan *p)
{
    bool safe = midr_in(id->midr, safe_parts, N(safe_parts));
    unsigned csv2 = field(id->id_aa64pfr0, 56);
    unsigned ssbs = field(id->id_aa64pfr1, 4);
    unsigned ecbhb = field(id->id_aa64mmfr1, 60);
    unsigned clrbhb = field(id->id_aa64isar2, 28);
    unsigned k = bhb_loop(id->midr);

    p->mitigate = 0;
    p->fw_ssbd_on = false;

    /* v2: CSV2 or a safe core; else only a predictor invalidation helps,
     * which on the affected Arm cores only EL3 can do. */
    if (csv2 >= 1 || safe) {
        p->v2 = SPECTRE_UNAFFECTED;
    } else if (fw->wa1 == SMCCC_RET_SUCCESS) {
        p->v2 = SPECTRE_MITIGATED;
        p->mitigate |= MITIGATE_FW_WA1;
    } else if (fw->wa1 == SMCCC_RET_WA_UNAFFECTED) {
        p->v2 = SPECTRE_UNAFFECTED;
    } else {
        p->v2 = SPECTRE_VULNERABLE;
    }

    /* BHB: CSV2_3, ECBHB or a safe core; else cleared at EL2 itself by
     * the architected CLRBHB, else by the core's branch loop, else by the
     * firmware's WA3 (which invalidates the predictors too, so it replaces
     * WA1 on the exit path). */
    if (csv2 >= 3 || ecbhb || safe || midr_in(id->midr, bhb_safe_parts, N(bhb_safe_parts))) {
        p->bhb = SPECTRE_UNAFFECTED;
    } else if (clrbhb) {
        p->bhb = SPECTRE_MITIGATED;
        p->mitigate |= MITIGATE_CLRBHB;
    } else if (k) {
        p->bhb = SPECTRE_MITIGATED;
        p->mitigate |= MITIGATE_BHB_LOOP(k);
    } else if (fw->wa3 == SMCCC_RET_SUCCESS) {
        p->bhb = SPECTRE_MITIGATED;
        p->mitigate = (p->mitigate & ~(uint64_t)MITIGATE_FW_WA1) | MITIGATE_FW_WA3;
    } else if (fw->wa3 == SMCCC_RET_WA_UNAFFECTED) {
        p->bhb = SPECTRE_UNAFFECTED;
    } else {
        p->bhb = SPECTRE_VULNERABLE;
    }

    /* v4: a safe core, else SSBS, else the firmware. */
    if (safe) {
        p->v4 = SPECTRE_UNAFFECTED;
    } else if (ssbs) {
        p->v4 = SPECTRE_MITIGATED;
    } else if (fw->wa2 == SMCCC_RET_SUCCESS) {
        p->v4 = SPECTRE_MITIGATED;
        p->fw_ssbd_on = true;
    } else if (fw->wa2 == SMCCC_RET_WA_UNAFFECTED || fw->wa2 == SMCCC_RET_NOT_REQUIRED) {
        p->v4 = SPECTRE_UNAFFECTED;
    } else {
        p->v4 = SPECTRE_VULNERABLE;
    }

    p->wa1 = p->v2 == SPECTRE_UNAFFECTED  ? SMCCC_RET_WA_UNAFFECTED
             : p->v2 == SPECTRE_MITIGATED ? SMCCC_RET_SUCCESS
                                          : SMCCC_RET_NOT_SUPPORTED;
    if (p->v2 == SPECTRE_VULNERABLE || p->bhb == SPECTRE_VULNERABLE)
        p->wa3 = SMCCC_RET_NOT_SUPPORTED;
    else if (p->v2 == SPECTRE_UNAFFECTED && p->bhb == SPECTRE_UNAFFECTED)
        p->wa3 = SMCCC_RET_WA_UNAFFECTED;
    else
        p->wa3 = SMCCC_RET_SUCCESS;
    p->wa2 = p->v4 == SPECTRE_UNAFFECTED || p->fw_ssbd_on ? SMCCC_RET_NOT_REQUIRED
                                                          : SMCCC_RET_NOT_SUPPORTED;
}
