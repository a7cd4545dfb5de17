// SPDX-License-Identifier: MIT
// Device-tree lookups for the EL2 runtime (see dt.h): console, GIC, reg with
// `ranges` translation.
#include <libfdt.h>
#include <string.h>

#include "dt.h"

/* The longest bus chain followed: a Pi 4's deepest device is 3 buses down. */
#define DT_MAX_DEPTH 8

static uint64_t cells(const fdt32_t *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 32) | fdt32_to_cpu(c[i]);
    return v;
}

/*
 * Translate addr, an address in bus's address space (bus is the parent of
 * the node whose reg it came from), up to the root's: each bus on the way
 * must have `ranges` (empty: identity; absent: the bus is not memory-mapped).
 * Entries are <child-addr parent-addr size> with the bus's #address-cells,
 * its parent's #address-cells and the bus's #size-cells.
 */
static bool translate(const void *fdt, int bus, uint64_t addr, uint64_t *out)
{
    for (int depth = 0; bus > 0; depth++) {
        int parent = fdt_parent_offset(fdt, bus), len;
        if (parent < 0 || depth == DT_MAX_DEPTH)
            return false;
        const fdt32_t *r = fdt_getprop(fdt, bus, "ranges", &len);
        if (!r)
            return false;
        int ca = fdt_address_cells(fdt, bus), pa_cells = fdt_address_cells(fdt, parent);
        int cs = fdt_size_cells(fdt, bus);
        if (len > 0) {
            if (ca < 1 || ca > 2 || pa_cells < 1 || pa_cells > 2 || cs < 1 || cs > 2)
                return false;
            int per = ca + pa_cells + cs;
            bool hit = false;
            for (int i = 0; i + per <= len / 4; i += per) {
                uint64_t child = cells(r + i, ca), par = cells(r + i + ca, pa_cells);
                uint64_t size = cells(r + i + ca + pa_cells, cs);
                if (addr >= child && addr - child < size) {
                    addr = par + (addr - child);
                    hit = true;
                    break;
                }
            }
            if (!hit)
                return false;
        }
        bus = parent;
    }
    *out = addr;
    return true;
}

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
    uint64_t b = cells(reg, ac), s = cells(reg + ac, sc);
    if (!translate(fdt, parent, b, &b))
        return false;
    *base = b;
    *size = s;
    return true;
}

static const struct {
    const char *compatible;
    enum dt_uart_kind kind;
} uart_kinds[] = {
    {"arm,pl011", DT_UART_PL011},
    {"brcm,bcm2835-aux-uart", DT_UART_MINI},
};

bool dt_stdout_uart(const void *fdt, struct dt_uart *u)
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
    if (node < 0)
        return false;
    for (unsigned i = 0; i < sizeof(uart_kinds) / sizeof(uart_kinds[0]); i++) {
        if (fdt_node_check_compatible(fdt, node, uart_kinds[i].compatible) != 0)
            continue;
        u->kind = uart_kinds[i].kind;
        u->node = node;
        return dt_reg(fdt, node, 0, &u->base, &u->size);
    }
    return false;
}

/* A node is in use unless its status says otherwise ("okay"/"ok" or absent). */
static bool node_okay(const void *fdt, int node)
{
    int len;
    const char *s = fdt_getprop(fdt, node, "status", &len);
    return !s || (len == 5 && !memcmp(s, "okay", 5)) || (len == 3 && !memcmp(s, "ok", 3));
}

int dt_find_compatible(const void *fdt, const char *compatible, uint64_t *base, uint64_t *size)
{
    int node = -1;
    while ((node = fdt_node_offset_by_compatible(fdt, node, compatible)) >= 0)
        if (node_okay(fdt, node) && dt_reg(fdt, node, 0, base, size))
            return node;
    return -1;
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
