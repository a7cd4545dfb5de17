// SPDX-License-Identifier: MIT
// Spectre v2, Spectre-BHB and Spectre v4 (speculative store bypass) for
// guests: the SMCCC 1.1 architecture calls (SMCCC_VERSION,
// SMCCC_ARCH_FEATURES, SMCCC_ARCH_WORKAROUND_1/2/3) answered for the CPU the
// vCPU runs on, and the mitigation behind every "implemented" answer, run on
// every exit from the guest (guest_entry.S, selected by vcpu_ctx.mitigate).
//
// What to answer and what to run is spectre_policy() (spectre_policy.c,
// tested on the host); this file reads its inputs on the CPU itself (MIDR,
// ID registers, the firmware's SMCCC_ARCH_FEATURES answers), once per CPU,
// and carries the plan out: the firmware's ARCH_WORKAROUND_2 turned on for
// good where the plan says so, the exit mitigation handed to guest_entry.S.
// A guest's ARCH_WORKAROUND_1/3 call is itself an exit, so the exit path has
// done the work when the call is answered; ARCH_WORKAROUND_2 needs nothing
// more either (permanently on, or not required).
#include <tally/arch.h>
#include <tally/sysreg.h>

#include "core/psci.h"
#include "spectre_policy.h"
#include "vcpu.h"

#define SMCCC_VERSION       0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SMCCC_WORKAROUND_1  0x80008000u
#define SMCCC_WORKAROUND_2  0x80007fffu
#define SMCCC_WORKAROUND_3  0x80003fffu

struct spectre_cpu {
    bool known;
    struct spectre_plan plan;
};

static struct spectre_cpu cpus[TALLY_MAX_CPUS]; /* each written by its own CPU */

static void classify(struct spectre_cpu *c)
{
    struct spectre_cpu_id id = {
        .midr = read_sysreg(midr_el1),
        .id_aa64pfr0 = read_sysreg(id_aa64pfr0_el1),
        .id_aa64pfr1 = read_sysreg(id_aa64pfr1_el1),
        .id_aa64mmfr1 = read_sysreg(id_aa64mmfr1_el1),
        .id_aa64isar2 = read_sysreg(S3_0_C0_C6_2),
    };
    struct spectre_fw fw = {
        .wa1 = psci_smccc_arch_features(SMCCC_WORKAROUND_1),
        .wa2 = psci_smccc_arch_features(SMCCC_WORKAROUND_2),
        .wa3 = psci_smccc_arch_features(SMCCC_WORKAROUND_3),
    };
    spectre_policy(&id, &fw, &c->plan);
    if (c->plan.fw_ssbd_on)
        psci_smccc_call(SMCCC_WORKAROUND_2, 1); /* on, for EL2 and every guest */
    c->known = true;
}

static const struct spectre_plan *this_cpu(void)
{
    struct spectre_cpu *c = &cpus[arch_cpu_id()];
    if (!c->known)
        classify(c);
    return &c->plan;
}

uint64_t spectre_exit_mitigation(void)
{
    return this_cpu()->mitigate;
}

static int64_t arch_features(uint32_t fid)
{
    const struct spectre_plan *p = this_cpu();
    switch (fid) {
    case SMCCC_VERSION:
    case SMCCC_ARCH_FEATURES:
        return SMCCC_RET_SUCCESS;
    case SMCCC_WORKAROUND_1:
        return p->wa1;
    case SMCCC_WORKAROUND_2:
        return p->wa2;
    case SMCCC_WORKAROUND_3:
        return p->wa3;
    default:
        return SMCCC_RET_NOT_SUPPORTED;
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
        x[0] = arch_features(fid) == SMCCC_RET_SUCCESS ? 0
                                                       : (uint64_t)(int64_t)SMCCC_RET_NOT_SUPPORTED;
        return true;
    default:
        return false;
    }
}
