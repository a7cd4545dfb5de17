// SPDX-License-Identifier: MIT
// Tally's boot arguments (see bootargs.h). Portable: the host unit tests run
// this file as it is.
#include <string.h>

#include "bootargs.h"

/* Written once on the boot CPU before any other CPU starts; read-only after. */
static char bootargs[BOOTARGS_MAX];

void bootargs_set(const char *cmdline)
{
    size_t n = cmdline ? strnlen(cmdline, sizeof(bootargs) - 1) : 0;
    memcpy(bootargs, cmdline ? cmdline : "", n);
    bootargs[n] = '\0';
}

bool bootarg_get(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *w = bootargs; *w;) {
        while (*w == ' ')
            w++;
        const char *end = strchr(w, ' ');
        size_t wl = end ? (size_t)(end - w) : strlen(w);
        if (wl > n && !memcmp(w, name, n) && w[n] == '=') {
            size_t vl = wl - n - 1;
            if (vl >= len)
                vl = len - 1;
            memcpy(buf, w + n + 1, vl);
            buf[vl] = '\0';
            return true;
        }
        w += wl;
    }
    return false;
}
