// SPDX-License-Identifier: MIT
// Arm PL011 UART, transmit only: QEMU virt's console and the Pi 4's UART0.
#include "console.h"

#define UARTDR      0x00
#define UARTFR      0x18
#define UARTFR_TXFF (1u << 5) /* transmit FIFO full */

static void pl011_putc(volatile uint32_t *regs, char c)
{
    while (regs[UARTFR / 4] & UARTFR_TXFF)
        ;
    regs[UARTDR / 4] = (uint32_t)(unsigned char)c;
}

const struct console_driver pl011_driver = {.name = "PL011", .putc = pl011_putc};
