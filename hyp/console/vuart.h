/* SPDX-License-Identifier: MIT */
/*
 * Consoles of VMs (hyp/console/pl011.c, vuart.c). Tally owns the physical
 * UART; every VM gets an emulated PL011 at QEMU virt's 0x09000000 with its
 * interrupt (SPI 1, INTID 33), so Linux's amba-pl011 driver, earlycon and
 * polled output work unchanged. What a VM transmits is printed by Tally line
 * by line under the tag "vmN: " (pl011.c says why no guest can forge it);
 * what the user types goes to one VM at a time (Ctrl-] N switches).
 */
#ifndef TALLY_HYP_VUART_H
#define TALLY_HYP_VUART_H

#include <tally/spinlock.h>
#include <tally/types.h>

#define CONSOLE_MAX_VMS 8 /* VM ids 0..7: one digit after Ctrl-] */
#define VUART_FIFO      32

struct vm;

/* The emulated PL011 of one VM (QEMU's model: an instant transmitter, a
 * 32-byte receive FIFO, the receive interrupt at the first byte). */
struct vuart {
    struct spinlock lock; /* guards everything below */
    uint8_t rx[VUART_FIFO];
    unsigned rx_head, rx_count;
    uint32_t ris, imsc, cr, lcr, ifls, ibrd, fbrd, ilpr, dmacr;
    bool line; /* (RIS & IMSC) != 0 as last injected: rising edges inject */
};

/* pl011.c: a byte VM vm transmitted. Filtered and tagged (see pl011.c). */
void console_vm_putc(unsigned vm, char c);
/* VM vm idles (a WFI): print the partial line it holds, if any. */
void console_vm_idle(unsigned vm);
/* The VM's output state back to the start (its open line closed): at its
 * creation. */
void console_vm_reset(unsigned vm);
/* Enable the physical UART's receive interrupt (its SPI is Tally's). */
void console_rx_start(void);
/* From gic_handle_irq: the physical UART's SPI fired; read every byte. */
void console_rx_irq(void);
/* The VM that typed input goes to. */
unsigned console_input_vm(void);
/* A VM read a byte from its receive FIFO: if input waits for room there,
 * deliver it and take more from the physical UART. Not under a UART lock. */
void console_rx_resume(void);

/* vuart.c: reset the VM's emulated UART and register its MMIO region.
 * ERR_* from vm_add_mmio. */
int vuart_vm_init(struct vm *vm);
/* A byte typed for VM id vm: true if taken (into its receive FIFO, or
 * dropped because that VM is not running), false if its FIFO is full. */
bool vuart_input(unsigned vm, char c);

/* vrtc.c: the PL031 every VM sees at 0x09010000: the host's time, read-only.
 * vrtc_host_init reads the host's PL031 (from the host DT) once at boot,
 * with the MMU off; without one the guest's clock starts at 0 (1970). */
void vrtc_host_init(const void *fdt);
int vrtc_vm_init(struct vm *vm);

#endif
