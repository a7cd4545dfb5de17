// SPDX-License-Identifier: MIT
// The emulated PL011 of a VM (vuart.h), modelled on QEMU's pl011 so that
// whatever runs on `qemu-system-aarch64 -M virt` runs here: the transmitter
// is instant (TXFE always set, TXFF never), a write to DR prints the byte
// under the VM's tag and raises TXRIS; the receive FIFO holds 32 bytes and
// raises RXRIS from its first byte until it is read empty. Registers are
// 32-bit; 8- and 16-bit accesses reach the register that holds them, as on
// the real device's bus. The interrupt line is (RIS & IMSC) != 0; the vGIC
// latch is set at each rising edge (Linux's handler loops until the line is
// low, so an edge is never lost). Disabling the UART (CR, IMSC) changes only
// this model: Tally's own output goes to the physical UART, which no guest
// can reach.
#include <tally/errno.h>

#include "irq/vgic.h"
#include "vm.h"
#include "vuart.h"

#define DR    0x000
#define RSR   0x004
#define FR    0x018
#define ILPR  0x020
#define IBRD  0x024
#define FBRD  0x028
#define LCR_H 0x02c
#define CR    0x030
#define IFLS  0x034
#define IMSC  0x038
#define RIS   0x03c
#define MIS   0x040
#define ICR   0x044
#define DMACR 0x048

#define FR_RXFE 0x10
#define FR_RXFF 0x40
#define FR_TXFE 0x80
#define INT_RX  0x10
#define INT_TX  0x20
#define INT_ALL 0x7ff

/* PeriphID0-3, PCellID0-3 (0xfe0-0xffc): an Arm PL011 r1p5. */
static const uint8_t pl011_id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

/* Caller holds u->lock. */
static void update_line(struct vm *vm, struct vuart *u)
{
    bool line = (u->ris & u->imsc) != 0;
    if (line && !u->line)
        vgic_inject(vm, 0, VM_UART_INTID);
    u->line = line;
}

/* The plain read-write registers: where each lives and its writable bits. */
static const struct {
    uint16_t reg, field;
    uint32_t mask;
} plain_regs[] = {
    {ILPR, offsetof(struct vuart, ilpr), 0xff},    {IBRD, offsetof(struct vuart, ibrd), 0xffff},
    {FBRD, offsetof(struct vuart, fbrd), 0x3f},    {LCR_H, offsetof(struct vuart, lcr), 0xff},
    {CR, offsetof(struct vuart, cr), 0xffff},      {IFLS, offsetof(struct vuart, ifls), 0x3f},
    {IMSC, offsetof(struct vuart, imsc), INT_ALL}, {DMACR, offsetof(struct vuart, dmacr), 7},
};

static uint32_t *plain_reg(struct vuart *u, uint64_t reg, uint32_t *mask)
{
    for (unsigned i = 0; i < ARRAY_SIZE(plain_regs); i++) {
        if (plain_regs[i].reg == reg) {
            *mask = plain_regs[i].mask;
            return (uint32_t *)((char *)u + plain_regs[i].field);
        }
    }
    return NULL;
}

static uint32_t reg_read(struct vm *vm, struct vuart *u, uint64_t reg)
{
    uint32_t mask, *plain = plain_reg(u, reg, &mask);
    if (plain)
        return *plain;
    switch (reg) {
    case DR: {
        if (!u->rx_count)
            return 0;
        uint32_t c = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % VUART_FIFO;
        if (--u->rx_count == 0)
            u->ris &= ~INT_RX;
        update_line(vm, u);
        return c;
    }
    case FR:
        return FR_TXFE | (u->rx_count ? 0 : FR_RXFE) | (u->rx_count == VUART_FIFO ? FR_RXFF : 0);
    case RIS:
        return u->ris;
    case MIS:
        return u->ris & u->imsc;
    default:
        if (reg >= 0xfe0 && reg <= 0xffc)
            return pl011_id[(reg - 0xfe0) / 4];
        return 0; /* RSR, reserved and write-only registers */
    }
}

static void reg_write(struct vm *vm, struct vuart *u, uint64_t reg, uint32_t val)
{
    uint32_t mask, *plain = plain_reg(u, reg, &mask);
    if (plain) {
        *plain = val & mask;
    } else if (reg == DR) {
        console_vm_putc(vm->id, (char)(val & 0xff));
        u->ris |= INT_TX;
    } else if (reg == ICR) {
        u->ris &= ~val;
    }
    /* RSR (error clear), read-only and reserved registers: ignored. */
    update_line(vm, u);
}

static int vuart_read(struct vcpu *v, uint64_t off, unsigned size, uint64_t *val, void *ctx)
{
    struct vm *vm = ctx;
    struct vuart *u = &vm->uart;
    (void)v;
    if (size == 8)
        return ERR_INVAL;
    spin_lock(&u->lock);
    uint32_t r = reg_read(vm, u, off & ~3ull);
    spin_unlock(&u->lock);
    if ((off & ~3ull) == DR && vm->id == console_input_vm())
        console_rx_resume();
    *val = r >> ((off & 3) * 8);
    return ERR_OK;
}

static int vuart_write(struct vcpu *v, uint64_t off, unsigned size, uint64_t val, void *ctx)
{
    struct vm *vm = ctx;
    struct vuart *u = &vm->uart;
    (void)v;
    if (size == 8)
        return ERR_INVAL;
    spin_lock(&u->lock);
    reg_write(vm, u, off & ~3ull, (uint32_t)(val << ((off & 3) * 8)));
    spin_unlock(&u->lock);
    return ERR_OK;
}

int vuart_vm_init(struct vm *vm)
{
    struct vuart *u = &vm->uart;
    spin_lock_init(&u->lock);
    /* QEMU's reset values: enabled for transmit and receive, FIFO trigger
     * levels at half. */
    u->cr = 0x300;
    u->ifls = 0x12;
    console_vm_reset(vm->id);
    struct mmio_region r = {.base = VM_UART_IPA,
                            .size = VM_UART_SIZE,
                            .read = vuart_read,
                            .write = vuart_write,
                            .ctx = vm,
                            .name = "PL011"};
    return vm_add_mmio(vm, &r);
}

bool vuart_input(unsigned id, char c)
{
    struct vm *vm = vm_get_by_id(id);
    if (!vm)
        return true;
    struct vuart *u = &vm->uart;
    spin_lock(&u->lock);
    bool room = u->rx_count < VUART_FIFO;
    if (room) {
        u->rx[(u->rx_head + u->rx_count) % VUART_FIFO] = (uint8_t)c;
        u->rx_count++;
        u->ris |= INT_RX;
        update_line(vm, u);
    }
    spin_unlock(&u->lock);
    vm_put(vm);
    return room;
}
