// SPDX-License-Identifier: MIT
// Test guest console: polled output on the PL011 the device tree names. Only
// the boot CPU prints (the other CPU reports through shared variables), so no
// lock is needed.

#include "testguest.h"

#define UART_DR      0x00
#define UART_FR      0x18
#define UART_FR_TXFF (1U << 5)

static u64 uart;

void con_init(u64 pl011_base)
{
    uart = pl011_base;
}

static void con_putc(char c)
{
    if (!uart)
        return;
    while (mmio_read32(uart + UART_FR) & UART_FR_TXFF)
        ;
    mmio_write32(uart + UART_DR, (u8)c);
}

void con_puts(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            con_putc('\r');
        con_putc(*s);
    }
}

void con_putu(u64 v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    con_puts(buf + i);
}

void con_puthex(u64 v)
{
    char buf[19];
    int i = 18;
    buf[i] = 0;
    do {
        buf[--i] = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v);
    buf[--i] = 'x';
    buf[--i] = '0';
    con_puts(buf + i);
}
