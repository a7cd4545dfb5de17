/* SPDX-License-Identifier: MIT */
/* Machine power-off of the EL2 runtime (hyp/core/power.c). */
#ifndef TALLY_HYP_POWER_H
#define TALLY_HYP_POWER_H

#include <tally/types.h>

/* After psci_init(): without PSCI, find the BCM2835/2711 watchdog. */
void power_init(const void *fdt);
/* "PSCI", "watchdog" or "none": for the boot line. */
const char *power_method(void);
/* The watchdog's registers, which the EL2 address space must map. */
bool power_device(uint64_t *base, uint64_t *size);
/* Returns only if there is no way to power off. */
void power_off(void);

#endif
