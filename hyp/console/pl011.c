// SPDX-License-Identifier: MIT
// The console: an Arm PL011 UART, polled, transmit only. Output from several
// CPUs is serialised by a ticket lock so lines do not interleave; after a
// fatal error the lock is ignored (the CPU that failed may hold it).
//
// The UART is used as firmware left it (enabled, baud rate set): QEMU needs
// no set-up, and on boards the boot loader has already programmed it.
#include <tally/spinlock.h>

#include "core/hyp.h"

#define UARTDR      0x00
#define UARTFR      0x18
#define UARTFR_TXFF (1u << 5) /* transmit FIFO full */

static volatile uint32_t *uart;
static struct spinlock console_lock = SPINLOCK_INIT;
/* Set once by the first fatal report; read relaxed: a CPU that sees it late
 * only waits for the lock as before. Pairs with nothing. */
static atomic_u8 console_fatal;

void console_init(uint64_t pl011_base)
{
    uart = (volatile uint32_t *)pl011_base;
}

uint64_t console_base(void)
{
    return (uint64_t)uart;
}

static void pl011_putc(char c)
{
    while (uart[UARTFR / 4] & UARTFR_TXFF)
        ;
    uart[UARTDR / 4] = (uint32_t)(unsigned char)c;
}

void console_write(const char *s, size_t n)
{
    bool locked = !atomic_load_u8(&console_fatal, MO_RELAXED);
    if (locked)
        spin_lock(&console_lock);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            pl011_putc('\r');
        pl011_putc(s[i]);
    }
    if (locked)
        spin_unlock(&console_lock);
}

void console_enter_fatal(void)
{
    atomic_store_u8(&console_fatal, 1, MO_RELAXED);
}
