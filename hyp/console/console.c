// SPDX-License-Identifier: MIT
// The console: Tally alone owns the physical UART (a PL011 or the BCM2711's
// mini-UART, whichever /chosen/stdout-path names; the register work is in
// pl011.c and mini_uart.c). Output is polled; input arrives by the UART's
// receive interrupt (console_rx_irq), where the driver has one, and goes to
// one VM's emulated UART at a time (the sink hyp/vm registers: vm/vuart.c).
//
// Output from several sources shares the one wire, line by line:
//
//   tally: ...          Tally's own lines (printf, console_write)
//   vm0: ...            VM 0's output, every line opened by Tally with the tag
//   vm1: ...            VM 1's
//
// Why a guest cannot forge a Tally line or another VM's: a guest's bytes
// reach the wire only through console_vm_putc(), and Tally writes the tag
// "vmN: " before the first byte of every line a guest's output starts, so
// every line that holds guest bytes begins with that guest's tag. A guest's
// newline ends its line (Tally writes CR LF itself); a guest never moves the
// cursor back over its tag: CR is dropped, backspace only takes back bytes
// the guest wrote on the same line, escape sequences (ESC, CSI ...) are
// swallowed whole, every other control byte is dropped and bytes >= 0x80
// (which include C1 controls such as CSI 0x9b) print as '?'. Whoever starts
// writing while another source's line is open closes that line first, so
// lines never mix.
//
// A VM's output is held until a whole line (or 160 bytes) is there, then
// printed in one piece, so two busy VMs do not cut each other's lines into
// pieces. A partial line (a shell prompt, the echo of a typed key) goes out
// when the VM idles (its WFI trap: console_vm_idle) and when input switches
// to it; the line then stays open for the VM's next bytes unless another
// source prints first. After a fatal error the lock is ignored (the CPU
// that failed may hold it).
//
// The UART is used as firmware left it (enabled, baud rate set): QEMU needs
// no set-up, and on boards the boot loader has already programmed it.
#include <stdio.h>
#include <string.h>
#include <tally/spinlock.h>

#include "console.h"
#include "core/hyp.h"

#define SRC_NONE  (-1) /* no line open on the wire */
#define SRC_TALLY (-2)

static volatile uint32_t *uart;
static const struct console_driver *driver = &pl011_driver;
static struct spinlock console_lock = SPINLOCK_INIT;
/* Set once by the first fatal report; read relaxed: a CPU that sees it late
 * only waits for the lock as before. Pairs with nothing. */
static atomic_u8 console_fatal;

/* Guarded by console_lock: the source whose line is open on the wire, and
 * each VM's output filter state. */
static int open_src = SRC_NONE;
#define LINE_MAX 160
static struct vm_out {
    unsigned col;   /* guest bytes on the open line (backspace limit) */
    uint8_t escape; /* 0, 1 after ESC, 2 inside a CSI sequence */
    unsigned len;   /* bytes held in line[], not yet printed */
    char line[LINE_MAX];
} vm_out[CONSOLE_MAX_VMS];

/* The VM input goes to: written with both input_lock and console_lock held,
 * so either lock gives a stable value (console_vm_putc reads it under the
 * console lock). */
static unsigned input_vm;

static const struct console_driver *const drivers[] = {
    [CONSOLE_PL011] = &pl011_driver,
    [CONSOLE_MINI_UART] = &mini_uart_driver,
};

void console_init(enum console_kind kind, uint64_t base)
{
    driver = drivers[kind];
    uart = (volatile uint32_t *)base;
}

const char *console_name(void)
{
    return driver->name;
}

uint64_t console_base(void)
{
    return (uint64_t)uart;
}

static void uart_putc(char c)
{
    driver->putc(uart, c);
}

static void puts_raw(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* Close whatever line another source left open. */
static void switch_to(int src)
{
    if (open_src != src && open_src != SRC_NONE)
        puts_raw("\r\n");
    if (open_src != src && src >= 0) {
        char tag[16];
        snprintf(tag, sizeof(tag), "vm%d: ", src);
        puts_raw(tag);
        vm_out[src].col = 0;
    }
    open_src = src;
}

static bool lock_console(void)
{
    bool locked = !atomic_load_u8(&console_fatal, MO_RELAXED);
    if (locked)
        spin_lock(&console_lock);
    return locked;
}

void console_write(const char *s, size_t n)
{
    bool locked = lock_console();
    for (size_t i = 0; i < n; i++) {
        switch_to(SRC_TALLY);
        if (s[i] == '\n') {
            puts_raw("\r\n");
            open_src = SRC_NONE;
        } else {
            uart_putc(s[i]);
        }
    }
    if (locked)
        spin_unlock(&console_lock);
}

/* Print VM vm's held bytes on a line of their own (left open unless end). */
static void flush_held(unsigned vm, bool end)
{
    struct vm_out *o = &vm_out[vm];
    if (!o->len && !end)
        return;
    switch_to((int)vm);
    for (unsigned i = 0; i < o->len; i++)
        uart_putc(o->line[i]);
    o->col += o->len;
    o->len = 0;
    if (end) {
        puts_raw("\r\n");
        open_src = SRC_NONE;
    }
}

void console_vm_putc(unsigned vm, char ch)
{
    unsigned char c = (unsigned char)ch;
    if (vm >= CONSOLE_MAX_VMS)
        return;
    struct vm_out *o = &vm_out[vm];
    bool locked = lock_console();
    if (o->escape == 1) {
        o->escape = c == '[' ? 2 : 0; /* ESC x: two bytes; ESC [: CSI */
    } else if (o->escape == 2) {
        if (c >= 0x40 && c <= 0x7e) /* the final byte ends a CSI sequence */
            o->escape = 0;
    } else if (c == 0x1b) {
        o->escape = 1;
    } else if (c == '\n') {
        flush_held(vm, true); /* an empty line still shows whose it is */
    } else if (c == '\b') {
        if (o->len) {
            o->len--;
        } else if (open_src == (int)vm && o->col) {
            uart_putc('\b');
            o->col--;
        }
    } else if (c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80) {
        /* Relaxed store: console_vm_idle peeks at len without the lock. */
        o->line[o->len] = c >= 0x80 ? '?' : (char)c;
        __atomic_store_n(&o->len, o->len + 1, __ATOMIC_RELAXED);
        if (o->len == LINE_MAX)
            flush_held(vm, true);
    }
    /* Every other control byte (CR, BEL, ...) and DEL: dropped. */
    if (locked)
        spin_unlock(&console_lock);
}

void console_vm_idle(unsigned vm)
{
    /* A racy peek: a byte written meanwhile is flushed at the next idle or
     * newline; the common case (nothing held) costs no lock. */
    if (vm >= CONSOLE_MAX_VMS || !__atomic_load_n(&vm_out[vm].len, __ATOMIC_RELAXED))
        return;
    bool locked = lock_console();
    flush_held(vm, false);
    if (locked)
        spin_unlock(&console_lock);
}

void console_vm_reset(unsigned vm)
{
    if (vm >= CONSOLE_MAX_VMS)
        return;
    spin_lock(&console_lock);
    vm_out[vm].escape = 0;
    vm_out[vm].len = 0;
    if (open_src == (int)vm) {
        puts_raw("\r\n");
        open_src = SRC_NONE;
    }
    spin_unlock(&console_lock);
}

void console_rx_start(void)
{
    if (driver->rx_irq)
        driver->rx_irq(uart, true);
}

/*
 * Input switching: Ctrl-] (0x1d) then a digit N sends what follows to VM N;
 * Ctrl-] twice sends one Ctrl-]; Ctrl-] then anything else is dropped with
 * a reminder of the keys.
 *
 * Flow control: a byte is read from the physical UART only when the VM it
 * goes to has room in its receive FIFO. Otherwise it waits in `held`, the
 * physical receive interrupt is masked (the physical FIFO, then the
 * emulator's or the line's flow control, hold the rest) and the VM's next
 * read of its data register (console_rx_resume) delivers it and unmasks.
 * Typed input is never dropped while its VM runs.
 */
#define KEY_SWITCH 0x1d

/* input_lock guards input_escape, held and the physical UART's receive side
 * (DR reads, IMSC). Taken before a VM's UART lock and the console lock. */
static struct spinlock input_lock = SPINLOCK_INIT;
static bool input_escape;
static int held = -1;
/* Set and cleared under input_lock; read relaxed by console_rx_resume as a
 * hint (a stale 0 is caught by the next read, a stale 1 costs the lock). */
static atomic_u8 rx_paused;
/* Set once by hyp/vm before the receive interrupt is enabled. */
static console_input_fn deliver;

void console_set_input(console_input_fn fn)
{
    deliver = fn;
}

unsigned console_input_vm(void)
{
    /* A racy read is fine: input switches between two bytes anyway. */
    return input_vm;
}

/* Caller holds input_lock. False: the VM's FIFO is full, c not taken. */
static bool route(char c)
{
    char note[96] = "";
    if (input_escape) {
        input_escape = false;
        if (c >= '0' && c <= '9' && (unsigned)(c - '0') < CONSOLE_MAX_VMS) {
            snprintf(note, sizeof(note), "tally: console input goes to VM %u\n", c - '0');
            console_write(note, strlen(note));
            spin_lock(&console_lock);
            input_vm = (unsigned)(c - '0');
            flush_held(input_vm, false); /* its prompt, if it waits for input */
            spin_unlock(&console_lock);
            return true;
        } else if (c == KEY_SWITCH) {
            return deliver(input_vm, c);
        } else {
            snprintf(note, sizeof(note),
                     "tally: console keys: Ctrl-] N: input to VM N; Ctrl-] Ctrl-]: a Ctrl-]\n");
        }
        console_write(note, strlen(note));
        return true;
    }
    if (c == KEY_SWITCH) {
        input_escape = true;
        return true;
    }
    return deliver(input_vm, c);
}

static void rx_pause(bool pause)
{
    driver->rx_irq(uart, !pause);
    atomic_store_u8(&rx_paused, pause, MO_RELAXED);
}

/* Caller holds input_lock. Deliver the held byte, then read the UART until
 * it is empty, or until the VM's FIFO is full (the byte is held and the
 * receive interrupt masked). */
static void rx_drain(void)
{
    for (;;) {
        if (held >= 0) {
            if (!deliver(input_vm, (char)held)) {
                rx_pause(true);
                return;
            }
            held = -1;
        }
        char c;
        if (!driver->getc || !driver->getc(uart, &c))
            return;
        if (!route(c)) {
            held = (unsigned char)c;
            rx_pause(true);
            return;
        }
    }
}

void console_rx_irq(void)
{
    spin_lock(&input_lock);
    rx_drain();
    spin_unlock(&input_lock);
}

/*
 * Unmasking is not enough: the driver clears the receive interrupt as it
 * unmasks (a stale one must not fire), and bytes that reached the UART
 * while it was masked raise no new one (QEMU's PL011 latches its receive
 * interrupt and raises it again only for the next byte; a typed line then
 * stopped at the 33rd character, scripts/test-console-irq). So the resume
 * reads them itself; a byte arriving after the drain interrupts as usual.
 */
void console_rx_resume(void)
{
    if (!atomic_load_u8(&rx_paused, MO_RELAXED))
        return;
    spin_lock(&input_lock);
    if (atomic_load_u8(&rx_paused, MO_RELAXED) && (held < 0 || deliver(input_vm, (char)held))) {
        held = -1;
        rx_pause(false);
        rx_drain();
    }
    spin_unlock(&input_lock);
}

void console_enter_fatal(void)
{
    atomic_store_u8(&console_fatal, 1, MO_RELAXED);
}
