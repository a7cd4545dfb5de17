/* SPDX-License-Identifier: MIT */
/*
 * panic() never returns. The platform provides it: at EL2 it prints on the
 * console, with the CPU, and halts; on the host it prints to stderr and
 * aborts (check's signal tests catch that).
 */
#ifndef TALLY_PANIC_H
#define TALLY_PANIC_H

#include <tally/types.h>

__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

#define BUG_ON(cond)                                                                               \
    do {                                                                                           \
        if (unlikely(cond))                                                                        \
            panic("BUG: %s at %s:%d", #cond, __FILE__, __LINE__);                                  \
    } while (0)

#ifdef TALLY_DEBUG
#define DEBUG_BUG_ON(cond) BUG_ON(cond)
#else
#define DEBUG_BUG_ON(cond) ((void)0)
#endif

#endif
