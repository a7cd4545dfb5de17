// SPDX-License-Identifier: MIT
// The boot memory map: RAM banks and reserved ranges read from the device
// tree with libfdt (see include/tally/memmap.h for the rules). Runs once on
// the boot CPU before anything else exists, so no locking; used by the host
// tests unchanged.
#include <tally/errno.h>
#include <tally/memmap.h>

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

/* Bank names are kept beside the banks only while parsing, for messages. */
struct parse {
    struct memmap *m;
    const char *bank_node[META_MAX_BANKS];
    uint64_t bank_end[META_MAX_BANKS]; /* raw (unrounded) end, for overlap checks */
    /* Reserved ranges Tally reads after its MMU is on (the DTB, the initrd,
     * boot modules), beside m->reserved: these must not be no-map. */
    bool rsv_read[MEMMAP_MAX_RESERVED];
    char *msg;
    size_t msglen;
};

#define FAIL(p, err, ...)                                                                          \
    do {                                                                                           \
        snprintf((p)->msg, (p)->msglen, __VA_ARGS__);                                              \
        return (err);                                                                              \
    } while (0)

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

static uint64_t read_cells(const fdt32_t *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 32) | fdt32_to_cpu(c[i]);
    return v;
}

/* Property `name` of node is exactly the string s (memcmp: the EL2 image
 * provides only what libfdt needs, and strcmp is not among it). */
static bool prop_is(const void *fdt, int node, const char *name, const char *s)
{
    int len;
    const char *v = fdt_getprop(fdt, node, name, &len);
    return v && len == (int)strlen(s) + 1 && !memcmp(v, s, (size_t)len);
}

/* A node is used unless its status says otherwise ("okay"/"ok" or absent). */
static bool node_available(const void *fdt, int node)
{
    return !fdt_getprop(fdt, node, "status", NULL) || prop_is(fdt, node, "status", "okay") ||
           prop_is(fdt, node, "status", "ok");
}

/*
 * Check the reg property of node: present, non-empty, a whole number of
 * (ac + sc)-cell entries, cells of at most 64 bits. Returns the entry count
 * or a negative error with the message written.
 */
static int reg_entries(struct parse *p, const void *fdt, int node, int ac, int sc,
                       const fdt32_t **reg)
{
    int len;
    *reg = fdt_getprop(fdt, node, "reg", &len);
    if (!*reg)
        return 0;
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
        FAIL(p, ERR_INVAL, "bad DTB: /%s: unsupported #address-cells %d / #size-cells %d",
             fdt_get_name(fdt, node, NULL), ac, sc);
    int entry = (ac + sc) * (int)sizeof(fdt32_t);
    if (len <= 0 || len % entry)
        FAIL(p, ERR_INVAL, "bad DTB: /%s: reg is %d bytes, not a multiple of %d",
             fdt_get_name(fdt, node, NULL), len, entry);
    return len / entry;
}

static int add_bank(struct parse *p, const char *node, uint64_t base, uint64_t size)
{
    struct memmap *m = p->m;
    if (size == 0)
        FAIL(p, ERR_INVAL, "memory bank at 0x%llx in /%s has size 0", ull(base), node);
    if (base + size < base)
        FAIL(p, ERR_RANGE, "memory bank [0x%llx, +0x%llx) in /%s wraps past 2^64", ull(base),
             ull(size), node);
    if (m->nr_banks == META_MAX_BANKS)
        FAIL(p, ERR_NOMEM, "more than %u memory banks (at 0x%llx in /%s)", META_MAX_BANKS,
             ull(base), node);
    /* Insertion keeps the banks sorted by base. */
    unsigned i = m->nr_banks++;
    for (; i > 0 && pa_val(m->banks[i - 1].base) > base; i--) {
        m->banks[i] = m->banks[i - 1];
        p->bank_node[i] = p->bank_node[i - 1];
        p->bank_end[i] = p->bank_end[i - 1];
    }
    m->banks[i] = (struct mem_bank){pa(base), size};
    p->bank_node[i] = node;
    p->bank_end[i] = base + size;
    return ERR_OK;
}

static int scan_memory(struct parse *p, const void *fdt)
{
    int ac = fdt_address_cells(fdt, 0), sc = fdt_size_cells(fdt, 0);
    int node;
    fdt_for_each_subnode(node, fdt, 0)
    {
        if (!prop_is(fdt, node, "device_type", "memory") || !node_available(fdt, node))
            continue;
        const fdt32_t *reg;
        int n = reg_entries(p, fdt, node, ac, sc, &reg);
        if (n < 0)
            return n;
        if (n == 0)
            FAIL(p, ERR_INVAL, "bad DTB: memory node /%s has no reg",
                 fdt_get_name(fdt, node, NULL));
        for (int i = 0; i < n; i++, reg += ac + sc) {
            int err = add_bank(p, fdt_get_name(fdt, node, NULL), read_cells(reg, ac),
                               read_cells(reg + ac, sc));
            if (err)
                return err;
        }
    }
    if (node < 0 && node != -FDT_ERR_NOTFOUND)
        FAIL(p, ERR_INVAL, "bad DTB: walking the root node: %s", fdt_strerror(node));
    struct memmap *m = p->m;
    if (m->nr_banks == 0)
        FAIL(p, ERR_NOENT,
             "no memory node in the DTB (no root child with device_type = \"memory\")");
    for (unsigned i = 0; i + 1 < m->nr_banks; i++)
        if (p->bank_end[i] > pa_val(m->banks[i + 1].base))
            FAIL(p, ERR_INVAL,
                 "overlapping memory banks: [0x%llx, 0x%llx) in /%s and [0x%llx, 0x%llx) in /%s",
                 ull(pa_val(m->banks[i].base)), ull(p->bank_end[i]), p->bank_node[i],
                 ull(pa_val(m->banks[i + 1].base)), ull(p->bank_end[i + 1]), p->bank_node[i + 1]);
    /* Round inward: a partial page at either end is not RAM Tally can use. */
    for (unsigned i = 0; i < m->nr_banks; i++) {
        uint64_t b = ALIGN_UP(pa_val(m->banks[i].base), PAGE_SIZE);
        uint64_t e = ALIGN_DOWN(p->bank_end[i], PAGE_SIZE);
        /* b < base: rounding up wrapped past 2^64 (a bank in the last page). */
        if (e <= b || b < pa_val(m->banks[i].base))
            FAIL(p, ERR_ALIGN, "memory bank [0x%llx, 0x%llx) in /%s holds no whole page",
                 ull(pa_val(m->banks[i].base)), ull(p->bank_end[i]), p->bank_node[i]);
        m->banks[i] = (struct mem_bank){pa(b), e - b};
    }
    return ERR_OK;
}

/* How a reserved range is used: RSV_NOMAP never mapped, RSV_READ read by
 * Tally (so never no-map). */
enum { RSV_NOMAP = 1, RSV_READ = 2 };

static int insert_reserved(struct parse *p, uint64_t base, uint64_t end, enum page_usage usage,
                           unsigned flags, const char *what)
{
    struct memmap *m = p->m;
    if (m->nr_reserved == MEMMAP_MAX_RESERVED)
        FAIL(p, ERR_NOMEM, "more than %u reserved ranges (at 0x%llx: %s)", MEMMAP_MAX_RESERVED,
             ull(base), what);
    unsigned i = m->nr_reserved++;
    for (; i > 0 && pa_val(m->reserved[i - 1].base) > base; i--) {
        m->reserved[i] = m->reserved[i - 1];
        p->rsv_read[i] = p->rsv_read[i - 1];
    }
    m->reserved[i] = (struct memmap_range){pa(base), end - base, usage, flags & RSV_NOMAP, what};
    p->rsv_read[i] = flags & RSV_READ;
    return ERR_OK;
}

/*
 * Record [base, base + size) rounded outward to pages, clipped to each bank
 * it touches. Ranges outside RAM are ignored: there is no slot to mark, and
 * Tally never maps what is not in a bank.
 */
static int add_reserved(struct parse *p, uint64_t base, uint64_t size, enum page_usage usage,
                        unsigned flags, const char *what)
{
    if (size == 0)
        return ERR_OK;
    /* The end, rounded up to a page, must not wrap: base + size < base, or a
     * rounded end of 0 (exactly 2^64, which a base of 0 would not reveal). */
    if (base + size < base || ALIGN_UP(base + size, PAGE_SIZE) <= base ||
        ALIGN_UP(base + size, PAGE_SIZE) == 0)
        FAIL(p, ERR_RANGE, "reserved range [0x%llx, +0x%llx) (%s) wraps past 2^64", ull(base),
             ull(size), what);
    uint64_t b = ALIGN_DOWN(base, PAGE_SIZE), e = ALIGN_UP(base + size, PAGE_SIZE);
    struct memmap *m = p->m;
    for (unsigned i = 0; i < m->nr_banks; i++) {
        uint64_t bb = pa_val(m->banks[i].base), be = bb + m->banks[i].size;
        uint64_t cb = b > bb ? b : bb, ce = e < be ? e : be;
        if (cb < ce) {
            int err = insert_reserved(p, cb, ce, usage, flags, what);
            if (err)
                return err;
        }
    }
    return ERR_OK;
}

static int scan_reserved_memory(struct parse *p, const void *fdt)
{
    int rm = fdt_path_offset(fdt, "/reserved-memory");
    if (rm < 0)
        return ERR_OK;
    int ac = fdt_address_cells(fdt, rm), sc = fdt_size_cells(fdt, rm);
    int node;
    fdt_for_each_subnode(node, fdt, rm)
    {
        if (!node_available(fdt, node))
            continue;
        /* Children with only size/alloc-ranges are for the OS to place:
         * nothing is there yet, so nothing is reserved. no-map ones must
         * not even be mapped (firmware may use them with other attributes,
         * and a speculative fetch through a cacheable alias corrupts them). */
        unsigned nomap = fdt_getprop(fdt, node, "no-map", NULL) ? RSV_NOMAP : 0;
        const fdt32_t *reg;
        int n = reg_entries(p, fdt, node, ac, sc, &reg);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++, reg += ac + sc) {
            int err = add_reserved(p, read_cells(reg, ac), read_cells(reg + ac, sc), PAGE_RESERVED,
                                   nomap, fdt_get_name(fdt, node, NULL));
            if (err)
                return err;
        }
    }
    return ERR_OK;
}

static int chosen_cells(const void *fdt, int chosen, const char *name, int root_dflt)
{
    int len;
    const fdt32_t *c = fdt_getprop(fdt, chosen, name, &len);
    return c && len == 4 ? (int)fdt32_to_cpu(*c) : root_dflt;
}

/* An initrd given the Linux way (U-Boot's booti, QEMU's -initrd). */
static int scan_initrd(struct parse *p, const void *fdt, int chosen)
{
    int ls, le;
    const fdt32_t *s = fdt_getprop(fdt, chosen, "linux,initrd-start", &ls);
    const fdt32_t *e = fdt_getprop(fdt, chosen, "linux,initrd-end", &le);
    if (!s || !e)
        return ERR_OK;
    if ((ls != 4 && ls != 8) || (le != 4 && le != 8))
        FAIL(p, ERR_INVAL, "bad DTB: /chosen/linux,initrd-start/end must be 4 or 8 bytes");
    uint64_t b = read_cells(s, ls / 4), en = read_cells(e, le / 4);
    if (en < b)
        FAIL(p, ERR_INVAL, "bad DTB: initrd ends (0x%llx) before it starts (0x%llx)", ull(en),
             ull(b));
    return add_reserved(p, b, en - b, PAGE_RESERVED, RSV_READ, "initrd");
}

/*
 * Boot modules of the multiboot-on-Arm binding (QEMU's guest-loader writes
 * them). Their reg uses /chosen's cells if it has them, else the root's:
 * QEMU writes 2 + 2 cells and no #address-cells in /chosen.
 */
static int scan_modules(struct parse *p, const void *fdt)
{
    int chosen = fdt_path_offset(fdt, "/chosen");
    if (chosen < 0)
        return ERR_OK;
    int err = scan_initrd(p, fdt, chosen);
    if (err)
        return err;
    int ac = chosen_cells(fdt, chosen, "#address-cells", fdt_address_cells(fdt, 0));
    int sc = chosen_cells(fdt, chosen, "#size-cells", fdt_size_cells(fdt, 0));
    int node;
    fdt_for_each_subnode(node, fdt, chosen)
    {
        if (fdt_node_check_compatible(fdt, node, "multiboot,module") != 0)
            continue;
        const fdt32_t *reg;
        int n = reg_entries(p, fdt, node, ac, sc, &reg);
        if (n < 0)
            return n;
        if (n == 0)
            FAIL(p, ERR_INVAL, "bad DTB: boot module /chosen/%s has no reg",
                 fdt_get_name(fdt, node, NULL));
        for (int i = 0; i < n; i++, reg += ac + sc) {
            err = add_reserved(p, read_cells(reg, ac), read_cells(reg + ac, sc), PAGE_RESERVED,
                               RSV_READ, fdt_get_name(fdt, node, NULL));
            if (err)
                return err;
        }
    }
    return ERR_OK;
}

/* Sorted ranges -> disjoint ranges: merge same-usage overlaps, refuse others. */
static int merge_reserved(struct parse *p)
{
    struct memmap *m = p->m;
    unsigned out = 0;
    for (unsigned i = 0; i < m->nr_reserved; i++) {
        struct memmap_range *r = &m->reserved[i];
        struct memmap_range *last = out ? &m->reserved[out - 1] : NULL;
        uint64_t lend = last ? pa_val(last->base) + last->size : 0;
        if (!last || pa_val(r->base) >= lend) {
            p->rsv_read[out] = p->rsv_read[i];
            m->reserved[out++] = *r;
            continue;
        }
        bool r_read = p->rsv_read[i], last_read = p->rsv_read[out - 1];
        if ((last->nomap && r_read) || (r->nomap && last_read)) {
            const struct memmap_range *nm = last->nomap ? last : r;
            const struct memmap_range *other = nm == last ? r : last;
            FAIL(p, ERR_EXIST, "%s [0x%llx, 0x%llx) overlaps no-map reserved %s [0x%llx, 0x%llx)",
                 other->what, ull(pa_val(other->base)), ull(pa_val(other->base) + other->size),
                 nm->what, ull(pa_val(nm->base)), ull(pa_val(nm->base) + nm->size));
        }
        if (last->usage != r->usage) {
            const struct memmap_range *hyp = last->usage == PAGE_HYP ? last : r;
            const struct memmap_range *other = hyp == last ? r : last;
            FAIL(p, ERR_EXIST, "%s [0x%llx, 0x%llx) overlaps reserved %s [0x%llx, 0x%llx)",
                 hyp->what, ull(pa_val(hyp->base)), ull(pa_val(hyp->base) + hyp->size), other->what,
                 ull(pa_val(other->base)), ull(pa_val(other->base) + other->size));
        }
        uint64_t rend = pa_val(r->base) + r->size;
        last->nomap |= r->nomap;
        p->rsv_read[out - 1] = last_read || r_read;
        if (rend > lend)
            last->size = rend - pa_val(last->base);
    }
    m->nr_reserved = out;
    return ERR_OK;
}

static int check_blob(struct parse *p, const void *fdt, paddr_t fdt_pa)
{
    int err = fdt_check_header(fdt);
    if (err)
        FAIL(p, ERR_INVAL, "bad DTB at 0x%llx: %s", ull(pa_val(fdt_pa)), fdt_strerror(err));
    /* libfdt 1.6.1's fdt_check_full() reads through NULL on blobs of
     * version < 16 (found by tests/fuzz/fuzz_memmap.c); every producer
     * Tally meets (QEMU, U-Boot, firmware, dtc) writes version 17. */
    if (fdt_version(fdt) < 16)
        FAIL(p, ERR_INVAL, "bad DTB at 0x%llx: version %u, Tally reads version 16 and later",
             ull(pa_val(fdt_pa)), fdt_version(fdt));
    if (fdt_totalsize(fdt) > MEMMAP_FDT_MAX_SIZE)
        FAIL(p, ERR_INVAL, "bad DTB at 0x%llx: totalsize 0x%x is more than 0x%llx",
             ull(pa_val(fdt_pa)), fdt_totalsize(fdt), ull(MEMMAP_FDT_MAX_SIZE));
    /* The real size is unknown at boot: walk every tag within what the
     * header claims. A blob cut short fails here. */
    err = fdt_check_full(fdt, fdt_totalsize(fdt));
    if (err)
        FAIL(p, ERR_INVAL, "bad DTB at 0x%llx: truncated or corrupt structure block (%s)",
             ull(pa_val(fdt_pa)), fdt_strerror(err));
    return ERR_OK;
}

int memmap_from_fdt_at(const void *fdt, paddr_t fdt_pa, paddr_t image_start, paddr_t image_end,
                       struct memmap *m, char *msg, size_t msglen)
{
    /* Built aside (about 1.2 KiB of stack) so that a failure leaves *m as
     * it was. */
    struct memmap out = {.nr_banks = 0, .nr_reserved = 0};
    struct parse p = {.m = &out, .msg = msg, .msglen = msglen};
    if (msglen)
        msg[0] = '\0';

    int err = check_blob(&p, fdt, fdt_pa);
    if (!err)
        err = scan_memory(&p, fdt);
    for (int i = 0, n = err ? 0 : fdt_num_mem_rsv(fdt); !err && i < n; i++) {
        uint64_t base, size;
        fdt_get_mem_rsv(fdt, i, &base, &size);
        err = add_reserved(&p, base, size, PAGE_RESERVED, 0, "memreserve");
    }
    if (!err)
        err = scan_reserved_memory(&p, fdt);
    if (!err)
        err = scan_modules(&p, fdt);
    if (!err)
        err = add_reserved(&p, pa_val(fdt_pa), fdt_totalsize(fdt), PAGE_RESERVED, RSV_READ, "dtb");
    if (!err && pa_val(image_end) > pa_val(image_start))
        err = add_reserved(&p, pa_val(image_start), pa_val(image_end) - pa_val(image_start),
                           PAGE_HYP, RSV_READ, "tally image");
    if (!err)
        err = merge_reserved(&p);
    if (!err)
        *m = out;
    return err;
}

int memmap_from_fdt(const void *fdt, paddr_t image_start, paddr_t image_end, struct memmap *m,
                    char *msg, size_t msglen)
{
    return memmap_from_fdt_at(fdt, pa((uint64_t)(uintptr_t)fdt), image_start, image_end, m, msg,
                              msglen);
}

unsigned memmap_free_ranges(const struct memmap *m, struct mem_bank *out, unsigned max)
{
    unsigned n = 0, r = 0;
    for (unsigned i = 0; i < m->nr_banks; i++) {
        uint64_t cur = pa_val(m->banks[i].base), end = cur + m->banks[i].size;
        /* Reserved ranges are sorted, disjoint and each inside one bank. */
        for (; r < m->nr_reserved && pa_val(m->reserved[r].base) < end; r++) {
            uint64_t rb = pa_val(m->reserved[r].base);
            if (rb > cur) {
                if (n < max)
                    out[n] = (struct mem_bank){pa(cur), rb - cur};
                n++;
            }
            cur = rb + m->reserved[r].size;
        }
        if (cur < end) {
            if (n < max)
                out[n] = (struct mem_bank){pa(cur), end - cur};
            n++;
        }
    }
    return n;
}

int memmap_carve(struct memmap *m, uint64_t size, uint64_t align, enum page_usage usage,
                 const char *what, paddr_t *out)
{
    if (size == 0 || align < PAGE_SIZE || (align & (align - 1)))
        return ERR_INVAL;
    size = ALIGN_UP(size, PAGE_SIZE);
    if (size == 0 || m->nr_reserved == MEMMAP_MAX_RESERVED)
        return ERR_NOMEM;
    struct mem_bank free[META_MAX_BANKS + MEMMAP_MAX_RESERVED];
    unsigned n = memmap_free_ranges(m, free, ARRAY_SIZE(free));
    for (unsigned i = 0; i < n; i++) {
        uint64_t b = ALIGN_UP(pa_val(free[i].base), align);
        uint64_t e = pa_val(free[i].base) + free[i].size;
        if (b < pa_val(free[i].base) || b >= e || e - b < size)
            continue;
        /* A free range never touches a neighbour of another usage, and
         * merging would lose `what`: insert a range of its own. */
        char none[1];
        struct parse p = {.m = m, .msg = none, .msglen = sizeof(none)};
        int err = insert_reserved(&p, b, b + size, usage, 0, what);
        if (err)
            return err;
        *out = pa(b);
        return ERR_OK;
    }
    return ERR_NOMEM;
}
