// SPDX-License-Identifier: MIT
// libFuzzer target: bytes as a sequence of page-table operations against the
// engine (mm/pgtable.c) on simulated RAM, stage-1 and stage-2, checked
// against a reference model of every input page as
// tests/unit/test_pgtable_model.c does.
//
// Input: one byte of set-up (bit 0: stage-2, bits 1-2: ia_bits 31/32/39/48;
// bits 3-4 choose the bad ia_bits and stage aspace_init must refuse), then
// up to MAX_OPS operations of 12 bytes each:
//   u8 op (bits 0-2 kind, bits 3-7 hints), u32 input page, u16 size,
//   u32 target, u8 prot
// Kinds: map_frames (twice as likely; a 1 GiB one becomes map_phys),
// map_phys, unmap, protect, lookup or pt_walk, a malformed call (unaligned,
// size 0, beyond the input range, bad prot, target beyond 48 bits; also
// given to pt_walk), and "clear" (unmap every mapped run of the 2 MiB or
// 1 GiB around the page). Successful calls stay in the model's [0, 2 GiB) of
// input space; targets are a 128 MiB block of live frames, the RAM after it
// (not frames), or MMIO above RAM.
//
// After every call: the result is the one the model predicts (when several
// errors apply, one of them); a failed call changed no entry (digest of the
// whole tree), no table count and no free-page count; table pages in the
// tree = nr_tables = PAGE_PT census = pages taken from the allocator; lookups
// around the range agree with the model; frames touched have reference count
// 1 + entries mapping them. TLB maintenance: none for a new mapping or a
// failed call; after unmap/protect every leaf that went or changed is
// covered by an invalidation of an address inside it (or of the whole
// space), of this stage and VMID. A walk visits leaves overlapping its range
// that cover exactly the model's mapped pages there, and stops when its
// visitor says so. Every 32 calls and at the end every leaf of the tree is
// compared with the model and every table's nr_valid recounted.
// aspace_destroy() then invalidates the space and returns every page: the
// free count is back where it started and every frame holds only the pool's
// reference. Start level, VTCR/VTTBR or TCR fields are checked at set-up.
#include "../host/harness.h"
#include "fuzz_common.h"

#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

#define MODEL_PAGES (1ull << 19) /* 2 GiB of input space */
#define GIB_PAGES   (1ull << 18)
#define FRAMES      (1ull << 15) /* a 128 MiB block of live frames */
#define RAM_MIB     512
#define RAM_BASE    0x40000000ull
#define RAM_END     (RAM_BASE + ((uint64_t)RAM_MIB << 20))
#define MMIO_BASE   0x100000000ull /* above the simulated RAM */
#define MAX_OPS     256
#define FULL_EVERY  32

#define M_MAPPED 0x80
#define M_OWNED  0x40

static uint8_t attr[MODEL_PAGES];
static uint32_t pfn[MODEL_PAGES];
static uint32_t maps[FRAMES];
static uint64_t frame_base; /* page number of frame 0 */
static uint64_t free_start; /* free pages with the frame pool taken */

/* What one input touched, to reset only that. */
static uint64_t touch_lo, touch_hi, ftouch_lo, ftouch_hi;

static struct {
    struct aspace as;
    enum pt_stage stage;
    unsigned ia_bits;
    uint64_t mapped;
    unsigned op;
} S;

static const unsigned prots[] = {
    PT_R, PT_R | PT_W, PT_R | PT_X, PT_R | PT_W | PT_X, PT_R | PT_DEVICE, PT_R | PT_W | PT_DEVICE,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    atomics_init();
    sim_ram_setup_simple(RAM_MIB);
    paddr_t fb;
    if (page_alloc(15, &fb) != ERR_OK)
        abort();
    frame_base = pa_val(fb) >> PAGE_SHIFT;
    for (uint64_t i = 0; i < FRAMES; i++)
        frame_from_unused(pa_add(fb, i << PAGE_SHIFT), (struct frame_meta){.owner_vm = 1});
    free_start = page_alloc_free_pages();
    touch_lo = ftouch_lo = UINT64_MAX;
    return 0;
}

/* The model's own loops run over up to 2^18 pages per call: keep coverage
 * instrumentation (which guides nothing there) out of them, and out of
 * their callers by not inlining them. */
#define MODEL_LOOP __attribute__((no_sanitize("coverage"))) noinline

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

MODEL_LOOP static uint32_t ref_of_frame(uint64_t f)
{
    return page_slot_ref_count(meta_slot(pa((frame_base + f) << PAGE_SHIFT)));
}

static bool is_frame(uint64_t p)
{
    return p >= frame_base && p < frame_base + FRAMES;
}

/* --- checks ------------------------------------------------------------------ */

static void check_page(uint64_t pg, uint64_t off)
{
    if (pg >= MODEL_PAGES)
        return;
    paddr_t p;
    unsigned prot, level;
    bool owned;
    int err = pt_lookup(&S.as, (pg << PAGE_SHIFT) | off, &p, &prot, &level, &owned);
    if (!(attr[pg] & M_MAPPED)) {
        FUZZ_CHECK(err == ERR_NOENT, "op %u: ia %#llx: lookup %d, model: not mapped", S.op,
                   ull(pg << PAGE_SHIFT), err);
        return;
    }
    FUZZ_CHECK(err == ERR_OK && pa_val(p) == (((uint64_t)pfn[pg] << PAGE_SHIFT) | off) &&
                   prot == (attr[pg] & 0xfu) && owned == !!(attr[pg] & M_OWNED) && level >= 1 &&
                   level <= 3,
               "op %u: ia %#llx: err %d pa %#llx prot %#x owned %d level %u; model pa %#llx prot "
               "%#x owned %d",
               S.op, ull((pg << PAGE_SHIFT) | off), err, ull(pa_val(p)), prot, owned, level,
               ull(((uint64_t)pfn[pg] << PAGE_SHIFT) | off), attr[pg] & 0xf,
               !!(attr[pg] & M_OWNED));
}

MODEL_LOOP static void check_frames(uint64_t f0, uint64_t n)
{
    for (uint64_t f = f0; f < f0 + n && f < FRAMES; f++)
        FUZZ_CHECK(ref_of_frame(f) == 1 + maps[f], "op %u: frame %llu: ref %u, model 1 + %u", S.op,
                   ull(f), ref_of_frame(f), maps[f]);
}

/* Table pages: in the tree, counted by the aspace, in the census, and
 * missing from the allocator. */
static void check_counts(void)
{
    struct page_census cs;
    page_census(&cs);
    FUZZ_CHECK(cs.by_usage[PAGE_PT] == S.as.nr_tables,
               "op %u: census %llu PT pages, nr_tables %llu", S.op, ull(cs.by_usage[PAGE_PT]),
               ull(S.as.nr_tables));
    FUZZ_CHECK(page_alloc_free_pages() + S.as.nr_tables == free_start,
               "op %u: free %llu + tables %llu != %llu", S.op, ull(page_alloc_free_pages()),
               ull(S.as.nr_tables), ull(free_start));
}

struct walk {
    uint64_t digest, pages, tables;
    bool model; /* compare leaves with the model */
};

static void mix(struct walk *w, uint64_t v)
{
    w->digest = (w->digest ^ v) * 0x100000001b3ull;
    w->digest ^= w->digest >> 29;
}

static int w_table(const struct pt_visit *v, void *ctx)
{
    struct walk *w = ctx;
    mix(w, v->ia);
    mix(w, v->pte);
    w->tables++;
    if (!w->model)
        return 0;
    const pte_t *t = pt_page_data(v->next);
    unsigned valid = 0;
    for (unsigned i = 0; i < PTE_PER_TABLE; i++)
        valid += pte_is_valid(t[i]);
    struct pt_meta *m = pt_page_meta(v->next);
    FUZZ_CHECK(valid == m->nr_valid && valid > 0 && m->level == v->level + 1,
               "op %u: table at ia %#llx level %u: %u valid, nr_valid %u, meta level %u", S.op,
               ull(v->ia), v->level + 1, valid, m->nr_valid, m->level);
    return 0;
}

MODEL_LOOP static int w_leaf(const struct pt_visit *v, void *ctx)
{
    struct walk *w = ctx;
    mix(w, v->ia);
    mix(w, v->pte);
    uint64_t n = pte_level_size(v->level) >> PAGE_SHIFT, pg0 = v->ia >> PAGE_SHIFT;
    w->pages += n;
    if (!w->model)
        return 0;
    FUZZ_CHECK(pg0 + n <= MODEL_PAGES, "op %u: leaf at ia %#llx outside the model", S.op,
               ull(v->ia));
    unsigned prot = pt_attrs_to_prot(S.stage, v->pte);
    uint8_t want = (uint8_t)(M_MAPPED | prot | ((v->pte & PTE_SW_OWNED) ? M_OWNED : 0));
    for (uint64_t i = 0; i < n; i++)
        FUZZ_CHECK(attr[pg0 + i] == want && pfn[pg0 + i] == (pte_oa(v->pte) >> PAGE_SHIFT) + i,
                   "op %u: leaf at ia %#llx level %u differs from the model at page %llu", S.op,
                   ull(v->ia), v->level, ull(i));
    return 0;
}

static struct walk walk_tree(bool model)
{
    struct walk w = {.digest = 0xcbf29ce484222325ull, .model = model};
    struct pt_visitor vis = {w_table, w_leaf, NULL};
    FUZZ_CHECK(pt_walk(&S.as, 0, 1ull << S.ia_bits, &vis, &w) == 0, "op %u: pt_walk failed", S.op);
    const pte_t *root = pt_page_data(S.as.root);
    unsigned valid = 0;
    for (unsigned i = 0; i < PTE_PER_TABLE; i++) {
        valid += pte_is_valid(root[i]);
        mix(&w, root[i]);
    }
    FUZZ_CHECK(valid == pt_page_meta(S.as.root)->nr_valid, "op %u: root: %u valid, nr_valid %u",
               S.op, valid, pt_page_meta(S.as.root)->nr_valid);
    return w;
}

static void check_all(void)
{
    struct walk w = walk_tree(true);
    FUZZ_CHECK(w.pages == S.mapped, "op %u: tree maps %llu pages, model %llu", S.op, ull(w.pages),
               ull(S.mapped));
    FUZZ_CHECK(w.tables + 1 == S.as.nr_tables, "op %u: %llu tables below the root, nr_tables %llu",
               S.op, ull(w.tables), ull(S.as.nr_tables));
    check_counts();
    if (ftouch_lo != UINT64_MAX)
        check_frames(ftouch_lo, ftouch_hi - ftouch_lo);
}

/* --- the model ------------------------------------------------------------------ */

MODEL_LOOP static bool any_mapped(uint64_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (attr[pg + i] & M_MAPPED)
            return true;
    return false;
}

MODEL_LOOP static bool all_mapped(uint64_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!(attr[pg + i] & M_MAPPED))
            return false;
    return true;
}

static void touch(uint64_t pg, uint64_t n)
{
    touch_lo = pg < touch_lo ? pg : touch_lo;
    touch_hi = pg + n > touch_hi ? pg + n : touch_hi;
}

static void ftouch(uint64_t f, uint64_t n)
{
    ftouch_lo = f < ftouch_lo ? f : ftouch_lo;
    ftouch_hi = f + n > ftouch_hi ? f + n : ftouch_hi;
}

static bool prot_ok(unsigned prot)
{
    return !(prot & ~PT_PROT_MASK) && (prot & PT_R) && !((prot & PT_DEVICE) && (prot & PT_X));
}

MODEL_LOOP static void model_unmap(uint64_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if ((attr[pg + i] & M_OWNED) && is_frame(pfn[pg + i]))
            maps[pfn[pg + i] - frame_base]--;
        attr[pg + i] = 0;
    }
    S.mapped -= n;
}

/* --- TLB maintenance ----------------------------------------------------------------- */

/* Leaves overlapping a range before an unmap/protect: each one the call
 * removes or changes must be invalidated afterwards. */
static struct leaf {
    uint64_t ia, size;
    pte_t pte;
} leaves[MODEL_PAGES];
static uint64_t nr_leaves;

static int collect_leaf(const struct pt_visit *v, void *ctx)
{
    leaves[nr_leaves++] = (struct leaf){v->ia, pte_level_size(v->level), v->pte};
    return 0;
}

static void collect_leaves(uint64_t pg, uint64_t n)
{
    nr_leaves = 0;
    struct pt_visitor vis = {NULL, collect_leaf, NULL};
    pt_walk(&S.as, pg << PAGE_SHIFT, n << PAGE_SHIFT, &vis, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_tlbi(enum fake_event_kind k)
{
    return k != EV_PTE_SYNC;
}

static unsigned tlbi_count(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < fake_events_count(); i++)
        n += fake_event(i) && is_tlbi(fake_event(i)->kind);
    return n;
}

/*
 * After a successful unmap (protect: prot), every leaf collected before it
 * that went (changed) is covered by an invalidation of an address inside it
 * or of the whole space; every invalidation is of this stage (and VMID).
 */
static void check_tlbi(const char *what, bool protect, unsigned prot)
{
    static uint64_t addrs[4096];
    unsigned n = 0, total = fake_events_count();
    bool all = false;
    if (total > 4096)
        return; /* the log only counts past 4096 */
    for (unsigned i = 0; i < total; i++) {
        const struct fake_event *e = fake_event(i);
        if (!is_tlbi(e->kind))
            continue;
        if (S.stage == PT_STAGE2)
            FUZZ_CHECK(
                (e->kind == EV_TLBI_IPA || e->kind == EV_TLBI_VMALLE1 || e->kind == EV_TLBI_VMID) &&
                    e->vmid == 7,
                "op %u: %s: stage-2 invalidation kind %d vmid %u", S.op, what, e->kind, e->vmid);
        else
            FUZZ_CHECK(e->kind == EV_TLBI_EL2_VA || e->kind == EV_TLBI_EL2_ALL,
                       "op %u: %s: stage-1 invalidation kind %d", S.op, what, e->kind);
        if (e->kind == EV_TLBI_VMID || e->kind == EV_TLBI_EL2_ALL)
            all = true;
        else if (e->kind == EV_TLBI_VMALLE1) /* stage-1 only: covers no IPA */
            FUZZ_CHECK(i > 0 && fake_event(i - 1)->kind == EV_TLBI_IPA,
                       "op %u: %s: VMALLE1IS not right after the batch's IPAs", S.op, what);
        else
            addrs[n++] = e->addr;
    }
    if (all)
        return;
    qsort(addrs, n, sizeof(addrs[0]), cmp_u64);
    for (uint64_t i = 0; i < nr_leaves; i++) {
        const struct leaf *l = &leaves[i];
        if (protect && pt_attrs_to_prot(S.stage, l->pte) == prot)
            continue;            /* unchanged (a covering leaf need not be split) */
        unsigned lo = 0, hi = n; /* first address >= l->ia */
        while (lo < hi) {
            unsigned mid = (lo + hi) / 2;
            if (addrs[mid] < l->ia)
                lo = mid + 1;
            else
                hi = mid;
        }
        FUZZ_CHECK(lo < n && addrs[lo] - l->ia < l->size,
                   "op %u: %s: the leaf at ia %#llx (%#llx bytes) was not invalidated (%u "
                   "invalidations)",
                   S.op, what, ull(l->ia), ull(l->size), n);
    }
}

MODEL_LOOP static void model_map(uint64_t pg, uint64_t n, uint64_t tp, bool frames, unsigned prot)
{
    touch(pg, n);
    for (uint64_t i = 0; i < n; i++) {
        attr[pg + i] = (uint8_t)(M_MAPPED | (frames ? M_OWNED : 0) | prot);
        pfn[pg + i] = (uint32_t)(tp + i);
        if (frames)
            maps[tp + i - frame_base]++;
    }
    S.mapped += n;
}

MODEL_LOOP static void model_protect(uint64_t pg, uint64_t n, unsigned prot)
{
    for (uint64_t i = 0; i < n; i++)
        attr[pg + i] = (uint8_t)((attr[pg + i] & ~0xfu) | prot);
}

#define BIT(e) (1u << -(e)) /* set of ERR_* codes */

/* The tree (a digest of every entry), its table count and the free pages. */
struct snapshot {
    uint64_t digest, tables, free;
};

static struct snapshot snap(void)
{
    return (struct snapshot){walk_tree(false).digest, S.as.nr_tables, page_alloc_free_pages()};
}

/* A call's result: ERR_OK when `want` (a set of BIT(ERR_*)) is empty, else
 * one of it; a failure invalidated nothing and left the tree and the counts
 * as they were (the snapshot is taken only when a failure is possible: the
 * walk costs more than the call). */
static void expect(const char *what, uint64_t ia, uint64_t size, int err, uint32_t want,
                   const struct snapshot *before)
{
    if (!want)
        FUZZ_CHECK(err == ERR_OK, "op %u: %s ia %#llx size %#llx: %d, model ERR_OK", S.op, what,
                   ull(ia), ull(size), err);
    else
        FUZZ_CHECK(err < 0 && (BIT(err) & want), "op %u: %s ia %#llx size %#llx: %d, model %#x",
                   S.op, what, ull(ia), ull(size), err, want);
    if (err == ERR_OK)
        return;
    FUZZ_CHECK(tlbi_count() == 0, "op %u: failed %s (%d) invalidated the TLB", S.op, what, err);
    struct snapshot after = snap();
    FUZZ_CHECK(after.digest == before->digest && after.tables == before->tables &&
                   after.free == before->free,
               "op %u: failed %s (%d) changed the tree (tables %llu -> %llu, free %llu -> %llu)",
               S.op, what, err, ull(before->tables), ull(after.tables), ull(before->free),
               ull(after.free));
}

/* --- operations ------------------------------------------------------------------- */

struct op {
    uint8_t kind, hint;
    uint64_t pg, n;
    uint32_t target;
    uint8_t prot;
};

static unsigned pick_prot(const struct op *o)
{
    if (o->hint & 0x10)
        return o->prot & 0x1f; /* raw: sometimes invalid */
    return prots[o->prot % ARRAY_SIZE(prots)];
}

static void op_map(const struct op *o, bool frames)
{
    unsigned prot = pick_prot(o);
    uint64_t pg = o->pg, n = o->n, blk = (o->hint & 4) ? GIB_PAGES : 512;
    /* 1 GiB of frames is 2^18 references to take, check and drop (and more
     * simulated RAM than the fuzzer should hold): pass-through mappings make
     * the 1 GiB blocks. */
    frames &= n < GIB_PAGES;
    uint64_t tp; /* target page number */
    bool ram_tail = false;
    if (frames || (o->target & 0x80000000u)) {
        uint64_t off = o->target % FRAMES, fblk = frames ? 512 : blk;
        /* Congruent with the IA: blocks (always for 1 GiB: 2^18 4 KiB
         * entries are slow to fuzz with). */
        if ((o->hint & 8) || n >= GIB_PAGES)
            off = ALIGN_DOWN(off, fblk) + (pg & (fblk - 1));
        tp = frame_base + off;
        ram_tail = off + n > FRAMES; /* runs into RAM that holds no frame */
    } else {
        uint64_t off = o->target % GIB_PAGES;
        if ((o->hint & 8) || n >= GIB_PAGES)
            off = ALIGN_DOWN(off, blk) + (pg & (blk - 1));
        tp = (MMIO_BASE >> PAGE_SHIFT) + off;
    }
    uint32_t want = 0;
    if (!prot_ok(prot))
        want |= BIT(ERR_INVAL);
    if (any_mapped(pg, n))
        want |= BIT(ERR_EXIST);
    bool ram = tp < (RAM_END >> PAGE_SHIFT);
    if (frames && ram_tail)
        want |= BIT(ERR_STATE) | ((tp + n > (RAM_END >> PAGE_SHIFT)) ? BIT(ERR_RANGE) : 0);
    if (!frames && S.stage == PT_STAGE2 && ram)
        want |= BIT(ERR_STATE);
    struct snapshot before = want ? snap() : (struct snapshot){0};
    fake_events_reset();
    int err =
        frames ? pt_map_frames(&S.as, pg << PAGE_SHIFT, pa(tp << PAGE_SHIFT), n << PAGE_SHIFT, prot)
               : pt_map_phys(&S.as, pg << PAGE_SHIFT, pa(tp << PAGE_SHIFT), n << PAGE_SHIFT, prot);
    expect(frames ? "map_frames" : "map_phys", pg << PAGE_SHIFT, n << PAGE_SHIFT, err, want,
           &before);
    if (err == ERR_OK) {
        FUZZ_CHECK(tlbi_count() == 0, "op %u: a new mapping invalidated the TLB", S.op);
        model_map(pg, n, tp, frames, prot);
    }
    if (is_frame(tp)) {
        uint64_t f = tp - frame_base, k = f + n > FRAMES ? FRAMES - f : n;
        ftouch(f, k);
        check_frames(f, k);
    }
}

static void op_change(const struct op *o, bool protect)
{
    uint64_t pg = o->pg, n = o->n;
    unsigned prot = pick_prot(o);
    uint32_t want = all_mapped(pg, n) ? 0 : BIT(ERR_NOENT);
    if (protect && !prot_ok(prot))
        want |= BIT(ERR_INVAL);
    /* Frames that lose an entry, for the count check after. */
    uint64_t flo = UINT64_MAX, fhi = 0;
    for (uint64_t i = 0; i < n && !protect; i++)
        if ((attr[pg + i] & M_OWNED) && is_frame(pfn[pg + i])) {
            uint64_t f = pfn[pg + i] - frame_base;
            flo = f < flo ? f : flo;
            fhi = f + 1 > fhi ? f + 1 : fhi;
        }
    collect_leaves(pg, n);
    struct snapshot before = want ? snap() : (struct snapshot){0};
    fake_events_reset();
    int err = protect ? pt_protect(&S.as, pg << PAGE_SHIFT, n << PAGE_SHIFT, prot)
                      : pt_unmap(&S.as, pg << PAGE_SHIFT, n << PAGE_SHIFT);
    expect(protect ? "protect" : "unmap", pg << PAGE_SHIFT, n << PAGE_SHIFT, err, want, &before);
    if (err == ERR_OK) {
        check_tlbi(protect ? "protect" : "unmap", protect, prot);
        FUZZ_CHECK(protect || tlbi_count() > 0, "op %u: unmap without invalidation", S.op);
    }
    if (err == ERR_OK && protect)
        model_protect(pg, n, prot);
    else if (err == ERR_OK)
        model_unmap(pg, n);
    if (flo != UINT64_MAX)
        check_frames(flo, fhi - flo);
}

/* Every mapped run of the 2 MiB (1 GiB) around pg, one unmap each. */
static void op_clear(const struct op *o)
{
    uint64_t blk = (o->hint & 4) ? GIB_PAGES : 512;
    uint64_t base = ALIGN_DOWN(o->pg, blk), end = base + blk;
    end = end > MODEL_PAGES ? MODEL_PAGES : end;
    for (uint64_t pg = base; pg < end;) {
        if (!(attr[pg] & M_MAPPED)) {
            pg++;
            continue;
        }
        uint64_t k = pg;
        while (k < end && (attr[k] & M_MAPPED))
            k++;
        int err = pt_unmap(&S.as, pg << PAGE_SHIFT, (k - pg) << PAGE_SHIFT);
        FUZZ_CHECK(err == ERR_OK, "op %u: clear: unmap ia %#llx pages %llu: %d", S.op,
                   ull(pg << PAGE_SHIFT), ull(k - pg), err);
        model_unmap(pg, k - pg);
        pg = k;
    }
    check_page(base, 0);
    check_page(end - 1, 0);
}

/* pt_walk over a range: the leaves it visits overlap the range and cover
 * exactly its mapped pages; a visitor's non-zero return stops the walk and
 * is its result. */
struct rwalk {
    uint64_t lo, hi, pages, leaves, stop_after;
};

static int rw_leaf(const struct pt_visit *v, void *ctx)
{
    struct rwalk *w = ctx;
    uint64_t b = v->ia >> PAGE_SHIFT, e = b + (pte_level_size(v->level) >> PAGE_SHIFT);
    FUZZ_CHECK(b < w->hi && e > w->lo, "op %u: walk of pages [%#llx, %#llx) visited [%#llx, %#llx)",
               S.op, ull(w->lo), ull(w->hi), ull(b), ull(e));
    w->pages += (e < w->hi ? e : w->hi) - (b > w->lo ? b : w->lo);
    return ++w->leaves == w->stop_after ? 42 : 0;
}

MODEL_LOOP static uint64_t mapped_in(uint64_t pg, uint64_t n)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++)
        k += !!(attr[pg + i] & M_MAPPED);
    return k;
}

static void op_walk(const struct op *o)
{
    struct rwalk w = {o->pg, o->pg + o->n, 0, 0, o->prot & 0x80 ? 1 + (o->prot & 7) : 0};
    struct pt_visitor vis = {NULL, rw_leaf, NULL};
    int err = pt_walk(&S.as, o->pg << PAGE_SHIFT, o->n << PAGE_SHIFT, &vis, &w);
    if (w.stop_after && w.leaves == w.stop_after) {
        FUZZ_CHECK(err == 42, "op %u: walk stopped by its visitor returned %d", S.op, err);
        return;
    }
    FUZZ_CHECK(err == ERR_OK && w.pages == mapped_in(o->pg, o->n),
               "op %u: walk of %llu pages at %#llx: %d, %llu mapped pages seen, model %llu", S.op,
               ull(o->n), ull(o->pg << PAGE_SHIFT), err, ull(w.pages), ull(mapped_in(o->pg, o->n)));
}

/* Malformed calls: each must fail with its code and change nothing. */
static void op_bad(const struct op *o)
{
    uint64_t lim = 1ull << S.ia_bits, ia = o->pg << PAGE_SHIFT, size = o->n << PAGE_SHIFT;
    paddr_t f = pa((frame_base + o->target % FRAMES) << PAGE_SHIFT);
    unsigned prot = prots[o->prot % ARRAY_SIZE(prots)];
    unsigned call = o->prot >> 5; /* 0-1 map_frames, 2-3 map_phys, 4-5 unmap, 6-7 protect */
    uint32_t want;
    switch (o->hint & 7) {
    case 0: /* input address not page aligned */
        ia |= (o->target >> 20) & 0xff8 ? (o->target >> 20) & 0xff8 : 8;
        want = BIT(ERR_ALIGN);
        break;
    case 1: /* size 0 */
        size = 0;
        want = BIT(ERR_INVAL);
        break;
    case 2: /* size not whole pages */
        size = size - PAGE_SIZE + 1 + (o->target & 0xffe);
        want = BIT(ERR_ALIGN);
        break;
    case 3: /* runs past the input range */
        ia = lim - ALIGN_DOWN(size, PAGE_SIZE);
        ia += PAGE_SIZE * (1 + (o->target & 3));
        want = BIT(ERR_RANGE);
        break;
    case 4: /* so big that ia + size wraps */
        size = -ia & ~PAGE_MASK;
        size = size ? size : -PAGE_SIZE;
        want = BIT(ERR_RANGE);
        break;
    case 5: /* target not page aligned (maps only) */
        f = pa_add(f, 8 + (o->target & 0xff0));
        call &= 3;
        want = BIT(ERR_ALIGN);
        break;
    case 6: /* target beyond 48 bits (maps only) */
        f = pa((1ull << 48) - PAGE_SIZE * (o->target & 1));
        size += PAGE_SIZE; /* ends past 2^48 either way */
        call &= 3;
        want = BIT(ERR_RANGE);
        break;
    default: /* a bad prot (maps and protect) */
        prot = (o->prot & 1) ? PT_W : PT_R | PT_X | PT_DEVICE;
        prot = (o->prot & 2) ? prot | 0x10 : prot;
        call = call >= 4 ? 6 : call;
        want = BIT(ERR_INVAL);
        break;
    }
    /* A second thing wrong may win: anything but success is allowed to
     * report it as long as nothing changed. */
    want |= BIT(ERR_INVAL) | BIT(ERR_ALIGN) | BIT(ERR_RANGE);
    struct snapshot before = snap();
    fake_events_reset();
    int err;
    const char *name;
    if (call < 2) {
        err = pt_map_frames(&S.as, ia, f, size, prot);
        name = "bad map_frames";
    } else if (call < 4) {
        err = pt_map_phys(&S.as, ia, f, size, prot);
        name = "bad map_phys";
    } else if (call < 6) {
        err = pt_unmap(&S.as, ia, size);
        name = "bad unmap";
    } else {
        err = pt_protect(&S.as, ia, size, prot);
        name = "bad protect";
    }
    expect(name, ia, size, err, want, &before);
    struct pt_visitor vis = {NULL, rw_leaf, NULL};
    struct rwalk w = {0, 0, 0, 0, 0};
    if (call < 4 && (o->hint & 7) < 5) { /* the same bad range to pt_walk */
        int werr = pt_walk(&S.as, ia, size, &vis, &w);
        FUZZ_CHECK(werr < 0 && (BIT(werr) & want) && w.leaves == 0,
                   "op %u: pt_walk of a bad range: %d, %llu leaves", S.op, werr, ull(w.leaves));
    }
    int lerr = pt_lookup(&S.as, lim + (ia & 0xfff), NULL, NULL, NULL, NULL);
    FUZZ_CHECK(lerr == ERR_RANGE || S.ia_bits == 64, "op %u: lookup at 2^%u: %d", S.op, S.ia_bits,
               lerr);
}

/* After aspace_destroy: every frame touched holds only the pool's reference;
 * the model is emptied for the next input. */
MODEL_LOOP static void model_reset(void)
{
    if (ftouch_lo != UINT64_MAX) {
        for (uint64_t f = ftouch_lo; f < ftouch_hi; f++) {
            FUZZ_CHECK(ref_of_frame(f) == 1, "frame %llu: ref %u after aspace_destroy", ull(f),
                       ref_of_frame(f));
            maps[f] = 0;
        }
    }
    if (touch_lo != UINT64_MAX) {
        memset(attr + touch_lo, 0, touch_hi - touch_lo);
        memset(pfn + touch_lo, 0, (touch_hi - touch_lo) * sizeof(pfn[0]));
    }
    touch_lo = ftouch_lo = UINT64_MAX;
    touch_hi = ftouch_hi = 0;
}

static const unsigned ia_bits_choice[] = {31, 32, 39, 48};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t setup = fuzz_u8(&in);
    memset(&S, 0, sizeof(S));
    S.stage = (setup & 1) ? PT_STAGE2 : PT_STAGE1_EL2;
    S.ia_bits = ia_bits_choice[(setup >> 1) & 3];
    struct aspace bad;
    uint64_t free0 = page_alloc_free_pages();
    FUZZ_CHECK(aspace_init(&bad, S.stage, (setup & 8) ? PT_IA_BITS_MAX + 1 : PT_IA_BITS_MIN - 1, 7,
                           1) == ERR_INVAL &&
                   aspace_init(&bad, (enum pt_stage)((setup & 16) ? 3 : 0), S.ia_bits, 7, 1) ==
                       ERR_INVAL &&
                   page_alloc_free_pages() == free0,
               "aspace_init with a bad ia_bits or stage");
    FUZZ_CHECK(aspace_init(&S.as, S.stage, S.ia_bits, 7, 1) == ERR_OK, "aspace_init");
    unsigned sl = S.ia_bits > 39 ? 0 : S.ia_bits > 30 ? 1 : 2;
    FUZZ_CHECK(pt_start_level(S.ia_bits) == sl && S.as.start_level == sl && S.as.nr_tables == 1,
               "ia_bits %u: start level %u", S.ia_bits, S.as.start_level);
    if (S.stage == PT_STAGE2)
        FUZZ_CHECK(aspace_vtcr_t0sz_sl0(&S.as) == ((64ull - S.ia_bits) | ((2ull - sl) << 6)) &&
                       aspace_vttbr(&S.as) == (pa_val(aspace_root_pa(&S.as)) | (7ull << 48)),
                   "VTCR %#llx VTTBR %#llx", ull(aspace_vtcr_t0sz_sl0(&S.as)),
                   ull(aspace_vttbr(&S.as)));
    else
        FUZZ_CHECK(aspace_tcr_t0sz(&S.as) == 64ull - S.ia_bits, "TCR.T0SZ %llu",
                   ull(aspace_tcr_t0sz(&S.as)));
    check_counts();

    for (S.op = 0; S.op < MAX_OPS && in.left; S.op++) {
        struct op o;
        uint8_t b = fuzz_u8(&in);
        o.kind = b & 7;
        o.hint = b >> 3;
        uint32_t pgsel = fuzz_u32(&in);
        uint16_t sz = fuzz_u16(&in);
        o.target = fuzz_u32(&in);
        o.prot = fuzz_u8(&in);
        /* Sizes: a few pages, up to 4 MiB, whole 2 MiB blocks, whole 1 GiB. */
        switch (sz >> 14) {
        case 0:
            o.n = 1 + (sz & 63);
            break;
        case 1:
            o.n = 1 + (sz & 0x3ff);
            break;
        case 2:
            o.n = 512 * (1 + (sz & 7));
            break;
        default:
            o.n = GIB_PAGES * (1 + (sz & 1));
            break;
        }
        o.pg = pgsel % MODEL_PAGES;
        if ((o.hint & 3) == 1)
            o.pg = ALIGN_DOWN(o.pg, 512);
        else if ((o.hint & 3) == 2)
            o.pg = ALIGN_DOWN(o.pg, GIB_PAGES);
        if (o.pg + o.n > MODEL_PAGES)
            o.n = MODEL_PAGES - o.pg;
        switch (o.kind) {
        case 0:
        case 1:
            op_map(&o, true);
            break;
        case 2:
            op_map(&o, false);
            break;
        case 3:
            op_change(&o, false);
            break;
        case 4:
            op_change(&o, true);
            break;
        case 5:
            if (o.hint & 0x10)
                op_walk(&o);
            else
                check_page(o.pg + (o.target % o.n), o.target >> 20);
            break;
        case 6:
            op_bad(&o);
            break;
        default:
            op_clear(&o);
            break;
        }
        check_page(o.pg, 0);
        check_page(o.pg + o.n - 1, PAGE_SIZE - 1);
        if (o.pg)
            check_page(o.pg - 1, 0);
        check_page(o.pg + o.n, 0);
        check_page(o.pg + (o.target % o.n), o.target & PAGE_MASK);
        check_counts();
        if (S.op % FULL_EVERY == FULL_EVERY - 1)
            check_all();
        fake_events_reset();
    }
    check_all();

    fake_events_reset();
    aspace_destroy(&S.as);
    bool whole = false;
    for (unsigned i = 0; i < fake_events_count(); i++) {
        const struct fake_event *e = fake_event(i);
        whole |= e && (S.stage == PT_STAGE2 ? e->kind == EV_TLBI_VMID && e->vmid == 7
                                            : e->kind == EV_TLBI_EL2_ALL);
    }
    FUZZ_CHECK(whole, "aspace_destroy did not invalidate the space");
    fake_events_reset();
    struct page_census cs;
    page_census(&cs);
    FUZZ_CHECK(cs.by_usage[PAGE_PT] == 0, "%llu PT pages after aspace_destroy",
               ull(cs.by_usage[PAGE_PT]));
    FUZZ_CHECK(page_alloc_free_pages() == free_start,
               "free pages %llu after aspace_destroy, %llu before", ull(page_alloc_free_pages()),
               ull(free_start));
    model_reset();
    return 0;
}
