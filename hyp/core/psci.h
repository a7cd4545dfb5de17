/* SPDX-License-Identifier: MIT */
/* PSCI client of the EL2 runtime (hyp/core/psci.c). */
#ifndef TALLY_HYP_PSCI_H
#define TALLY_HYP_PSCI_H

#include <tally/types.h>

#define PSCI_0_2_FN_CPU_OFF         0x84000002u
#define PSCI_0_2_FN64_CPU_ON        0xc4000003u
#define PSCI_0_2_FN64_AFFINITY_INFO 0xc4000004u
#define PSCI_0_2_FN_SYSTEM_OFF      0x84000008u

#define PSCI_RET_SUCCESS       0
#define PSCI_RET_NOT_SUPPORTED (-1)
#define PSCI_RET_ALREADY_ON    (-4)

#define PSCI_AFFINITY_ON  0
#define PSCI_AFFINITY_OFF 1

/* Read /psci; PSCI_RET_SUCCESS if the conduit is usable from EL2. No /psci:
 * the platform's default, if it has one. */
int psci_init(const void *fdt);
/* Use SMC without the device tree's word (hyp_platform.psci_smc_default). */
void psci_init_default(void);
bool psci_available(void);
int64_t psci_cpu_on(uint64_t mpidr, uint64_t entry_pa, uint64_t context);
int64_t psci_cpu_off(void);
int64_t psci_affinity_info(uint64_t mpidr);
/* The firmware's SMCCC_ARCH_FEATURES(fid) on this CPU, or NOT_SUPPORTED when
 * it has no SMCCC 1.1 (discovered safely through PSCI_FEATURES). */
int64_t psci_smccc_arch_features(uint32_t fid);
/* An SMCCC fast call to the firmware: only for an id ARCH_FEATURES said it
 * implements. */
int64_t psci_smccc_call(uint32_t fid, uint64_t a1);
/* Returns only if PSCI is unavailable or refused. */
void psci_system_off(void);

#endif
