// SPDX-License-Identifier: MIT
// PSCI client (Arm DEN 0022): how Tally starts secondary CPUs, stops itself
// and powers the machine off. The conduit comes from the device tree's /psci
// `method`: "smc" is the one that works from EL2 (an HVC at EL2 traps to
// Tally's own vectors), so "hvc" is refused with a message. Without a /psci
// node or method (or a readable device tree) the platform's default applies.
#include <libfdt.h>
#include <string.h>
#include <stdio.h>

#include "hyp.h"
#include "psci.h"

static enum { PSCI_NONE, PSCI_SMC } conduit;

static int64_t psci_call(uint32_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    if (conduit != PSCI_SMC)
        return PSCI_RET_NOT_SUPPORTED;
    /* SMCCC: x0-x17 may be clobbered by the callee. */
    __asm__ volatile("smc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                     :
                     : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
                       "x16", "x17", "memory");
    return (int64_t)x0;
}

int psci_init(const void *fdt)
{
    int node = fdt_path_offset(fdt, "/psci"), len = 0;
    const char *method = node >= 0 ? fdt_getprop(fdt, node, "method", &len) : NULL;
    if (!method || len < 1 || strnlen(method, (size_t)len) == (size_t)len) {
        if (!hyp_platform.psci_smc_default)
            return PSCI_RET_NOT_SUPPORTED;
        psci_init_default();
        return PSCI_RET_SUCCESS;
    }
    if (strcmp(method, "smc") != 0) {
        printf("tally: PSCI method \"%s\" cannot be used from EL2 (it would trap to Tally "
               "itself); only the boot CPU will run\n",
               method);
        return PSCI_RET_NOT_SUPPORTED;
    }
    conduit = PSCI_SMC;
    return PSCI_RET_SUCCESS;
}

void psci_init_default(void)
{
    conduit = PSCI_SMC;
}

bool psci_available(void)
{
    return conduit != PSCI_NONE;
}

int64_t psci_cpu_on(uint64_t mpidr, uint64_t entry_pa, uint64_t context)
{
    return psci_call(PSCI_0_2_FN64_CPU_ON, mpidr, entry_pa, context);
}

int64_t psci_cpu_off(void)
{
    return psci_call(PSCI_0_2_FN_CPU_OFF, 0, 0, 0);
}

/* SMCCC's discovery, as Linux does it (arm_smccc_version_init): only a
 * PSCI 1.0 firmware whose PSCI_FEATURES knows SMCCC_VERSION may be asked
 * anything outside PSCI (an SMC id it does not know may be UNDEFINED, as on
 * QEMU's built-in PSCI), and only SMCCC 1.1 has ARCH_FEATURES. */
#define PSCI_1_0_FN_PSCI_FEATURES 0x8400000au
#define SMCCC_VERSION_FID         0x80000000u
#define SMCCC_ARCH_FEATURES_FID   0x80000001u

int64_t psci_smccc_arch_features(uint32_t fid)
{
    if (psci_call(PSCI_1_0_FN_PSCI_FEATURES, SMCCC_VERSION_FID, 0, 0) < 0)
        return PSCI_RET_NOT_SUPPORTED;
    if (psci_call(SMCCC_VERSION_FID, 0, 0, 0) < 0x10001)
        return PSCI_RET_NOT_SUPPORTED;
    return psci_call(SMCCC_ARCH_FEATURES_FID, fid, 0, 0);
}

int64_t psci_smccc_call(uint32_t fid, uint64_t a1)
{
    return psci_call(fid, a1, 0, 0);
}

int64_t psci_affinity_info(uint64_t mpidr)
{
    return psci_call(PSCI_0_2_FN64_AFFINITY_INFO, mpidr, 0, 0);
}

void psci_system_off(void)
{
    psci_call(PSCI_0_2_FN_SYSTEM_OFF, 0, 0, 0);
}
