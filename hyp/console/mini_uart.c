// SPDX-License-Identifier: MIT
// The BCM2711's mini-UART (AUX UART1, "brcm,bcm2835-aux-uart"), transmit
// only. Its registers are the device tree node's reg (0x7e215040 on the bus,
// 0xfe215040 for the CPU); the AUX enable bit and the baud rate are left as
// the firmware and U-Boot set them (enable_uart=1 in config.txt). On a Pi 4
// with the default config it is the UART on GPIO 14/15; on QEMU's raspi4b
// it is the second -serial.
#include "console.h"

#define AUX_MU_IO          0x00      /* transmit/receive data */
#define AUX_MU_LSR         0x14      /* line status */
#define AUX_MU_LSR_TX_IDLE (1u << 5) /* the FIFO can take a byte */

static void mini_uart_putc(volatile uint32_t *regs, char c)
{
    while (!(regs[AUX_MU_LSR / 4] & AUX_MU_LSR_TX_IDLE))
        ;
    regs[AUX_MU_IO / 4] = (uint32_t)(unsigned char)c;
}

const struct console_driver mini_uart_driver = {.name = "mini-UART", .putc = mini_uart_putc};
