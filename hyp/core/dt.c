// SPDX-License-Identifier: MIT
// Device-tree lookups for the EL2 runtime (see dt.h): console, GIC, reg.
#include <libfdt.h>
#include <string.h>

#include "dt.h"

bool dt_reg(const void *fdt, int node, unsigned idx, uint64_t *base, uint64_t *size)
{
    int parent = fdt_parent_offset(fdt, node);
    if (parent < 0)
        return false;
    int ac = fdt_address_cells(fdt, parent), sc = fdt_size_cells(fdt, parent), len;
    if (ac < 1 || ac > 2 || sc < 0 || sc > 2)
        return false;
    const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);
    unsigned per = (unsigned)(ac + sc);
    if (!reg || len < 0 || (unsigned)len < (idx + 1) * per * 4)
        return false;
    reg += idx * per;
    uint64_t b = 0, s = 0;
    for (int i = 0; i < ac; i++)
        b = (b << 32) | fdt32_to_cpu(reg[i]);
    for (int i = 0; i < sc; i++)
        s = (s << 32) | fdt32_to_cpu(reg[ac + i]);
    *base = b;
    *size = s;
    return true;
}

bool dt_stdout_pl011(const void *fdt, uint64_t *base, uint64_t *size)
{
    int chosen = fdt_path_offset(fdt, "/chosen"), len;
    if (chosen < 0)
        return false;
    const char *path = fdt_getprop(fdt, chosen, "stdout-path", &len);
    if (!path)
        path = fdt_getprop(fdt, chosen, "linux,stdout-path", &len);
    if (!path || len < 1 || strnlen(path, (size_t)len) == (size_t)len)
        return false;
    /* "path-or-alias[:options]" */
    const char *colon = strchr(path, ':');
    int n = colon ? (int)(colon - path) : (int)strlen(path);
    if (path[0] != '/') {
        path = fdt_get_alias_namelen(fdt, path, n);
        if (!path)
            return false;
        n = (int)strlen(path);
    }
    int node = fdt_path_offset_namelen(fdt, path, n);
    if (node < 0 || fdt_node_check_compatible(fdt, node, "arm,pl011") != 0)
        return false;
    return dt_reg(fdt, node, 0, base, size);
}

void dt_gic(const void *fdt, struct dt_gic *g)
{
    static const struct {
        const char *compatible;
        unsigned version;
    } known[] = {
        {"arm,gic-v3", 3},
        {"arm,cortex-a15-gic", 2},
        {"arm,gic-400", 2},
        {"arm,cortex-a7-gic", 2},
    };
    memset(g, 0, sizeof(*g));
    for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        int node = fdt_node_offset_by_compatible(fdt, -1, known[i].compatible);
        if (node < 0)
            continue;
        g->version = known[i].version;
        g->compatible = known[i].compatible;
        while (g->nr_regs < DT_GIC_MAX_REGS &&
               dt_reg(fdt, node, g->nr_regs, &g->base[g->nr_regs], &g->size[g->nr_regs]))
            g->nr_regs++;
        return;
    }
}

const char *dt_bootargs(const void *fdt)
{
    int chosen = fdt_path_offset(fdt, "/chosen"), len;
    if (chosen < 0)
        return NULL;
    const char *s = fdt_getprop(fdt, chosen, "bootargs", &len);
    if (!s || len < 1 || strnlen(s, (size_t)len) == (size_t)len)
        return NULL;
    return s;
}
