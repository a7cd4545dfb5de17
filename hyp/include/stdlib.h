/* SPDX-License-Identifier: MIT */
/* The one <stdlib.h> function of the EL2 image (libfdt parses numbers with it). */
#ifndef TALLY_HYP_STDLIB_H
#define TALLY_HYP_STDLIB_H

#include <stddef.h>

unsigned long strtoul(const char *s, char **end, int base);

#endif
