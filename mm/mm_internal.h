/* SPDX-License-Identifier: MIT */
/* Interfaces between the files of mm/ that are not part of any contract. */
#ifndef TALLY_MM_INTERNAL_H
#define TALLY_MM_INTERNAL_H

#include <tally/meta.h>

/* Move n slots of census from one usage to another. */
void meta_census_move(enum page_usage from, enum page_usage to, uint64_t n);

/* The usage's destructor (mm/usage.c) for the last drop of s; panics if
 * the tracker does not count references of usage u. */
void usage_destroy(struct meta_slot *s, enum page_usage u);

#endif
