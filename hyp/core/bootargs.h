/* SPDX-License-Identifier: MIT */
/*
 * Tally's own boot arguments: the words of /chosen/bootargs (QEMU -append).
 * A word is "name=value"; words are separated by spaces. docs/boot.md lists
 * the names Tally knows (tally.test=..., tally.panic=wait).
 */
#ifndef TALLY_HYP_BOOTARGS_H
#define TALLY_HYP_BOOTARGS_H

#include <tally/types.h>

#define BOOTARGS_MAX 256

/* Keep a copy of the command line (at most BOOTARGS_MAX - 1 characters;
 * the DT may go away). NULL: no arguments. */
void bootargs_set(const char *cmdline);
/* The value of the first word "name=value", copied into buf (NUL-terminated,
 * cut to len - 1 characters); false if there is none. */
bool bootarg_get(const char *name, char *buf, size_t len);

#endif
