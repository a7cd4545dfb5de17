// SPDX-License-Identifier: MIT
// Arm PL011 UART: QEMU virt's console and the Pi 4's UART0. Transmit polled,
// receive by interrupt (console.c reads it from console_rx_irq).
#include "console.h"

#define UARTDR      0x00
#define UARTFR      0x18
#define UARTIMSC    0x38
#define UARTICR     0x44
#define UARTFR_RXFE (1u << 4) /* receive FIFO empty */
#define UARTFR_TXFF (1u << 5) /* transmit FIFO full */
#define UART_RXIM   (1u << 4) /* receive interrupt */
#define UART_RTIM   (1u << 6) /* receive timeout interrupt */

static void pl011_putc(volatile uint32_t *regs, char c)
{
    while (regs[UARTFR / 4] & UARTFR_TXFF)
        ;
    regs[UARTDR / 4] = (uint32_t)(unsigned char)c;
}

static bool pl011_getc(volatile uint32_t *regs, char *c)
{
    if (regs[UARTFR / 4] & UARTFR_RXFE)
        return false;
    *c = (char)(regs[UARTDR / 4] & 0xff);
    return true;
}

static void pl011_rx_irq(volatile uint32_t *regs, bool on)
{
    uint32_t bits = UART_RXIM | UART_RTIM;
    if (on)
        regs[UARTICR / 4] = bits;
    regs[UARTIMSC / 4] = on ? regs[UARTIMSC / 4] | bits : regs[UARTIMSC / 4] & ~bits;
}

const struct console_driver pl011_driver = {
    .name = "PL011",
    .putc = pl011_putc,
    .getc = pl011_getc,
    .rx_irq = pl011_rx_irq,
};
