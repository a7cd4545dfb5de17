/* SPDX-License-Identifier: MIT */
/*
 * A VM's emulated devices at QEMU virt's addresses (hyp/vm/vuart.c,
 * vrtc.c): the PL011 at 0x09000000 with SPI 1 (INTID 33), so Linux's
 * amba-pl011 driver, earlycon and polled output work unchanged, its bytes
 * going to Tally's console (console/console.h); and a read-only PL031 at
 * 0x09010000 with the host's time.
 */
#ifndef TALLY_HYP_VUART_H
#define TALLY_HYP_VUART_H

#include <tally/spinlock.h>
#include <tally/types.h>

#include "console/console.h"

#define VUART_FIFO 32

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

/* Reset the VM's emulated UART and register its MMIO region. ERR_* from
 * vm_add_mmio. */
int vuart_vm_init(struct vm *vm);
/* The console's input sink: a byte typed for VM id vm. True if taken (into
 * its receive FIFO, or dropped because that VM is not running), false if
 * its FIFO is full. */
bool vuart_input(unsigned vm, char c);

/* vrtc.c: the PL031 every VM sees at 0x09010000: the host's time, read-only.
 * vrtc_host_init reads the host's PL031 (from the host DT) once at boot,
 * with the MMU off; without one the guest's clock starts at 0 (1970). */
void vrtc_host_init(const void *fdt);
int vrtc_vm_init(struct vm *vm);

#endif
