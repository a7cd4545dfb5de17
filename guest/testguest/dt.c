// SPDX-License-Identifier: MIT
// Test guest: a minimal reader of the flattened device tree the loader
// passes in x0. Enough for the guest's needs (a node by path, by compatible
// string, children, properties, root-level reg entries) and small enough to
// read at a glance; the guest runs with the MMU off, so every multi-byte read
// here is a 4-byte-aligned 32-bit load (the FDT format guarantees that
// alignment for tokens and property values).

#include "testguest.h"

#define FDT_MAGIC      0xd00dfeedU
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9

static const u8 *blob;
static const u8 *structs;
static const char *strings;
static u32 struct_size;
static u32 root_acells = 2, root_scells = 2;

u32 be32(const void *p)
{
    return __builtin_bswap32(*(const volatile u32 *)p);
}

static bool str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static u32 str_len(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}

static u32 align4(u32 v)
{
    return (v + 3) & ~3U;
}

static u32 tok(int off)
{
    return be32(structs + off);
}

/* Offset of the token after the one at `off` (BEGIN_NODE, PROP, NOP, END_NODE). */
static int skip_token(int off)
{
    switch (tok(off)) {
    case FDT_BEGIN_NODE:
        return off + 4 + (int)align4(str_len((const char *)structs + off + 4) + 1);
    case FDT_PROP:
        return off + 12 + (int)align4(be32(structs + off + 4));
    case FDT_NOP:
    case FDT_END_NODE:
        return off + 4;
    default:
        return -1;
    }
}

static const char *node_name(int node)
{
    return (const char *)structs + node + 4;
}

/* First token after the node's properties: a child or its END_NODE. */
static int first_child_token(int node)
{
    int off = skip_token(node);
    while (off >= 0 && (tok(off) == FDT_PROP || tok(off) == FDT_NOP))
        off = skip_token(off);
    return off;
}

/* Offset just past the node's END_NODE. */
static int skip_node(int node)
{
    int depth = 0, off = node;
    while (off >= 0 && (u32)off < struct_size) {
        u32 t = tok(off);
        if (t == FDT_BEGIN_NODE)
            depth++;
        else if (t == FDT_END_NODE && --depth == 0)
            return off + 4;
        else if (t == FDT_END)
            return -1;
        off = skip_token(off);
    }
    return -1;
}

int dt_next_child(int parent, int prev)
{
    int off = prev < 0 ? first_child_token(parent) : skip_node(prev);
    while (off >= 0 && tok(off) == FDT_NOP)
        off += 4;
    if (off < 0 || tok(off) != FDT_BEGIN_NODE)
        return -1;
    return off;
}

const void *dt_prop(int node, const char *name, int *len)
{
    int off = skip_token(node);
    while (off >= 0 && (tok(off) == FDT_PROP || tok(off) == FDT_NOP)) {
        if (tok(off) == FDT_PROP && str_eq(strings + be32(structs + off + 8), name)) {
            if (len)
                *len = (int)be32(structs + off + 4);
            return structs + off + 12;
        }
        off = skip_token(off);
    }
    return NULL;
}

u32 dt_prop_u32(int node, const char *name, u32 dflt)
{
    int len;
    const void *p = dt_prop(node, name, &len);
    return p && len >= 4 ? be32(p) : dflt;
}

bool dt_prop_cells(int node, const char *name, int index, int cells, u64 *out)
{
    int len;
    const u8 *p = dt_prop(node, name, &len);
    if (!p || (index + cells) * 4 > len)
        return false;
    u64 v = 0;
    for (int i = 0; i < cells; i++)
        v = (v << 32) | be32(p + 4 * (index + i));
    *out = v;
    return true;
}

bool dt_prop_has_string(int node, const char *name, const char *s)
{
    int len;
    const char *p = dt_prop(node, name, &len);
    if (!p)
        return false;
    for (int i = 0; i < len; i += (int)str_len(p + i) + 1)
        if (str_eq(p + i, s))
            return true;
    return false;
}

bool dt_reg(int node, int index, u64 *addr, u64 *size)
{
    int per = (int)(root_acells + root_scells);
    return dt_prop_cells(node, "reg", index * per, (int)root_acells, addr) &&
           dt_prop_cells(node, "reg", index * per + (int)root_acells, (int)root_scells, size);
}

/* Does path component [c, c+n) name this node? "pl011" matches "pl011@9000000". */
static bool name_matches(const char *name, const char *c, u32 n)
{
    u32 i = 0;
    while (i < n && name[i] == c[i])
        i++;
    if (i != n)
        return false;
    if (name[i] == 0)
        return true;
    /* Without a unit address in the path, the name before '@' must match. */
    for (u32 k = 0; k < n; k++)
        if (c[k] == '@')
            return false;
    return name[i] == '@';
}

int dt_path(const char *path)
{
    int node = 0;
    if (path[0] != '/')
        return -1;
    const char *c = path + 1;
    while (*c) {
        u32 n = 0;
        while (c[n] && c[n] != '/' && c[n] != ':')
            n++;
        int child = dt_next_child(node, -1);
        while (child >= 0 && !name_matches(node_name(child), c, n))
            child = dt_next_child(node, child);
        if (child < 0)
            return -1;
        node = child;
        c += n;
        if (*c == ':') /* stdout-path options such as ":115200n8" */
            break;
        if (*c == '/')
            c++;
    }
    return node;
}

int dt_find_compatible(int after, const char *compat)
{
    int off = after < 0 ? 0 : skip_token(after);
    while (off >= 0 && (u32)off < struct_size && tok(off) != FDT_END) {
        if (tok(off) == FDT_BEGIN_NODE && dt_prop_has_string(off, "compatible", compat))
            return off;
        off = skip_token(off);
    }
    return -1;
}

bool dt_memreserve(int index, u64 *addr, u64 *size)
{
    const u8 *e = blob + be32(blob + 16) + 16 * index;
    *addr = (u64)be32(e) << 32 | be32(e + 4);
    *size = (u64)be32(e + 8) << 32 | be32(e + 12);
    return *addr || *size;
}

u32 dt_total_size(void)
{
    return be32(blob + 4);
}

int dt_init(const void *fdt)
{
    blob = fdt;
    if (!blob || ((u64)blob & 7) || be32(blob) != FDT_MAGIC)
        return -1;
    structs = blob + be32(blob + 8);
    strings = (const char *)blob + be32(blob + 12);
    struct_size = be32(blob + 36);
    if (tok(0) != FDT_BEGIN_NODE)
        return -1;
    root_acells = dt_prop_u32(0, "#address-cells", 2);
    root_scells = dt_prop_u32(0, "#size-cells", 1);
    return 0;
}
