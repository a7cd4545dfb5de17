/* SPDX-License-Identifier: MIT */
/*
 * The Spectre decision for one CPU, as a pure function (spectre_policy.c):
 * from the CPU's MIDR and ID registers and what the EL3 firmware answered
 * to SMCCC_ARCH_FEATURES, what Tally tells a guest about
 * SMCCC_ARCH_WORKAROUND_1/2/3 and what EL2 runs on every guest exit.
 * spectre.c gathers the inputs on the CPU itself and carries the plan out;
 * tests/unit/test_spectre.c holds the decision to exact answers per CPU.
 *
 * The MITIGATE_* bits are vcpu_ctx.mitigate, read by guest_entry.S.
 */
#ifndef TALLY_HYP_SPECTRE_POLICY_H
#define TALLY_HYP_SPECTRE_POLICY_H

/* vcpu_ctx.mitigate: what guest_entry.S runs on every exit, before any
 * indirect branch. Bits 0-7: the BHB loop's branch count. */
#define MITIGATE_BHB_LOOP(k) ((k)&0xff)
#define MITIGATE_CLRBHB      (1 << 8)  /* CLRBHB; ISB */
#define MITIGATE_FW_WA1      (1 << 9)  /* SMC ARCH_WORKAROUND_1 */
#define MITIGATE_FW_WA3      (1 << 10) /* SMC ARCH_WORKAROUND_3 */

#ifndef __ASSEMBLER__
#include <tally/types.h>

/* SMCCC return values (Arm DEN0028). */
#define SMCCC_RET_SUCCESS       0
#define SMCCC_RET_NOT_SUPPORTED (-1)
#define SMCCC_RET_NOT_REQUIRED  (-2)
#define SMCCC_RET_WA_UNAFFECTED 1 /* ARCH_FEATURES of a workaround: PE not affected */

/* The registers the decision reads, as the CPU has them (not the guest's
 * sanitised view: the answer is about the hardware). */
struct spectre_cpu_id {
    uint64_t midr;
    uint64_t id_aa64pfr0;  /* CSV2 (59:56) */
    uint64_t id_aa64pfr1;  /* SSBS (7:4) */
    uint64_t id_aa64mmfr1; /* ECBHB (63:60) */
    uint64_t id_aa64isar2; /* CLRBHB (31:28) */
};

/* What the firmware's SMCCC_ARCH_FEATURES returned for each workaround;
 * SMCCC_RET_NOT_SUPPORTED for all three where the firmware has no SMCCC
 * 1.1 (PSCI_FEATURES(SMCCC_VERSION) or SMCCC_VERSION refused). */
struct spectre_fw {
    int64_t wa1, wa2, wa3;
};

enum spectre_state { SPECTRE_UNAFFECTED, SPECTRE_MITIGATED, SPECTRE_VULNERABLE };

struct spectre_plan {
    enum spectre_state v2, bhb, v4;
    /* SMCCC_ARCH_FEATURES answers a guest on this CPU gets. */
    int64_t wa1, wa2, wa3;
    uint64_t mitigate; /* MITIGATE_* bits for every guest exit */
    bool fw_ssbd_on;   /* call the firmware's ARCH_WORKAROUND_2(1) once, for good */
};

void spectre_policy(const struct spectre_cpu_id *id, const struct spectre_fw *fw,
                    struct spectre_plan *plan);
#endif
#endif
