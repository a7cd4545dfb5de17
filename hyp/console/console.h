/* SPDX-License-Identifier: MIT */
/* The UART drivers behind the console (console.c). */
#ifndef TALLY_CONSOLE_H
#define TALLY_CONSOLE_H

#include <tally/types.h>

struct console_driver {
    const char *name; /* as the boot line prints it: "PL011", "mini-UART" */
    /* Wait for room in the transmit FIFO, then send c. */
    void (*putc)(volatile uint32_t *regs, char c);
};

extern const struct console_driver pl011_driver, mini_uart_driver;

#endif
