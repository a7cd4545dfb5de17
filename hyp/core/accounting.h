/* SPDX-License-Identifier: MIT */
/* The page accounting line (hyp/core/accounting.c). */
#ifndef TALLY_HYP_ACCOUNTING_H
#define TALLY_HYP_ACCOUNTING_H

#include <tally/types.h>

struct accounting {
    uint64_t free, frame, pagetable, kstack, hyp, meta, reserved;
    int64_t leaked;
};

/* Take the census and count what live owners reach. */
void accounting_take(struct accounting *a);
/* Print `tally: accounting free=N frame=N pagetable=N kstack=N hyp=N meta=N
 * reserved=N leaked=N`. */
void accounting_print(const struct accounting *a);

#endif
