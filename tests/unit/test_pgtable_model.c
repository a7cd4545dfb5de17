// SPDX-License-Identifier: MIT
// Page-table engine against a reference model: random map/unmap/protect
// (with the block splits they cause) over a 4 GiB input space. After every
// step sampled lookups agree with the model; periodically every page, every
// frame's reference count (1 + the entries mapping it) and every table's
// nr_valid are checked; at the end teardown returns every page. Then 2 MiB
// compound frames mapped as block entries (one head reference each), split
// by partial unmaps, every head's count checked after every step. Plus two
// threads mapping and unmapping disjoint ranges of one space (TSan).
#include "../host/harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

TALLY_SUITE(pgtable_model)

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Sanitizer builds and AArch64 builds (run under qemu-aarch64) default to
 * fewer operations; $TALLY_PT_MODEL_OPS always decides when set. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#if defined(SLOW_BUILD) || defined(__aarch64__)
#define DEFAULT_MODEL_OPS  20000
#define DEFAULT_THREAD_OPS 5000
#else
#define DEFAULT_MODEL_OPS  200000
#define DEFAULT_THREAD_OPS 20000
#endif

#define IA_BITS   32
#define IA_PAGES  (1ull << (IA_BITS - 12))
#define FRAMES    (1ull << 18)   /* one 1 GiB block of frames */
#define MMIO_BASE 0x100000000ull /* above the simulated RAM: not RAM */

/* Model of one input page: mapped, owned, prot, target page number. */
#define M_MAPPED 0x80
#define M_OWNED  0x40
struct model {
    uint8_t *attr;   /* [IA_PAGES] */
    uint32_t *pfn;   /* [IA_PAGES] */
    uint32_t *maps;  /* [FRAMES]: entries mapping each frame */
    uint64_t mapped; /* pages mapped */
    uint64_t frame_base;
    uint64_t rng;
    enum pt_stage stage;
    struct aspace as;
    uint64_t ops;
    uint64_t big_maps[2]; /* successful maps of >= 2 MiB and of 1 GiB */
};

static struct model M;

static uint64_t rnd(uint64_t n)
{
    return test_rand(&M.rng) % n;
}

static void setup(void)
{
    sim_ram_setup_simple(2048);
    fake_events_reset();
}

static void teardown(void)
{
    sim_ram_teardown();
}

static uint32_t ref_of(paddr_t p)
{
    return page_slot_ref_count(meta_slot(p));
}

static const unsigned prots[] = {
    PT_R, PT_R | PT_W, PT_R | PT_X, PT_R | PT_W | PT_X, PT_R | PT_DEVICE, PT_R | PT_W | PT_DEVICE};

/* --- checks ------------------------------------------------------------------ */

static void check_page(uint64_t pg)
{
    paddr_t p;
    unsigned prot, level;
    bool owned;
    int err = pt_lookup(&M.as, pg << 12, &p, &prot, &level, &owned);
    if (!(M.attr[pg] & M_MAPPED)) {
        if (err != ERR_NOENT)
            ck_abort_msg("op %llu: ia %#llx maps but the model has nothing",
                         (unsigned long long)M.ops, (unsigned long long)(pg << 12));
        return;
    }
    if (err != ERR_OK || pa_val(p) != (uint64_t)M.pfn[pg] << 12 || prot != (M.attr[pg] & 0xfu) ||
        owned != !!(M.attr[pg] & M_OWNED))
        ck_abort_msg("op %llu: ia %#llx: err %d pa %#llx prot %#x owned %d; model pa %#llx prot "
                     "%#x owned %d",
                     (unsigned long long)M.ops, (unsigned long long)(pg << 12), err,
                     (unsigned long long)pa_val(p), prot, owned,
                     (unsigned long long)M.pfn[pg] << 12, M.attr[pg] & 0xf,
                     !!(M.attr[pg] & M_OWNED));
}

static void check_frame(uint64_t i)
{
    uint32_t r = ref_of(pa((M.frame_base + i) << 12));
    if (r != 1 + M.maps[i])
        ck_abort_msg("op %llu: frame %llu: ref %u, model 1 + %u", (unsigned long long)M.ops,
                     (unsigned long long)i, r, M.maps[i]);
}

struct full_check {
    uint64_t pages, tables;
};

/* Leaves seen by the full checks, per level: shows blocks were exercised. */
static uint64_t leaves_seen[PTE_LEVELS];

static int fc_table(const struct pt_visit *v, void *ctx)
{
    struct full_check *c = ctx;
    const pte_t *t = pt_page_data(v->next);
    unsigned valid = 0;
    for (unsigned i = 0; i < PTE_PER_TABLE; i++)
        valid += pte_is_valid(t[i]);
    struct pt_meta *m = pt_page_meta(v->next);
    if (valid != m->nr_valid || valid == 0 || m->level != v->level + 1)
        ck_abort_msg("op %llu: table at ia %#llx level %u: %u valid, nr_valid %u",
                     (unsigned long long)M.ops, (unsigned long long)v->ia, m->level, valid,
                     m->nr_valid);
    c->tables++;
    return 0;
}

static int fc_leaf(const struct pt_visit *v, void *ctx)
{
    struct full_check *c = ctx;
    uint64_t n = pte_level_size(v->level) >> 12, pg0 = v->ia >> 12;
    unsigned prot = pt_attrs_to_prot(M.stage, v->pte);
    uint8_t want = M_MAPPED | prot | ((v->pte & PTE_SW_OWNED) ? M_OWNED : 0);
    for (uint64_t i = 0; i < n; i++) {
        if (M.attr[pg0 + i] != want || M.pfn[pg0 + i] != (pte_oa(v->pte) >> 12) + i)
            ck_abort_msg("op %llu: leaf at ia %#llx level %u differs from the model at page %llu",
                         (unsigned long long)M.ops, (unsigned long long)v->ia, v->level,
                         (unsigned long long)i);
    }
    c->pages += n;
    leaves_seen[v->level]++;
    return 0;
}

/* Everything: every leaf against the model (and the count of mapped pages,
 * so nothing the model has is missing), every table's nr_valid, every
 * frame's count, the census of table pages. */
static void check_all(void)
{
    struct full_check c = {0};
    struct pt_visitor v = {fc_table, fc_leaf, NULL};
    ck_assert_int_eq(pt_walk(&M.as, 0, 1ull << IA_BITS, &v, &c), 0);
    ck_assert_uint_eq(c.pages, M.mapped);
    ck_assert_uint_eq(c.tables + 1, M.as.nr_tables);
    const pte_t *root = pt_page_data(M.as.root);
    unsigned valid = 0;
    for (unsigned i = 0; i < PTE_PER_TABLE; i++)
        valid += pte_is_valid(root[i]);
    ck_assert_uint_eq(valid, pt_page_meta(M.as.root)->nr_valid);
    struct page_census cs;
    page_census(&cs);
    ck_assert_uint_eq(cs.by_usage[PAGE_PT], M.as.nr_tables);
    for (uint64_t i = 0; i < FRAMES; i++)
        check_frame(i);
}

/* --- operations ------------------------------------------------------------------- */

static bool any_mapped(uint64_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (M.attr[pg + i] & M_MAPPED)
            return true;
    return false;
}

static bool all_mapped(uint64_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!(M.attr[pg + i] & M_MAPPED))
            return false;
    return true;
}

/* Pages in a random size class; starts aligned to match. */
static uint64_t pick_pages(uint64_t *align)
{
    uint64_t r = rnd(1000);
    if (r < 2) {
        *align = 1ull << 18;
        return 1ull << 18; /* 1 GiB */
    }
    if (r < 150) {
        *align = rnd(2) ? 512 : 1;
        return 512 * (1 + rnd(3)) + (rnd(2) ? 0 : rnd(512)); /* 2-6 MiB and a bit */
    }
    *align = 1;
    return 1 + rnd(rnd(4) ? 8 : 64);
}

static void op_map(void)
{
    uint64_t align, n = pick_pages(&align);
    /* Small mappings mostly in the first GiB, 2 MiB-class ones in the next
     * two, 1 GiB ones in the last, so blocks find room to exist. */
    uint64_t lo = 0, hi = 1ull << 18;
    if (n >= (1ull << 18))
        lo = 3ull << 18, hi = IA_PAGES;
    else if (rnd(10) == 0)
        hi = 3ull << 18;
    else if (n >= 512)
        lo = 1ull << 18, hi = 3ull << 18;
    uint64_t pg = lo + ALIGN_DOWN(rnd(hi - lo - n + 1), align);
    bool frames = rnd(4) != 0;
    unsigned prot = prots[rnd(frames ? 4 : ARRAY_SIZE(prots))];
    uint64_t tpfn;
    if (frames) {
        uint64_t off = rnd(FRAMES - n + 1);
        uint64_t blk = align > 512 ? align : 512;
        if (rnd(2)) { /* congruent with the IA modulo 2 MiB (1 GiB): blocks */
            off = ALIGN_DOWN(off, blk) + (pg & (blk - 1));
            if (off + n > FRAMES)
                off -= blk;
        }
        tpfn = M.frame_base + off;
    } else {
        uint64_t blk = align > 512 ? align : 512;
        tpfn = (MMIO_BASE >> 12) + ALIGN_DOWN(rnd(FRAMES - n + 1), blk) + (pg & (blk - 1));
    }
    int want = any_mapped(pg, n) ? ERR_EXIST : ERR_OK;
    int err = frames ? pt_map_frames(&M.as, pg << 12, pa(tpfn << 12), n << 12, prot)
                     : pt_map_phys(&M.as, pg << 12, pa(tpfn << 12), n << 12, prot);
    if (err != want)
        ck_abort_msg("op %llu: map%s ia %#llx pages %llu: %d, model %d", (unsigned long long)M.ops,
                     frames ? "_frames" : "_phys", (unsigned long long)(pg << 12),
                     (unsigned long long)n, err, want);
    if (err == ERR_OK) {
        for (uint64_t i = 0; i < n; i++) {
            M.attr[pg + i] = (uint8_t)(M_MAPPED | (frames ? M_OWNED : 0) | prot);
            M.pfn[pg + i] = (uint32_t)(tpfn + i);
            if (frames)
                M.maps[tpfn + i - M.frame_base]++;
        }
        M.mapped += n;
        M.big_maps[0] += n >= 512;
        M.big_maps[1] += n == (1ull << 18);
        if (frames) {
            check_frame(tpfn - M.frame_base);
            check_frame(tpfn + n - 1 - M.frame_base);
        }
    }
    check_page(pg);
    check_page(pg + n - 1);
    check_page(pg + rnd(n));
}

/* A range that is mostly inside what is mapped, so unmap/protect mostly
 * succeed and split blocks; sometimes it runs past, to hit ERR_NOENT. */
static bool pick_mapped_range(uint64_t *pg_out, uint64_t *n_out)
{
    uint64_t pg = rnd(IA_PAGES);
    for (unsigned tries = 0; !(M.attr[pg] & M_MAPPED); tries++) {
        if (tries == 16)
            return false;
        pg = rnd(IA_PAGES);
    }
    uint64_t align, n = pick_pages(&align);
    if (align > 1 && rnd(2))
        pg = ALIGN_DOWN(pg, align);
    if (pg + n > IA_PAGES)
        n = IA_PAGES - pg;
    if (rnd(8)) { /* clip to the mapped run */
        uint64_t k = 0;
        while (k < n && (M.attr[pg + k] & M_MAPPED))
            k++;
        n = k ? k : 1;
    }
    *pg_out = pg;
    *n_out = n;
    return true;
}

static void op_unmap(void)
{
    uint64_t pg, n;
    if (!pick_mapped_range(&pg, &n))
        return;
    int want = all_mapped(pg, n) ? ERR_OK : ERR_NOENT;
    int err = pt_unmap(&M.as, pg << 12, n << 12);
    if (err != want)
        ck_abort_msg("op %llu: unmap ia %#llx pages %llu: %d, model %d", (unsigned long long)M.ops,
                     (unsigned long long)(pg << 12), (unsigned long long)n, err, want);
    if (err == ERR_OK) {
        /* Count every dropped mapping first: the range may map one frame
         * more than once, and the engine dropped all of them already. */
        for (uint64_t i = 0; i < n; i++)
            if (M.attr[pg + i] & M_OWNED)
                M.maps[M.pfn[pg + i] - M.frame_base]--;
        for (uint64_t i = 0; i < n; i++) {
            if (M.attr[pg + i] & M_OWNED)
                check_frame(M.pfn[pg + i] - M.frame_base);
            M.attr[pg + i] = 0;
        }
        M.mapped -= n;
    }
    check_page(pg);
    check_page(pg + n - 1);
    check_page(pg + rnd(n));
    if (pg > 0)
        check_page(pg - 1);
    if (pg + n < IA_PAGES)
        check_page(pg + n);
}

static void op_protect(void)
{
    uint64_t pg, n;
    if (!pick_mapped_range(&pg, &n))
        return;
    unsigned prot = prots[rnd(ARRAY_SIZE(prots))];
    int want = all_mapped(pg, n) ? ERR_OK : ERR_NOENT;
    int err = pt_protect(&M.as, pg << 12, n << 12, prot);
    if (err != want)
        ck_abort_msg("op %llu: protect ia %#llx pages %llu: %d, model %d",
                     (unsigned long long)M.ops, (unsigned long long)(pg << 12),
                     (unsigned long long)n, err, want);
    if (err == ERR_OK)
        for (uint64_t i = 0; i < n; i++)
            M.attr[pg + i] = (uint8_t)((M.attr[pg + i] & ~0xfu) | prot);
    check_page(pg);
    check_page(pg + n - 1);
    check_page(pg + rnd(n));
}

/* Unmap everything in one GiB of input space, run by run (whole tables and
 * blocks go at once), so big mappings find room again. */
static void op_clear(void)
{
    uint64_t base = rnd(4) << 18, end = base + (1ull << 18);
    for (uint64_t pg = base; pg < end;) {
        if (!(M.attr[pg] & M_MAPPED)) {
            pg++;
            continue;
        }
        uint64_t k = pg;
        while (k < end && (M.attr[k] & M_MAPPED)) {
            if (M.attr[k] & M_OWNED)
                M.maps[M.pfn[k] - M.frame_base]--;
            M.attr[k] = 0;
            k++;
        }
        ck_assert_int_eq(pt_unmap(&M.as, pg << 12, (k - pg) << 12), ERR_OK);
        M.mapped -= k - pg;
        pg = k;
    }
    check_page(base);
    check_page(base + rnd(1ull << 18));
}

/* Malformed requests: each its code, nothing changed. */
static void op_bad(void)
{
    uint64_t tables = M.as.nr_tables, free0 = page_alloc_free_pages();
    uint64_t pg = rnd(IA_PAGES - 1);
    paddr_t f = pa((M.frame_base + rnd(FRAMES)) << 12);
    switch (rnd(5)) {
    case 0:
        ck_assert_int_eq(pt_map_frames(&M.as, (pg << 12) | 0x800, f, PAGE_SIZE, PT_R), ERR_ALIGN);
        break;
    case 1:
        ck_assert_int_eq(pt_unmap(&M.as, pg << 12, PAGE_SIZE + 8), ERR_ALIGN);
        break;
    case 2:
        ck_assert_int_eq(pt_protect(&M.as, (IA_PAGES - 1) << 12, 2 * PAGE_SIZE, PT_R), ERR_RANGE);
        break;
    case 3:
        ck_assert_int_eq(pt_map_frames(&M.as, pg << 12, f, PAGE_SIZE, PT_W), ERR_INVAL);
        break;
    default:
        ck_assert_int_eq(
            pt_map_phys(&M.as, pg << 12, pa(MMIO_BASE), PAGE_SIZE, PT_R | PT_X | PT_DEVICE),
            ERR_INVAL);
        break;
    }
    ck_assert_uint_eq(M.as.nr_tables, tables);
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
    check_page(pg);
}

static void run_model(enum pt_stage stage, uint64_t ops, uint64_t seed)
{
    memset(&M, 0, sizeof(M));
    memset(leaves_seen, 0, sizeof(leaves_seen));
    M.rng = seed;
    M.stage = stage;
    M.attr = calloc(IA_PAGES, 1);
    M.pfn = calloc(IA_PAGES, sizeof(uint32_t));
    M.maps = calloc(FRAMES, sizeof(uint32_t));
    ck_assert(M.attr && M.pfn && M.maps);

    uint64_t free_start = page_alloc_free_pages();
    paddr_t fb;
    ck_assert_int_eq(page_alloc(18, &fb), ERR_OK);
    M.frame_base = pa_val(fb) >> 12;
    for (uint64_t i = 0; i < FRAMES; i++)
        frame_from_unused(pa_add(fb, i << 12), (struct frame_meta){.owner_vm = 1});
    ck_assert_int_eq(aspace_init(&M.as, stage, IA_BITS, 9, 1), ERR_OK);

    /* About 50 full checks, at least 2000 operations apart. */
    uint64_t every = ops / 50 > 2000 ? ops / 50 : 2000;
    for (M.ops = 0; M.ops < ops; M.ops++) {
        uint64_t r = rnd(1000) / 10;
        if (rnd(1000) < 3)
            op_clear();
        else if (r < 45)
            op_map();
        else if (r < 75)
            op_unmap();
        else if (r < 97)
            op_protect();
        else
            op_bad();
        check_page(rnd(IA_PAGES));
        if (M.ops % every == every - 1)
            check_all();
        fake_events_reset(); /* only counts go on past the log; keep it short */
    }
    check_all();
    printf("pgtable_model: stage %d, %llu ops, %llu pages mapped at the end, %llu tables; "
           "leaves checked: %llu 1G, %llu 2M, %llu 4K; maps >= 2M: %llu, 1G: %llu\n",
           stage, (unsigned long long)ops, (unsigned long long)M.mapped,
           (unsigned long long)M.as.nr_tables, (unsigned long long)leaves_seen[1],
           (unsigned long long)leaves_seen[2], (unsigned long long)leaves_seen[3],
           (unsigned long long)M.big_maps[0], (unsigned long long)M.big_maps[1]);
    ck_assert_uint_gt(leaves_seen[2], 0);

    aspace_destroy(&M.as);
    for (uint64_t i = 0; i < FRAMES; i++) {
        if (ref_of(pa_add(fb, i << 12)) != 1)
            ck_abort_msg("frame %llu: ref %u after teardown", (unsigned long long)i,
                         ref_of(pa_add(fb, i << 12)));
        frame_drop((struct frame){meta_slot(pa_add(fb, i << 12))});
    }
    ck_assert_uint_eq(page_alloc_free_pages(), free_start);
    struct page_census cs;
    page_census(&cs);
    ck_assert_uint_eq(cs.by_usage[PAGE_PT], 0);
    ck_assert_uint_eq(cs.by_usage[PAGE_FRAME], 0);
    free(M.attr);
    free(M.pfn);
    free(M.maps);
}

START_TEST(test_model_stage2_random_ops_agree_with_reference)
{
    uint64_t seed = test_seed("pgtable_model stage2");
    run_model(PT_STAGE2, test_iterations("TALLY_PT_MODEL_OPS", DEFAULT_MODEL_OPS), seed);
}
END_TEST

START_TEST(test_model_stage1_random_ops_agree_with_reference)
{
    uint64_t seed = test_seed("pgtable_model stage1");
    run_model(PT_STAGE1_EL2, test_iterations("TALLY_PT_MODEL_OPS", DEFAULT_MODEL_OPS) / 4, seed);
}
END_TEST

/* --- 2 MiB compound frames --------------------------------------------------------------
 *
 * NC compound frames of 512 pages each (page_alloc(9) + frame_block_from_unused), compound c
 * mapped only at its own 2 MiB window of input space (IA = CB_IA + c * 2 MiB, page i at page i).
 * Random maps of a whole compound (one block entry owning one reference on its head:
 * PTE_SW_BLOCKREF) or of runs of its pages (one head reference per page entry), and random
 * unmaps of runs, some across two windows, which split the block entries they cut. The model
 * knows, per compound, which pages are mapped and whether they are one block entry, and so
 * every head's exact count: 1 (ours) + 1 for a block, else + its mapped pages. Checked after
 * every step for every compound, with every page's translation; tails never count.
 */
#define NC    8
#define CB_IA (1ull << 30)

struct cmodel {
    struct frame head[NC];
    bool mapped[NC][512];
    bool block[NC];
};

static uint32_t cm_expected(const struct cmodel *m, unsigned c)
{
    if (m->block[c])
        return 2;
    uint32_t n = 1;
    for (unsigned i = 0; i < 512; i++)
        n += m->mapped[c][i];
    return n;
}

static void cm_check(struct aspace *as, const struct cmodel *m, uint64_t step, uint64_t seed)
{
    for (unsigned c = 0; c < NC; c++) {
        paddr_t f = frame_paddr(m->head[c]);
        if (frame_ref_count(m->head[c]) != cm_expected(m, c))
            ck_abort_msg("step %llu (seed %llu): compound %u: head count %u, model %u",
                         (unsigned long long)step, (unsigned long long)seed, c,
                         frame_ref_count(m->head[c]), cm_expected(m, c));
        for (unsigned i = 1; i < 512; i++)
            if (ref_of(pa_add(f, i * PAGE_SIZE)) != REF_TAIL + 9)
                ck_abort_msg("step %llu: compound %u page %u is no longer a tail",
                             (unsigned long long)step, c, i);
        for (unsigned i = 0; i < 512; i++) {
            paddr_t got;
            unsigned level;
            bool owned;
            int err =
                pt_lookup(as, CB_IA + c * 2 * MiB + i * PAGE_SIZE, &got, NULL, &level, &owned);
            bool ok = m->mapped[c][i] ? err == ERR_OK && pa_val(got) == pa_val(f) + i * PAGE_SIZE &&
                                            owned && level == (m->block[c] ? 2u : 3u)
                                      : err == ERR_NOENT;
            if (!ok)
                ck_abort_msg("step %llu (seed %llu): compound %u page %u: err %d level %u, model "
                             "mapped %d block %d",
                             (unsigned long long)step, (unsigned long long)seed, c, i, err, level,
                             m->mapped[c][i], m->block[c]);
        }
    }
}

START_TEST(test_model_compound_2m_blocks_splits_and_partial_unmaps_count_exactly)
{
    static struct cmodel m;
    memset(&m, 0, sizeof(m));
    uint64_t seed = test_seed("pgtable_model compound"), rng = seed;
    uint64_t steps = test_iterations("TALLY_PT_MODEL_OPS", DEFAULT_MODEL_OPS) / 100;
    if (steps < 1000)
        steps = 1000;
    uint64_t free0 = page_alloc_free_pages();
    for (unsigned c = 0; c < NC; c++) {
        paddr_t p;
        ck_assert_int_eq(page_alloc(9, &p), ERR_OK);
        m.head[c] = frame_block_from_unused(p, 9, (struct frame_meta){.owner_vm = 1});
    }
    struct page_census cs;
    page_census(&cs);
    uint64_t frames0 = cs.by_usage[PAGE_FRAME];
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE2, 40, 1, 1), ERR_OK);
    uint64_t blocks_split = 0;
    /* Start with every other compound as a block entry, so that short runs
     * (sanitizer builds) split blocks too. */
    for (unsigned c = 0; c < NC; c += 2) {
        ck_assert_int_eq(
            pt_map_frames(&as, CB_IA + c * 2 * MiB, frame_paddr(m.head[c]), 2 * MiB, PT_R | PT_W),
            ERR_OK);
        memset(m.mapped[c], 1, 512);
        m.block[c] = true;
    }
    cm_check(&as, &m, 0, seed);
    for (uint64_t step = 0; step < steps; step++) {
        uint64_t r = test_rand(&rng);
        unsigned c = (unsigned)(r % NC), kind = (unsigned)((r >> 8) % 8);
        uint64_t first = (r >> 16) % 512, n = 1 + (r >> 32) % 96;
        uint64_t ia = CB_IA + c * 2 * MiB;
        paddr_t f = frame_paddr(m.head[c]);
        if (kind == 0) {
            /* The whole compound: one block entry, or ERR_EXIST. */
            bool any = false;
            for (unsigned i = 0; i < 512; i++)
                any |= m.mapped[c][i];
            ck_assert_int_eq(pt_map_frames(&as, ia, f, 2 * MiB, PT_R | PT_W),
                             any ? ERR_EXIST : ERR_OK);
            if (!any) {
                memset(m.mapped[c], 1, 512);
                m.block[c] = true;
            }
        } else if (kind <= 3) {
            /* A run of its pages, as page entries. */
            if (first + n > 512)
                n = 512 - first;
            bool any = false;
            for (uint64_t i = first; i < first + n; i++)
                any |= m.mapped[c][i];
            int want = any ? ERR_EXIST : ERR_OK;
            ck_assert_int_eq(pt_map_frames(&as, ia + first * PAGE_SIZE,
                                           pa_add(f, first * PAGE_SIZE), n * PAGE_SIZE, PT_R),
                             want);
            if (!any) {
                memset(&m.mapped[c][first], 1, n);
                m.block[c] = n == 512;
            }
        } else {
            /* Unmap a run from page `first` of window c, into window c + 1
             * when it runs past (never past the last window). */
            uint64_t total = 512 * (c + 1 < NC ? 2 : 1) - first;
            if (kind == 7)
                n = 256 + (r >> 32) % 512; /* long: crosses windows, takes whole blocks */
            if (n > total)
                n = total;
            bool all = true;
            for (uint64_t k = 0; k < n; k++)
                all &= m.mapped[c + (first + k) / 512][(first + k) % 512];
            ck_assert_int_eq(pt_unmap(&as, ia + first * PAGE_SIZE, n * PAGE_SIZE),
                             all ? ERR_OK : ERR_NOENT);
            if (all) {
                for (uint64_t k = 0; k < n; k++)
                    m.mapped[c + (first + k) / 512][(first + k) % 512] = false;
                /* A block cut in part is split: what stays is pages. */
                for (unsigned d = c; d < NC && d <= c + (first + n - 1) / 512; d++) {
                    bool left = false;
                    for (unsigned i = 0; i < 512; i++)
                        left |= m.mapped[d][i];
                    blocks_split += m.block[d] && left;
                    if (m.block[d])
                        m.block[d] = false;
                }
            }
        }
        cm_check(&as, &m, step, seed);
        page_census(&cs);
        ck_assert_uint_eq(cs.by_usage[PAGE_FRAME], frames0);
    }
    /* Blocks were split (the start made some). */
    ck_assert_uint_gt(blocks_split, 0);
    aspace_destroy(&as);
    for (unsigned c = 0; c < NC; c++) {
        ck_assert_uint_eq(frame_ref_count(m.head[c]), 1);
        frame_drop(m.head[c]);
    }
    page_census(&cs);
    ck_assert_uint_eq(cs.by_usage[PAGE_FRAME], 0);
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), free0);
}
END_TEST

/* --- two threads, disjoint ranges of one space ------------------------------------------ */

struct worker {
    struct aspace *as;
    unsigned cpu;
    uint64_t ia_base; /* 1 GiB of input space of its own */
    paddr_t frames;   /* 2 MiB of frames of its own, 2 MiB aligned */
    uint64_t ops, seed;
    uint64_t maps_ok, unmaps_ok;
};

#define W_SLOTS 32 /* ranges a worker keeps mapped: slot i at ia_base + i * 4 MiB */

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    uint64_t rng = w->seed;
    uint64_t len[W_SLOTS] = {0};
    for (uint64_t k = 0; k < w->ops; k++) {
        unsigned s = (unsigned)(test_rand(&rng) % W_SLOTS);
        uint64_t ia = w->ia_base + s * 4 * MiB;
        if (len[s]) {
            if (pt_unmap(w->as, ia, len[s]) != ERR_OK)
                abort();
            len[s] = 0;
            w->unmaps_ok++;
            continue;
        }
        uint64_t r = test_rand(&rng);
        /* A whole 2 MiB block now and then, else 1..64 pages. */
        uint64_t size = r % 8 == 0 ? 2 * MiB : ((r >> 8) % 64 + 1) * PAGE_SIZE;
        uint64_t off = size == 2 * MiB ? 0 : ((r >> 16) % (512 - size / PAGE_SIZE + 1)) * PAGE_SIZE;
        if (pt_map_frames(w->as, ia, pa_add(w->frames, off), size, PT_R | PT_W) != ERR_OK)
            abort();
        len[s] = size;
        w->maps_ok++;
    }
    for (unsigned s = 0; s < W_SLOTS; s++)
        if (len[s] && pt_unmap(w->as, w->ia_base + s * 4 * MiB, len[s]) != ERR_OK)
            abort();
    page_alloc_drain(); /* this CPU's cache: no other CPU may touch it */
    return NULL;
}

START_TEST(test_two_threads_map_unmap_disjoint_ranges_counts_exact)
{
    uint64_t free_start = page_alloc_free_pages();
    struct aspace as;
    ck_assert_int_eq(aspace_init(&as, PT_STAGE2, IA_BITS, 2, 2), ERR_OK);
    uint64_t ops = test_iterations("TALLY_PT_THREAD_OPS", DEFAULT_THREAD_OPS);
    uint64_t seed = test_seed("pgtable threads");
    struct worker w[2];
    pthread_t th[2];
    for (unsigned t = 0; t < 2; t++) {
        paddr_t f;
        ck_assert_int_eq(page_alloc(9, &f), ERR_OK);
        for (unsigned i = 0; i < 512; i++)
            frame_from_unused(pa_add(f, i * PAGE_SIZE), (struct frame_meta){.owner_vm = 2});
        w[t] = (struct worker){.as = &as,
                               .cpu = t + 1,
                               .ia_base = (t + 1) * GiB,
                               .frames = f,
                               .ops = ops,
                               .seed = seed + t};
    }
    for (unsigned t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, worker_run, &w[t]), 0);
    for (unsigned t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);

    /* Everything was unmapped: only the root is left, every frame is back
     * to our one reference. */
    ck_assert_uint_eq(as.nr_tables, 1);
    ck_assert_uint_eq(pt_page_meta(as.root)->nr_valid, 0);
    struct page_census cs;
    page_census(&cs);
    ck_assert_uint_eq(cs.by_usage[PAGE_PT], 1);
    for (unsigned t = 0; t < 2; t++) {
        ck_assert_uint_eq(w[t].maps_ok + w[t].unmaps_ok, ops);
        ck_assert_uint_ge(w[t].maps_ok, w[t].unmaps_ok);
        for (unsigned i = 0; i < 512; i++)
            ck_assert_uint_eq(ref_of(pa_add(w[t].frames, i * PAGE_SIZE)), 1);
    }
    aspace_destroy(&as);
    for (unsigned t = 0; t < 2; t++)
        for (unsigned i = 0; i < 512; i++)
            frame_drop((struct frame){meta_slot(pa_add(w[t].frames, i * PAGE_SIZE))});
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), free_start);
}
END_TEST

Suite *pgtable_model_suite(void)
{
    Suite *s = suite_create("pgtable_model");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_model_stage2_random_ops_agree_with_reference);
    tcase_add_test(tc, test_model_stage1_random_ops_agree_with_reference);
    tcase_add_test(tc, test_model_compound_2m_blocks_splits_and_partial_unmaps_count_exactly);
    suite_add_tcase(s, tc);
    TCase *mt = tcase_create("threads");
    tcase_add_checked_fixture(mt, setup, teardown);
    tcase_set_timeout(mt, 600);
    tcase_add_test(mt, test_two_threads_map_unmap_disjoint_ranges_counts_exact);
    suite_add_tcase(s, mt);
    return s;
}
