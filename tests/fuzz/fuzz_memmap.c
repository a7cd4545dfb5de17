// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes as a device-tree blob into
// memmap_from_fdt_at() and memmap_from_fdt() (hyp/core/memmap.c over the host's
// libfdt).
//
// Input: the blob, then an optional trailer of parameters (little-endian;
// missing fields take the defaults in brackets):
//   u64 fdt_pa [0x48000000], u64 image_start [0x40200000],
//   u64 image_end [0x40400000], u8 msglen [0 -> 256], u64 carve size
//   [0x100000], u8 carve alignment shift [21].
// The blob is what the header's totalsize says (bytes 4..7, big-endian) when
// that is between 40 and MEMMAP_FDT_MAX_SIZE, else the 40-byte header; input
// shorter than that is padded with zeroes, and input beyond it is the
// trailer. The seed corpus is plain .dtb files (no trailer: the defaults suit
// QEMU's virt machine, RAM at 0x40000000).
//
// Each input runs twice: once with the blob ending 0..7 bytes before a
// PROT_NONE guard page (libfdt is not instrumented: a read past the blob
// faults), once in a malloc'd buffer of exactly its size (ASan's redzones
// around memmap.c's own reads, and a message buffer of exactly msglen bytes).
// Both must agree. Then the invariants (memmap.h): on success, banks sorted,
// disjoint, page aligned and exactly the DT's memory reg entries rounded
// inward; reserved ranges page aligned, sorted, disjoint, each inside a bank,
// covering the blob, the /memreserve/ entries, the /reserved-memory children,
// the initrd, the boot modules and (as PAGE_HYP) the image;
// memmap_free_ranges() and memmap_carve() consistent with them. On failure,
// a documented code, *m untouched and a message.
#include "fuzz_common.h"

#include <libfdt.h>
#include <string.h>
#include <sys/mman.h>

#include <tally/errno.h>
#include <tally/memmap.h>

#define ARENA_DATA (MEMMAP_FDT_MAX_SIZE + PAGE_SIZE)
#define MSG_MAX    256

typedef unsigned __int128 u128;

static uint8_t *arena; /* [guard][ARENA_DATA][guard] */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t len = ARENA_DATA + 2 * PAGE_SIZE;
    uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED || mprotect(a, PAGE_SIZE, PROT_NONE) ||
        mprotect(a + PAGE_SIZE + ARENA_DATA, PAGE_SIZE, PROT_NONE))
        abort();
    arena = a + PAGE_SIZE;
    return 0;
}

struct params {
    uint64_t fdt_pa, img_start, img_end;
    size_t msglen;
    uint64_t carve_size, carve_align;
};

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* --- the oracle: what the DT says, read independently --------------------- */

#define RAW_MAX 64
struct raw {
    uint64_t base[RAW_MAX], size[RAW_MAX];
    unsigned n;
};

static uint64_t cells(const fdt32_t *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 32) | fdt32_to_cpu(c[i]);
    return v;
}

static bool str_prop(const void *fdt, int node, const char *name, const char *s)
{
    int len;
    const char *v = fdt_getprop(fdt, node, name, &len);
    return v && (size_t)len == strlen(s) + 1 && !memcmp(v, s, (size_t)len);
}

/* Every (base, size) of every available device_type = "memory" root child. */
static void raw_memory(const void *fdt, struct raw *r)
{
    int ac = fdt_address_cells(fdt, 0), sc = fdt_size_cells(fdt, 0), node;
    r->n = 0;
    fdt_for_each_subnode(node, fdt, 0)
    {
        if (!str_prop(fdt, node, "device_type", "memory"))
            continue;
        if (fdt_getprop(fdt, node, "status", NULL) && !str_prop(fdt, node, "status", "okay") &&
            !str_prop(fdt, node, "status", "ok"))
            continue;
        int len;
        const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);
        FUZZ_CHECK(reg && ac >= 1 && ac <= 2 && sc >= 1 && sc <= 2 && len % (4 * (ac + sc)) == 0,
                   "success with a malformed memory node (ac %d sc %d len %d)", ac, sc, len);
        for (int i = 0; i < len / (4 * (ac + sc)); i++) {
            FUZZ_CHECK(r->n < RAW_MAX, "more memory entries than META_MAX_BANKS accepted");
            r->base[r->n] = cells(reg + i * (ac + sc), ac);
            r->size[r->n] = cells(reg + i * (ac + sc) + ac, sc);
            r->n++;
        }
    }
}

/* --- invariants -------------------------------------------------------------- */

static bool in_blob(const void *p, const uint8_t *blob, size_t len)
{
    return blob && (uintptr_t)p >= (uintptr_t)blob && (uintptr_t)p - (uintptr_t)blob < len;
}

static void check_ranges(const struct memmap *m, const uint8_t *blob, size_t blob_len)
{
    FUZZ_CHECK(m->nr_banks >= 1 && m->nr_banks <= META_MAX_BANKS, "nr_banks %u", m->nr_banks);
    FUZZ_CHECK(m->nr_reserved <= MEMMAP_MAX_RESERVED, "nr_reserved %u", m->nr_reserved);
    for (unsigned i = 0; i < m->nr_banks; i++) {
        uint64_t b = pa_val(m->banks[i].base), s = m->banks[i].size;
        FUZZ_CHECK(IS_ALIGNED(b | s, PAGE_SIZE) && s > 0 && b + s > b,
                   "bank %u [0x%llx, +0x%llx) not whole pages", i, ull(b), ull(s));
        if (i > 0)
            FUZZ_CHECK(pa_val(m->banks[i - 1].base) + m->banks[i - 1].size <= b,
                       "banks %u and %u unsorted or overlapping", i - 1, i);
    }
    for (unsigned i = 0; i < m->nr_reserved; i++) {
        const struct memmap_range *r = &m->reserved[i];
        uint64_t b = pa_val(r->base), e = b + r->size;
        FUZZ_CHECK(IS_ALIGNED(b | r->size, PAGE_SIZE) && r->size > 0 && e > b,
                   "reserved %u [0x%llx, +0x%llx) not whole pages", i, ull(b), ull(r->size));
        FUZZ_CHECK(r->usage == PAGE_RESERVED || r->usage == PAGE_HYP || r->usage == PAGE_META,
                   "reserved %u usage %d", i, r->usage);
        FUZZ_CHECK(r->what != NULL, "reserved %u has no name", i);
        if (in_blob(r->what, blob, blob_len))
            FUZZ_CHECK(memchr(r->what, 0, (size_t)(blob + blob_len - (const uint8_t *)r->what)),
                       "reserved %u: name runs past the blob", i);
        bool inside = false;
        for (unsigned k = 0; k < m->nr_banks; k++)
            inside |=
                b >= pa_val(m->banks[k].base) && e <= pa_val(m->banks[k].base) + m->banks[k].size;
        FUZZ_CHECK(inside, "reserved %u [0x%llx, 0x%llx) is not inside one bank", i, ull(b),
                   ull(e));
        if (i > 0)
            FUZZ_CHECK(pa_val(m->reserved[i - 1].base) + m->reserved[i - 1].size <= b,
                       "reserved %u and %u unsorted or overlapping", i - 1, i);
    }
}

/* [base, base + size) rounded outward, clipped to every bank, lies in ranges
 * of `usage`. */
static void check_covered(const struct memmap *m, uint64_t base, uint64_t size,
                          enum page_usage usage, const char *what)
{
    if (size == 0)
        return;
    u128 b = base & ~(u128)PAGE_MASK, e = ((u128)base + size + PAGE_MASK) & ~(u128)PAGE_MASK;
    for (unsigned k = 0; k < m->nr_banks; k++) {
        u128 bb = pa_val(m->banks[k].base), be = bb + m->banks[k].size;
        u128 cur = b > bb ? b : bb, end = e < be ? e : be;
        for (unsigned i = 0; i < m->nr_reserved && cur < end; i++) {
            u128 rb = pa_val(m->reserved[i].base), re = rb + m->reserved[i].size;
            if (rb <= cur && cur < re && m->reserved[i].usage == usage)
                cur = re;
        }
        FUZZ_CHECK(cur >= end, "%s [0x%llx, +0x%llx) not covered in bank %u at 0x%llx", what,
                   ull(base), ull(size), k, ull((uint64_t)cur));
    }
}

static void check_banks_exact(const struct memmap *m, const void *fdt)
{
    struct raw r;
    raw_memory(fdt, &r);
    FUZZ_CHECK(r.n == m->nr_banks, "%u memory reg entries, %u banks", r.n, m->nr_banks);
    for (unsigned i = 0; i < r.n; i++) {
        u128 b = ((u128)r.base[i] + PAGE_MASK) & ~(u128)PAGE_MASK;
        u128 e = ((u128)r.base[i] + r.size[i]) & ~(u128)PAGE_MASK;
        bool found = false;
        for (unsigned k = 0; k < m->nr_banks && !found; k++)
            found =
                pa_val(m->banks[k].base) == b && pa_val(m->banks[k].base) + m->banks[k].size == e;
        FUZZ_CHECK(found && e > b,
                   "memory reg [0x%llx, +0x%llx) is not a bank [0x%llx, 0x%llx) once rounded "
                   "inward (banks[0] = [0x%llx, +0x%llx))",
                   ull(r.base[i]), ull(r.size[i]), ull((uint64_t)b), ull((uint64_t)e),
                   ull(pa_val(m->banks[0].base)), ull(m->banks[0].size));
    }
}

static void check_free(const struct memmap *m)
{
    struct mem_bank fr[META_MAX_BANKS + MEMMAP_MAX_RESERVED + 1], few[2];
    unsigned n = memmap_free_ranges(m, fr, ARRAY_SIZE(fr));
    FUZZ_CHECK(n <= m->nr_banks + m->nr_reserved, "%u free ranges", n);
    FUZZ_CHECK(memmap_free_ranges(m, few, 1) == n, "free-range count depends on max");
    u128 banks = 0, res = 0, fsum = 0;
    for (unsigned k = 0; k < m->nr_banks; k++)
        banks += m->banks[k].size;
    for (unsigned i = 0; i < m->nr_reserved; i++)
        res += m->reserved[i].size;
    for (unsigned j = 0; j < n; j++) {
        uint64_t b = pa_val(fr[j].base), e = b + fr[j].size;
        FUZZ_CHECK(fr[j].size > 0 && IS_ALIGNED(b | fr[j].size, PAGE_SIZE), "free range %u", j);
        if (j > 0)
            FUZZ_CHECK(pa_val(fr[j - 1].base) + fr[j - 1].size <= b, "free ranges %u, %u", j - 1,
                       j);
        for (unsigned i = 0; i < m->nr_reserved; i++) {
            uint64_t rb = pa_val(m->reserved[i].base), re = rb + m->reserved[i].size;
            FUZZ_CHECK(e <= rb || re <= b, "free range %u overlaps reserved %u", j, i);
        }
        fsum += fr[j].size;
    }
    FUZZ_CHECK(fsum + res == banks, "free 0x%llx + reserved 0x%llx != banks 0x%llx",
               ull((uint64_t)fsum), ull((uint64_t)res), ull((uint64_t)banks));
}

static void check_carve(const struct memmap *m, uint64_t size, uint64_t align)
{
    struct memmap c = *m;
    paddr_t out = pa(0);
    int err = memmap_carve(&c, size, align, PAGE_META, "fuzz carve", &out);
    bool bad = size == 0 || align < PAGE_SIZE || (align & (align - 1));
    if (bad) {
        FUZZ_CHECK(err == ERR_INVAL, "carve(0x%llx, 0x%llx): %d, want ERR_INVAL", ull(size),
                   ull(align), err);
    }
    uint64_t need = ALIGN_UP(size, PAGE_SIZE);
    struct mem_bank fr[META_MAX_BANKS + MEMMAP_MAX_RESERVED];
    unsigned n = memmap_free_ranges(m, fr, ARRAY_SIZE(fr));
    bool fits = false;
    for (unsigned j = 0; j < n && !bad && need; j++) {
        u128 b = ((u128)pa_val(fr[j].base) + align - 1) & ~((u128)align - 1);
        fits |= b + need <= (u128)pa_val(fr[j].base) + fr[j].size;
    }
    fits &= m->nr_reserved < MEMMAP_MAX_RESERVED;
    if (err != ERR_OK) {
        FUZZ_CHECK(!memcmp(&c, m, sizeof(c)), "failed carve changed the map");
        FUZZ_CHECK(bad || (err == ERR_NOMEM && !fits), "carve(0x%llx, 0x%llx): %d, fits %d",
                   ull(size), ull(align), err, fits);
        return;
    }
    FUZZ_CHECK(!bad && fits, "carve(0x%llx, 0x%llx) succeeded", ull(size), ull(align));
    uint64_t o = pa_val(out);
    FUZZ_CHECK(IS_ALIGNED(o, align) && c.nr_reserved == m->nr_reserved + 1,
               "carve at 0x%llx align 0x%llx", ull(o), ull(align));
    bool inside = false;
    for (unsigned j = 0; j < n; j++)
        inside |=
            o >= pa_val(fr[j].base) && (u128)o + need <= (u128)pa_val(fr[j].base) + fr[j].size;
    FUZZ_CHECK(inside, "carved [0x%llx, +0x%llx) is not free RAM", ull(o), ull(need));
    check_ranges(&c, NULL, 0);
    check_covered(&c, o, need, PAGE_META, "carved range");
}

static void check_success(const struct memmap *m, const uint8_t *fdt, size_t len,
                          const struct params *p)
{
    check_ranges(m, fdt, len);
    check_banks_exact(m, fdt);
    check_covered(m, p->fdt_pa, fdt_totalsize(fdt), PAGE_RESERVED, "dtb");
    if (p->img_end > p->img_start)
        check_covered(m, p->img_start, p->img_end - p->img_start, PAGE_HYP, "image");
    for (int i = 0; i < fdt_num_mem_rsv(fdt); i++) {
        uint64_t b, s;
        FUZZ_CHECK(fdt_get_mem_rsv(fdt, i, &b, &s) == 0, "memreserve %d unreadable", i);
        check_covered(m, b, s, PAGE_RESERVED, "memreserve");
    }
    int rm = fdt_path_offset(fdt, "/reserved-memory"), node;
    int ac = fdt_address_cells(fdt, rm), sc = fdt_size_cells(fdt, rm);
    fdt_for_each_subnode(node, fdt, rm < 0 ? -1 : rm)
    {
        int rlen;
        const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &rlen);
        if (!reg ||
            (fdt_getprop(fdt, node, "status", NULL) && !str_prop(fdt, node, "status", "okay") &&
             !str_prop(fdt, node, "status", "ok")))
            continue;
        for (int i = 0; i < rlen / (4 * (ac + sc)); i++)
            check_covered(m, cells(reg + i * (ac + sc), ac), cells(reg + i * (ac + sc) + ac, sc),
                          PAGE_RESERVED, "/reserved-memory child");
    }
    int chosen = fdt_path_offset(fdt, "/chosen"), ls, le;
    const fdt32_t *is = chosen < 0 ? NULL : fdt_getprop(fdt, chosen, "linux,initrd-start", &ls);
    const fdt32_t *ie = chosen < 0 ? NULL : fdt_getprop(fdt, chosen, "linux,initrd-end", &le);
    if (is && ie) {
        uint64_t b = cells(is, ls / 4), e = cells(ie, le / 4);
        FUZZ_CHECK((ls == 4 || ls == 8) && (le == 4 || le == 8) && e >= b,
                   "success with a malformed initrd (%d, %d bytes)", ls, le);
        check_covered(m, b, e - b, PAGE_RESERVED, "initrd");
    }
    if (chosen >= 0) {
        /* Modules' reg: /chosen's cells if it has them, else the root's. */
        const fdt32_t *c;
        int clen;
        ac = (c = fdt_getprop(fdt, chosen, "#address-cells", &clen)) && clen == 4
                 ? (int)fdt32_to_cpu(*c)
                 : fdt_address_cells(fdt, 0);
        sc = (c = fdt_getprop(fdt, chosen, "#size-cells", &clen)) && clen == 4
                 ? (int)fdt32_to_cpu(*c)
                 : fdt_size_cells(fdt, 0);
        fdt_for_each_subnode(node, fdt, chosen)
        {
            if (fdt_node_check_compatible(fdt, node, "multiboot,module") != 0)
                continue;
            int rlen;
            const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &rlen);
            FUZZ_CHECK(reg && ac >= 1 && ac <= 2 && sc >= 1 && sc <= 2 && rlen > 0 &&
                           rlen % (4 * (ac + sc)) == 0,
                       "success with a malformed boot module");
            for (int i = 0; i < rlen / (4 * (ac + sc)); i++)
                check_covered(m, cells(reg + i * (ac + sc), ac),
                              cells(reg + i * (ac + sc) + ac, sc), PAGE_RESERVED, "boot module");
        }
    }
    check_free(m);
    check_carve(m, p->carve_size, p->carve_align);
}

/* --- one run ------------------------------------------------------------------ */

struct run {
    int err;
    struct memmap m;
    char msg[MSG_MAX];
};

static void run_one(const uint8_t *fdt, size_t len, const struct params *p, size_t msglen,
                    struct run *out)
{
    static const uint8_t poison = 0xa5;
    memset(&out->m, poison, sizeof(out->m));
    char *msg = malloc(msglen ? msglen : 1);
    FUZZ_CHECK(msg, "malloc");
    msg[0] = 'X';
    out->err = memmap_from_fdt_at(fdt, pa(p->fdt_pa), pa(p->img_start), pa(p->img_end), &out->m,
                                  msg, msglen);
    if (msglen) {
        FUZZ_CHECK(memchr(msg, 0, msglen), "message not terminated within msglen %zu", msglen);
        snprintf(out->msg, sizeof(out->msg), "%s", msg);
    } else {
        FUZZ_CHECK(msg[0] == 'X', "message written with msglen 0");
        out->msg[0] = 0;
    }
    free(msg);
    if (out->err == ERR_OK) {
        FUZZ_CHECK(out->msg[0] == 0, "success with message \"%s\"", out->msg);
        check_success(&out->m, fdt, len, p);
        return;
    }
    FUZZ_CHECK(out->err == ERR_INVAL || out->err == ERR_NOENT || out->err == ERR_ALIGN ||
                   out->err == ERR_RANGE || out->err == ERR_NOMEM || out->err == ERR_EXIST,
               "undocumented error %d", out->err);
    FUZZ_CHECK(msglen < 2 || out->msg[0], "error %d without a message", out->err);
    const uint8_t *b = (const uint8_t *)&out->m;
    for (size_t i = 0; i < sizeof(out->m); i++)
        FUZZ_CHECK(b[i] == poison, "error %d (%s) changed *m at byte %zu", out->err, out->msg, i);
}

/* The two runs' maps are equal once names inside the blob are taken as
 * offsets into it. */
static void check_same(const struct run *a, const uint8_t *fa, const struct run *c,
                       const uint8_t *fc, size_t len)
{
    FUZZ_CHECK(a->err == c->err, "guarded run %d (%s), malloc run %d (%s)", a->err, a->msg, c->err,
               c->msg);
    if (a->err)
        return;
    FUZZ_CHECK(a->m.nr_banks == c->m.nr_banks && a->m.nr_reserved == c->m.nr_reserved &&
                   !memcmp(a->m.banks, c->m.banks, sizeof(a->m.banks[0]) * a->m.nr_banks),
               "the two runs' banks differ");
    for (unsigned i = 0; i < a->m.nr_reserved; i++) {
        const struct memmap_range *x = &a->m.reserved[i], *y = &c->m.reserved[i];
        bool xin = in_blob(x->what, fa, len), yin = in_blob(y->what, fc, len);
        FUZZ_CHECK(pa_val(x->base) == pa_val(y->base) && x->size == y->size &&
                       x->usage == y->usage && xin == yin &&
                       (xin ? x->what - (const char *)fa == y->what - (const char *)fc
                            : x->what == y->what),
                   "the two runs' reserved range %u differs", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = sizeof(struct fdt_header);
    if (size >= 8) {
        uint32_t t =
            (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
        if (t >= len && t <= MEMMAP_FDT_MAX_SIZE)
            len = t;
    }
    size_t have = size < len ? size : len;
    struct fuzz_in in = {data + have, size - have};
    struct params p;
    p.fdt_pa = fuzz_bytes(&in, 8, 0x48000000);
    p.img_start = fuzz_bytes(&in, 8, 0x40200000);
    p.img_end = fuzz_bytes(&in, 8, 0x40400000);
    p.msglen = fuzz_bytes(&in, 1, 0);
    p.msglen = p.msglen ? p.msglen - 1 : MSG_MAX; /* byte 1 -> msglen 0 */
    p.carve_size = fuzz_bytes(&in, 8, 0x100000);
    p.carve_align = 1ull << (fuzz_bytes(&in, 1, 21) & 63);

    /* Run A: against the guard page (libfdt wants 8-byte alignment). */
    uint8_t *fa = arena + ARENA_DATA - ALIGN_UP(len, 8);
    memcpy(fa, data, have);
    memset(fa + have, 0, ARENA_DATA - (size_t)(fa - arena) - have);
    static struct run a, c;
    run_one(fa, len, &p, MSG_MAX, &a);

    /* Run C: an exact malloc'd copy (ASan redzones), the trailer's msglen. */
    uint8_t *fc = malloc(len); /* 16-byte aligned, redzone right after len */
    FUZZ_CHECK(fc, "malloc");
    memcpy(fc, fa, len);
    run_one(fc, len, &p, p.msglen, &c);
    check_same(&a, fa, &c, fc, len);
    if (p.msglen && a.err)
        FUZZ_CHECK(!strncmp(a.msg, c.msg, p.msglen - 1) && strlen(c.msg) < p.msglen,
                   "truncated message \"%s\" is not a prefix of \"%s\"", c.msg, a.msg);
    free(fc);

    /* The pointer-is-the-address entry point, on the guarded copy. */
    struct memmap m;
    char msg[MSG_MAX];
    struct params q = p;
    q.fdt_pa = (uint64_t)(uintptr_t)fa;
    if (memmap_from_fdt(fa, pa(q.img_start), pa(q.img_end), &m, msg, sizeof(msg)) == ERR_OK)
        check_success(&m, fa, len, &q);
    return 0;
}
