// SPDX-License-Identifier: MIT
// The console: one polled, transmit-only UART (a PL011 or the BCM2711's
// mini-UART, whichever /chosen/stdout-path names). Output from several CPUs
// is serialised by a ticket lock so lines do not interleave; after a fatal
// error the lock is ignored (the CPU that failed may hold it).
//
// The UART is used as firmware left it (enabled, baud rate set): QEMU needs
// no set-up, and on boards the boot loader has already programmed it.
#include <tally/spinlock.h>

#include "console.h"
#include "core/hyp.h"

static const struct console_driver *const drivers[] = {
    [CONSOLE_PL011] = &pl011_driver,
    [CONSOLE_MINI_UART] = &mini_uart_driver,
};

static volatile uint32_t *uart;
static uint64_t guest_uart;
static const struct console_driver *driver = &pl011_driver;
static struct spinlock console_lock = SPINLOCK_INIT;
/* Set once by the first fatal report; read relaxed: a CPU that sees it late
 * only waits for the lock as before. Pairs with nothing. */
static atomic_u8 console_fatal;

void console_init(enum console_kind kind, uint64_t base)
{
    driver = drivers[kind];
    uart = (volatile uint32_t *)base;
}

uint64_t console_base(void)
{
    return (uint64_t)uart;
}

void console_set_guest_uart(uint64_t pl011_base)
{
    guest_uart = pl011_base;
}

uint64_t console_guest_uart(void)
{
    return guest_uart;
}

const char *console_name(void)
{
    return driver->name;
}

void console_write(const char *s, size_t n)
{
    bool locked = !atomic_load_u8(&console_fatal, MO_RELAXED);
    if (locked)
        spin_lock(&console_lock);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            driver->putc(uart, '\r');
        driver->putc(uart, s[i]);
    }
    if (locked)
        spin_unlock(&console_lock);
}

void console_enter_fatal(void)
{
    atomic_store_u8(&console_fatal, 1, MO_RELAXED);
}
