/* SPDX-License-Identifier: MIT */
/*
 * Formatted output of the EL2 image (hyp/lib/printf.c): printf writes to the
 * console, one call = one uninterrupted line group; snprintf/vsnprintf as in
 * C11 (always NUL-terminated, return the length the full output would have).
 * Conversions: %d %i %u %x %X %p %s %c %%, flags '-' '0', a width, a
 * precision for %s, length modifiers hh h l ll z.
 */
#ifndef TALLY_HYP_STDIO_H
#define TALLY_HYP_STDIO_H

#include <stdarg.h>
#include <stddef.h>

__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
__attribute__((format(printf, 3, 4))) int snprintf(char *buf, size_t size, const char *fmt, ...);
__attribute__((format(printf, 3, 0))) int vsnprintf(char *buf, size_t size, const char *fmt,
                                                    va_list ap);

#endif
