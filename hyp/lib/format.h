/* SPDX-License-Identifier: MIT */
/* The formatter behind the EL2 image's printf family (hyp/lib/format.c). */
#ifndef TALLY_HYP_FORMAT_H
#define TALLY_HYP_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* C11 vsnprintf for the conversions hyp/include/stdio.h lists: writes at
 * most size bytes, always NUL-terminated when size > 0, and returns the
 * length the whole output has. */
__attribute__((format(printf, 3, 0))) int fmt_vsnprintf(char *buf, size_t size, const char *fmt,
                                                        va_list ap);

#endif
