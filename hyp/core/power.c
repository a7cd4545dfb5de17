// SPDX-License-Identifier: MIT
// Powering the machine off: PSCI SYSTEM_OFF where firmware offers PSCI
// (QEMU virt), else the BCM2711 power-management watchdog (a Raspberry Pi 4
// has no PSCI). The watchdog way is Linux's: mark reset partition 63 in
// PM_RSTS, which the Pi's firmware reads after the reset as "halt" (QEMU's
// raspi4b with -no-reboot simply exits on the reset), then let the watchdog
// fire after 10 ticks with a full reset configured in PM_RSTC.
#include <stdio.h>

#include "dt.h"
#include "hyp.h"
#include "power.h"
#include "psci.h"

#define PM_RSTC            0x1c
#define PM_RSTS            0x20
#define PM_WDOG            0x24
#define PM_PASSWORD        0x5a000000u
#define PM_RSTC_WRCFG_MASK 0x30u
#define PM_RSTC_FULL_RESET 0x20u
#define PM_RSTS_PART_MASK  0x555u /* partition number bits: 63 = halt */

static uint64_t wdt_base, wdt_size;

void power_init(const void *fdt)
{
    if (psci_available())
        return;
    if (dt_find_compatible(fdt, "brcm,bcm2835-pm-wdt", &wdt_base, &wdt_size) < 0) {
        wdt_base = 0;
        printf("tally: no PSCI and no BCM2835/2711 watchdog in the DT: power-off will only "
               "park the CPUs\n");
    }
}

const char *power_method(void)
{
    return psci_available() ? "PSCI" : wdt_base ? "watchdog" : "none";
}

bool power_device(uint64_t *base, uint64_t *size)
{
    *base = wdt_base;
    *size = wdt_size;
    return wdt_base != 0;
}

static void pm_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(wdt_base + reg) = PM_PASSWORD | v;
}

static uint32_t pm_read(unsigned reg)
{
    return *(volatile uint32_t *)(wdt_base + reg);
}

void power_off(void)
{
    if (psci_available()) {
        psci_system_off();
        return;
    }
    if (!wdt_base)
        return;
    pm_write(PM_RSTS, (pm_read(PM_RSTS) & ~PM_RSTS_PART_MASK & 0xffffffu) | PM_RSTS_PART_MASK);
    pm_write(PM_WDOG, 10);
    pm_write(PM_RSTC, (pm_read(PM_RSTC) & ~PM_RSTC_WRCFG_MASK & 0xffffffu) | PM_RSTC_FULL_RESET);
    /* The reset comes within 10 watchdog ticks (~150 us); wait for it. */
    for (;;)
        __asm__ volatile("wfi");
}
