// SPDX-License-Identifier: MIT
// QEMU's `virt` machine with virtualization=on. Everything else (RAM, CPUs,
// GIC, the console UART, PSCI) comes from the device tree QEMU passes; the
// platform only says where to print before the device tree is read and how
// the EL2 address space is laid out.
#include "core/hyp.h"

const struct platform hyp_platform = {
    .name = "qemu-virt",
    .compatible = "linux,dummy-virt",
    .early_uart = TALLY_EARLY_UART, /* 0x09000000, from mk/hyp.mk */
    /* 39-bit EL2 VA: 3 levels of 4 KiB tables, covers RAM up to 512 GiB.
     * Kernel stacks live in the top GiB, far above virt's RAM (which starts
     * at 1 GiB and, at -m 255G, ends below 256 GiB). */
    .va_bits = 39,
    .stack_va_base = 0x7fc0000000ull,
    /* virtualization=on always comes with QEMU's PSCI firmware over SMC. */
    .psci_smc_default = true,
};
