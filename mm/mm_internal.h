/* SPDX-License-Identifier: MIT */
/* Interfaces between the files of mm/ that are not part of any contract. */
#ifndef TALLY_MM_INTERNAL_H
#define TALLY_MM_INTERNAL_H

#include <tally/meta.h>

/* Move n slots of census from one usage to another. */
void meta_census_move(enum page_usage from, enum page_usage to, uint64_t n);

#endif
