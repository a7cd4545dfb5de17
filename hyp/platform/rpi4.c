// SPDX-License-Identifier: MIT
// Raspberry Pi 4 Model B (BCM2711), booted by the Raspberry Pi firmware and
// U-Boot (rpi_4) with `booti`; QEMU's raspi4b too. Everything else comes
// from the firmware's device tree: RAM banks (split by the GPU carve-out,
// above 4 GiB on the 8 GB board), devices under /soc through its `ranges`,
// the GIC-400, the console named by /chosen/stdout-path (the mini-UART with
// enable_uart=1), spin-table CPUs, the watchdog that powers off (no PSCI).
#include "core/hyp.h"

const struct platform hyp_platform = {
    .name = "rpi4",
    .compatible = "brcm,bcm2711",
    /* The Pi's PL011 (UART0), where the boot loader's first words go too;
     * from mk/hyp.mk, as head.S needs it before any C runs. */
    .early_uart = TALLY_EARLY_UART,
    /* 39-bit EL2 VA: RAM ends at 8 GiB, devices below 4 GiB and PCIe at
     * 0x6_0000_0000; kernel stacks in the top GiB, far above all of it. */
    .va_bits = 39,
    .stack_va_base = 0x7fc0000000ull,
    /* No PSCI: CPUs start by spin-table, power-off is the watchdog's. */
    .psci_smc_default = false,
};
