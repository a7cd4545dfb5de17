/* SPDX-License-Identifier: MIT */
/*
 * The console (hyp/console/console.c) and the UART drivers behind it.
 * Its VM side: Tally owns the physical UART;
 * what a VM transmits is printed line by line under the tag "vmN: " (pl011.c
 * says why no guest can forge it), and what the user types goes to one VM at
 * a time (Ctrl-] N switches). The console names no VM code: bytes typed go
 * to the sink hyp/vm registers (console_set_input).
 */
#ifndef TALLY_HYP_CONSOLE_H
#define TALLY_HYP_CONSOLE_H

#include <tally/types.h>

/* A UART driver (pl011.c, mini_uart.c). */
struct console_driver {
    const char *name; /* as the boot line prints it: "PL011", "mini-UART" */
    /* Wait for room in the transmit FIFO, then send c. */
    void (*putc)(volatile uint32_t *regs, char c);
    /* Receive side, NULL where Tally takes no input from this UART: take one
     * byte (false if the receive FIFO is empty); turn the receive interrupt
     * on (clearing what it had latched) or off. */
    bool (*getc)(volatile uint32_t *regs, char *c);
    void (*rx_irq)(volatile uint32_t *regs, bool on);
};

extern const struct console_driver pl011_driver, mini_uart_driver;

#define CONSOLE_MAX_VMS 8 /* VM ids 0..7: one digit after Ctrl-] */

/* A byte VM vm transmitted. Filtered and tagged (see pl011.c). */
void console_vm_putc(unsigned vm, char c);
/* VM vm idles (a WFI): print the partial line it holds, if any. */
void console_vm_idle(unsigned vm);
/* The VM's output state back to the start (its open line closed): at its
 * creation. */
void console_vm_reset(unsigned vm);

/* Where typed bytes go: deliver(vm, c) returns true if it took c (or
 * dropped it: no such VM), false if that VM has no room now (the console
 * holds c and masks the UART's receive interrupt until console_rx_resume). */
typedef bool (*console_input_fn)(unsigned vm, char c);
void console_set_input(console_input_fn deliver);
/* Enable the physical UART's receive interrupt. */
void console_rx_start(void);
/* The physical UART's SPI fired (its handler): read every byte. */
void console_rx_irq(void);
/* The VM that typed input goes to. */
unsigned console_input_vm(void);
/* A VM read a byte from its receive FIFO: if input waits for room there,
 * deliver it and take more from the physical UART. Not under a UART lock. */
void console_rx_resume(void);

#endif
