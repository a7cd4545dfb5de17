// SPDX-License-Identifier: MIT
// The printf family of the EL2 image, over the formatter in format.c. printf
// formats into a stack buffer and writes it to the console in one locked
// call, so a line from one CPU is never split by another's.
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "format.h"
#include "core/hyp.h"

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    return fmt_vsnprintf(buf, size, fmt, ap);
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    console_write(buf, len);
    return n;
}
