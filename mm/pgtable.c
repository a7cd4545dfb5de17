// SPDX-License-Identifier: MIT
/*
 * The page-table engine: EL2 stage-1 and stage-2 trees, 4 KiB granule, whose
 * entries own page references. The contract is in <tally/pgtable.h>, the
 * descriptor bits in <tally/pte.h>, the design in docs/page-tables.md.
 *
 * Every mutating operation runs in two phases under the aspace lock:
 *
 *   prepare  walk the range read-only: reject what cannot be done (ERR_EXIST,
 *            ERR_NOENT) and count the tables the commit will need per level;
 *            allocate those into a pool; take the references a map needs.
 *            Any failure here undoes the pool and the references: nothing
 *            else was touched.
 *   commit   walk again and write entries. It cannot fail: every table comes
 *            from the pool, every reference was taken.
 *
 * Entries that stop mapping something, and tables that stop being reachable,
 * go through a batch (struct pt_batch): the entry is written invalid and its
 * address recorded; a flush then does arch_pte_sync(), the TLB invalidations,
 * and only after them drops what the old entries owned. That is the one place
 * pages leave a tree, so "freed only after the TLBI" holds by construction.
 *
 * Fresh entries need no invalidation (nothing valid was there to be cached).
 * New tables are zeroed and made visible (arch_pte_sync) before they are
 * linked, so a walker never sees a table with stale contents.
 */
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

#define PA_LIMIT (1ull << 48)

/* Descriptors are read and written as whole 64-bit words: the table walker
 * reads them concurrently (single-copy atomicity, no tearing, no merging). */
static inline pte_t pte_read(const pte_t *p)
{
    return *(const volatile pte_t *)p;
}

static inline void pte_write(pte_t *p, pte_t v)
{
    *(volatile pte_t *)p = v;
}

static inline pte_t *table_at(uint64_t pa_table)
{
    return arch_phys_to_virt(pa(pa_table));
}

/*
 * The table a valid table entry points to, as a borrowed handle: the
 * reference belongs to the entry, and the aspace lock keeps the entry (so the
 * page) in place while we use it.
 */
static inline struct pt_page pt_borrow(pte_t table_entry)
{
    return (struct pt_page){meta_slot(pa(pte_oa(table_entry)))};
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* End of the part of [a, e) that falls in a's entry at this level. */
static inline uint64_t entry_end(uint64_t a, unsigned level, uint64_t e)
{
    return min_u64(ALIGN_DOWN(a, pte_level_size(level)) + pte_level_size(level), e);
}

static inline bool covers_entry(uint64_t a, uint64_t next, unsigned level)
{
    return next - a == pte_level_size(level);
}

/* --- attributes ------------------------------------------------------------ */

/* Set once at boot, before any stage-2 exists (pt_set_stage2_fwb()). */
static bool stage2_fwb;

void pt_set_stage2_fwb(bool on)
{
    stage2_fwb = on;
}

pte_t pt_prot_to_attrs(enum pt_stage st, unsigned prot)
{
    pte_t a = PTE_AF | PTE_SH_INNER;
    if (!(prot & PT_X))
        a |= PTE_XN;
    if (st == PT_STAGE1_EL2) {
        a |= PTE_S1_AP_RES1;
        a |= PTE_S1_ATTRIDX((prot & PT_DEVICE) ? MAIR_IDX_DEVICE_nGnRE : MAIR_IDX_NORMAL_WB);
        if (!(prot & PT_W))
            a |= PTE_S1_AP_RO;
    } else {
        a |= PTE_S2_MEMATTR((prot & PT_DEVICE) ? PTE_S2_MEMATTR_DEVICE_nGnRE
                            : stage2_fwb       ? PTE_S2_MEMATTR_FWB_FORCE_WB
                                               : PTE_S2_MEMATTR_NORMAL_WB);
        if (prot & PT_R)
            a |= PTE_S2_AP_R;
        if (prot & PT_W)
            a |= PTE_S2_AP_W;
    }
    return a;
}

unsigned pt_attrs_to_prot(enum pt_stage st, pte_t pte)
{
    unsigned prot = (pte & PTE_XN) ? 0 : PT_X;
    if (st == PT_STAGE1_EL2) {
        prot |= PT_R;
        if (!(pte & PTE_S1_AP_RO))
            prot |= PT_W;
        if ((pte & PTE_S1_ATTRIDX_MASK) == PTE_S1_ATTRIDX(MAIR_IDX_DEVICE_nGnRE))
            prot |= PT_DEVICE;
    } else {
        if (pte & PTE_S2_AP_R)
            prot |= PT_R;
        if (pte & PTE_S2_AP_W)
            prot |= PT_W;
        if ((pte & PTE_S2_MEMATTR_MASK) == PTE_S2_MEMATTR(PTE_S2_MEMATTR_DEVICE_nGnRE))
            prot |= PT_DEVICE;
    }
    return prot;
}

static int check_prot(unsigned prot)
{
    if ((prot & ~PT_PROT_MASK) || !(prot & PT_R))
        return ERR_INVAL;
    if ((prot & PT_DEVICE) && (prot & PT_X))
        return ERR_INVAL;
    return ERR_OK;
}

static int check_range(const struct aspace *as, uint64_t ia, uint64_t size)
{
    if (size == 0)
        return ERR_INVAL;
    if (!IS_ALIGNED(ia | size, PAGE_SIZE))
        return ERR_ALIGN;
    uint64_t lim = 1ull << as->ia_bits;
    if (ia >= lim || size > lim - ia)
        return ERR_RANGE;
    return ERR_OK;
}

/* --- releasing what entries own --------------------------------------------- */

/* A run of owned pages at consecutive addresses whose references go in one
 * page_drop_run(): entries come in address order, so a table's pages, or a
 * batch's, are usually one run. */
struct drop_run {
    uint64_t pa, n;
};

static inline void run_add(struct drop_run *r, uint64_t oa, uint64_t pages)
{
    if (r->n && oa == r->pa + (r->n << PAGE_SHIFT)) {
        r->n += pages;
        return;
    }
    if (r->n)
        page_drop_run(pa(r->pa), r->n);
    r->pa = oa;
    r->n = pages;
}

static inline void run_end(struct drop_run *r)
{
    if (r->n)
        page_drop_run(pa(r->pa), r->n);
    r->n = 0;
}

/* Drop what one valid entry owns: its table, or one reference per 4 KiB page
 * of an owned leaf (a page's added to the run), or a block entry's one
 * reference (PTE_SW_BLOCKREF). The entry must already be unreachable and
 * invalidated. */
static void entry_release(pte_t e, unsigned level, struct drop_run *run)
{
    if (pte_is_table(e, level)) {
        pt_page_drop(pt_page_from_raw(pa(pte_oa(e))));
        return;
    }
    if (!(e & PTE_SW_OWNED))
        return;
    if (level != 3 && (e & PTE_SW_BLOCKREF)) {
        /* One reference: its compound page's (from_raw of any page of a
         * compound finds the head). */
        dyn_page_drop(dyn_page_from_raw(pa(pte_oa(e))));
        return;
    }
    /* One reference per 4 KiB page (each its own, or its compound's). */
    run_add(run, pte_oa(e), pte_level_size(level) >> PAGE_SHIFT);
}

bool pt_page_release(struct meta_slot *s)
{
    struct pt_page t = {s};
    const pte_t *tbl = pt_page_data(t);
    unsigned level = pt_page_meta(t)->level, valid = 0;
    pte_t any = 0; /* OR of every descriptor: zero iff the page is */
#ifndef TALLY_DEBUG
    /* An empty table is all zero: every entry the engine invalidates it
     * writes as 0 (protect's parked descriptors are valid again before the
     * lock goes, and pool_take clears a spare's link). Nothing to release,
     * and no need to read 512 descriptors to know the page is clean: an
     * emptied table is the common case (every unmap that empties one).
     * Debug builds read them all and check it. */
    if (pt_page_meta(t)->nr_valid == 0)
        return true;
#endif
    struct drop_run run = {0, 0};
    if (level == 3) {
        /* The hot loop of a large unmap: pages only, their references
         * gathered into runs. */
        for (unsigned i = 0; i < PTE_PER_TABLE; i++) {
            pte_t e = pte_read(&tbl[i]);
            any |= e;
            valid += pte_is_valid(e);
            if ((e & (PTE_VALID | PTE_SW_OWNED)) == (PTE_VALID | PTE_SW_OWNED))
                run_add(&run, pte_oa(e), 1);
        }
    } else {
        for (unsigned i = 0; i < PTE_PER_TABLE; i++) {
            pte_t e = pte_read(&tbl[i]);
            any |= e;
            if (!pte_is_valid(e))
                continue;
            valid++;
            entry_release(e, level, &run);
        }
    }
    run_end(&run);
    if (valid != pt_page_meta(t)->nr_valid)
        panic("page table %#llx (level %u): %u valid entries but nr_valid %u",
              (unsigned long long)pa_val(pt_page_paddr(t)), level, valid,
              pt_page_meta(t)->nr_valid);
    if (valid == 0 && any != 0)
        panic("page table %#llx (level %u): no valid entry but not all zero",
              (unsigned long long)pa_val(pt_page_paddr(t)), level);
    return any == 0;
}

/* --- one operation's state ---------------------------------------------------- */

/* Spare zeroed tables per level, chained through their entry 0 (a page-
 * aligned address has bits[1:0] = 0, so a stale link reads as invalid). */
struct pt_pool {
    uint64_t head[PTE_LEVELS];
    uint64_t count[PTE_LEVELS];
};

/*
 * Invalidations wait in runs of entries of one size at consecutive addresses
 * (one TLBI each: by address, a TLBI covers a whole block entry; a range
 * TLBI covers a run). A stage-2 flush hands all runs to the arch at once:
 * the IPAs, then one VMALLE1IS, VTTBR switched once. Past BATCH_TLBI_MAX
 * entries, or BATCH_RUNS runs, one invalidation of the whole space is
 * cheaper than the broadcasts.
 */
#define BATCH_RUNS     16
#define BATCH_TLBI_MAX 64
#define BATCH_DROP     BATCH_TLBI_MAX

struct pt_batch {
    unsigned n_runs, n_tlbi, n_drop;
    bool tlbi_all;
    struct tlbi_run runs[BATCH_RUNS];
    pte_t drop[BATCH_DROP];
    uint8_t drop_level[BATCH_DROP];
};

struct pt_op {
    struct aspace *as;
    uint64_t pa_off; /* map: pa - ia (mod 2^64) */
    pte_t leaf_bits; /* map: attributes, with PTE_SW_OWNED for frames; protect: attributes */
    struct pt_pool pool;
    struct pt_batch batch;
};

/* Not a memset of the whole op (over 1 KiB): the batch's arrays are always
 * written before they are read, so only the counters start at zero. */
static void op_init(struct pt_op *op, struct aspace *as)
{
    op->as = as;
    op->pa_off = 0;
    op->leaf_bits = 0;
    for (unsigned l = 0; l < PTE_LEVELS; l++)
        op->pool.head[l] = op->pool.count[l] = 0;
    op->batch.n_runs = op->batch.n_tlbi = op->batch.n_drop = 0;
    op->batch.tlbi_all = false;
}

static bool need_any(const uint64_t need[PTE_LEVELS])
{
    return need[0] | need[1] | need[2] | need[3];
}

static int pool_fill(struct pt_op *op, const uint64_t need[PTE_LEVELS])
{
    struct aspace *as = op->as;
    for (unsigned l = 0; l < PTE_LEVELS; l++) {
        while (op->pool.count[l] < need[l]) {
            int err;
            struct pt_meta m = {.stage = (uint8_t)as->stage,
                                .level = (uint8_t)l,
                                .nr_valid = 0,
                                .owner = as->owner};
            /* Zero already: from_unused zeroes a page unless its last
             * owner left it known to be zero (an emptied table). */
            struct pt_page t = pt_page_alloc(m, &err);
            if (err != ERR_OK)
                return err;
            pte_t *tbl = pt_page_data(t);
            tbl[0] = op->pool.head[l];
            op->pool.head[l] = pa_val(pt_page_into_raw(t));
            op->pool.count[l]++;
        }
    }
    return ERR_OK;
}

static struct pt_page pool_take(struct pt_op *op, unsigned level)
{
    BUG_ON(op->pool.count[level] == 0);
    struct pt_page t = pt_page_from_raw(pa(op->pool.head[level]));
    pte_t *tbl = pt_page_data(t);
    op->pool.head[level] = tbl[0];
    op->pool.count[level]--;
    pte_write(&tbl[0], 0);
    return t;
}

/* Give back unused spare tables (only after a failed prepare: a commit uses
 * exactly what prepare counted). */
static void pool_drain(struct pt_op *op)
{
    for (unsigned l = 0; l < PTE_LEVELS; l++)
        while (op->pool.count[l])
            pt_page_drop(pool_take(op, l));
}

/* Invalidate every entry of the runs: stage-2 in one arch call (the IPAs,
 * then one VMALLE1IS), EL2 stage-1 one VA at a time. */
static void tlbi_runs(const struct aspace *as, const struct tlbi_run *runs, unsigned n)
{
    if (as->stage == PT_STAGE2) {
        arch_tlbi_ipa_runs(as->vmid, runs, n);
        return;
    }
    for (unsigned r = 0; r < n; r++)
        for (unsigned i = 0; i < runs[r].n; i++)
            arch_tlbi_el2_va(va(runs[r].ia + i * runs[r].step));
}

static void tlbi_space(const struct aspace *as)
{
    if (as->stage == PT_STAGE2)
        arch_tlbi_vmid(as->vmid);
    else
        arch_tlbi_el2_all();
}

/*
 * Sync the invalid entries written so far, invalidate them, and only then
 * drop what they owned. Every pending drop had its invalidation recorded
 * before it: either it is done here, or an earlier flush (the one a full drop
 * list forced) already did it.
 */
static void batch_flush(struct pt_op *op)
{
    struct pt_batch *b = &op->batch;
    if (b->n_tlbi || b->tlbi_all) {
        arch_pte_sync();
        if (b->tlbi_all)
            tlbi_space(op->as);
        else
            tlbi_runs(op->as, b->runs, b->n_runs);
    }
    struct drop_run run = {0, 0};
    for (unsigned i = 0; i < b->n_drop; i++)
        entry_release(b->drop[i], b->drop_level[i], &run);
    run_end(&run);
    b->n_runs = b->n_tlbi = b->n_drop = 0;
    b->tlbi_all = false;
}

/* The entry at ia, mapping `level`-sized ranges, was written invalid:
 * invalidate it at the next flush. */
static void batch_tlbi(struct pt_op *op, uint64_t ia, unsigned level)
{
    struct pt_batch *b = &op->batch;
    uint64_t step = pte_level_size(level);
    if (b->tlbi_all)
        return;
    if (++b->n_tlbi > BATCH_TLBI_MAX) {
        b->tlbi_all = true;
        return;
    }
    struct tlbi_run *last = b->n_runs ? &b->runs[b->n_runs - 1] : NULL;
    if (last && last->step == step && last->ia + last->n * step == ia) {
        last->n++;
    } else if (b->n_runs < BATCH_RUNS) {
        b->runs[b->n_runs++] = (struct tlbi_run){ia, step, 1};
    } else {
        b->tlbi_all = true;
    }
}

/* Drop what the old entry owned after the next flush. Its invalidation must
 * already be recorded: a full batch flushes first, and that flush covers it. */
static void batch_drop(struct pt_op *op, pte_t old, unsigned level)
{
    struct pt_batch *b = &op->batch;
    if (b->n_drop == BATCH_DROP)
        batch_flush(op);
    b->drop[b->n_drop] = old;
    b->drop_level[b->n_drop] = (uint8_t)level;
    b->n_drop++;
}

/* --- map ------------------------------------------------------------------------ */

/* Can [a, next) be one leaf at this level (page, or a block whose IA and PA
 * are both aligned to it)? */
static inline bool leaf_fits(const struct pt_op *op, unsigned level, uint64_t a, uint64_t next)
{
    if (level == 3)
        return true;
    if (level == 0)
        return false;
    return covers_entry(a, next, level) && IS_ALIGNED(a + op->pa_off, pte_level_size(level));
}

/*
 * Does the owned block leaf at this level mapping from pa own ONE reference,
 * on the compound page that holds all its pages (PTE_SW_BLOCKREF)? Yes when
 * such a compound exists: naturally aligned, of at least the block's order.
 * The answer is stable while the map holds its references.
 */
static inline bool leaf_blockref(unsigned level, paddr_t p)
{
    unsigned order = pte_level_shift(level) - PAGE_SHIFT;
    return level < 3 && page_block_order(p) >= order;
}

/*
 * Check that nothing in [s, e) below table tbl (level `level`) is mapped and
 * count the tables the map will add. tbl NULL: a table the map will create,
 * empty by definition.
 */
static int map_prepare(const struct pt_op *op, const pte_t *tbl, unsigned level, uint64_t s,
                       uint64_t e, uint64_t need[PTE_LEVELS])
{
    if (!tbl && level == 3)
        return ERR_OK;
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t old = tbl ? pte_read(&tbl[pte_index(a, level)]) : 0;
        int err = ERR_OK;
        if (leaf_fits(op, level, a, next)) {
            if (pte_is_valid(old))
                return ERR_EXIST;
        } else if (!pte_is_valid(old)) {
            need[level + 1]++;
            err = map_prepare(op, NULL, level + 1, a, next, need);
        } else if (pte_is_table(old, level)) {
            err = map_prepare(op, table_at(pte_oa(old)), level + 1, a, next, need);
        } else {
            return ERR_EXIST;
        }
        if (err != ERR_OK)
            return err;
    }
    return ERR_OK;
}

static void map_commit(struct pt_op *op, struct pt_page t, unsigned level, uint64_t s, uint64_t e)
{
    pte_t *tbl = pt_page_data(t);
    struct pt_meta *m = pt_page_meta(t);
    if (level == 3) {
        /* The hot loop: one store per page, no TLBI (the entries were
         * invalid), nr_valid updated once. */
        unsigned i = pte_index(s, 3), n = (unsigned)((e - s) >> PAGE_SHIFT);
        pte_t d = op->leaf_bits | PTE_TYPE_PAGE | (s + op->pa_off);
        for (unsigned k = 0; k < n; k++, d += PAGE_SIZE)
            pte_write(&tbl[i + k], d);
        m->nr_valid = (uint16_t)(m->nr_valid + n);
        return;
    }
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t *p = &tbl[pte_index(a, level)];
        if (leaf_fits(op, level, a, next)) {
            pte_t d = op->leaf_bits | PTE_TYPE_BLOCK | (a + op->pa_off);
            if ((d & PTE_SW_OWNED) && leaf_blockref(level, pa(a + op->pa_off)))
                d |= PTE_SW_BLOCKREF;
            pte_write(p, d);
            m->nr_valid++;
            continue;
        }
        pte_t old = pte_read(p);
        struct pt_page child;
        if (pte_is_valid(old)) {
            child = pt_borrow(old);
        } else {
            /* Zeroed and synced before the commit began: safe to link now. */
            child = pool_take(op, level + 1);
            pte_write(p, pte_make_table(pt_page_into_raw(child)));
            m->nr_valid++;
            op->as->nr_tables++;
        }
        map_commit(op, child, level + 1, a, next);
    }
}

static void refs_drop(paddr_t p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        dyn_page_drop(dyn_page_from_raw(pa_add(p, i << PAGE_SHIFT)));
}

/* One new reference on each page of [p, p + n pages), already turned into a
 * raw one for the entry that will own it; all or nothing. */
static int refs_take(paddr_t p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        struct dyn_page d;
        int err = page_try_get(pa_add(p, i << PAGE_SHIFT), PAGE_UNUSED, &d);
        if (err == ERR_OK) {
            enum page_usage u = dyn_page_usage(d);
            if (u != PAGE_FRAME && u != PAGE_KSTACK) {
                dyn_page_drop(d);
                err = ERR_STATE;
            }
        }
        if (err != ERR_OK) {
            refs_drop(p, i);
            return err;
        }
        dyn_page_into_raw(d);
    }
    return ERR_OK;
}

/*
 * Level of the leaf a map of [a, e) writes at a: the largest block that
 * leaf_fits() allows (the levels the tree has), else 3. The same rule as
 * map_commit's, so references are taken per leaf exactly as entries own them.
 */
static unsigned map_leaf_level(const struct pt_op *op, uint64_t a, uint64_t e)
{
    for (unsigned level = op->as->start_level ? op->as->start_level : 1; level < 3; level++)
        if (leaf_fits(op, level, a, entry_end(a, level, e)))
            return level;
    return 3;
}

/* End of the leaf at a; pages come as one run up to where a block could
 * start (the next 2 MiB boundary), so the per-page loop stays tight. */
static uint64_t map_leaf_end(unsigned level, uint64_t a, uint64_t e)
{
    return level == 3 ? entry_end(a, 2, e) : a + pte_level_size(level);
}

/* Drop what refs_take_leaves() took for the leaves in [s, upto) of a map of
 * [s, e). */
static void refs_drop_leaves(const struct pt_op *op, uint64_t s, uint64_t upto, uint64_t e)
{
    for (uint64_t a = s, next; a < upto; a = next) {
        unsigned level = map_leaf_level(op, a, e);
        next = map_leaf_end(level, a, e);
        paddr_t p = pa(a + op->pa_off);
        if (leaf_blockref(level, p))
            refs_drop(p, 1);
        else
            refs_drop(p, (next - a) >> PAGE_SHIFT);
    }
}

/*
 * The references the leaves of a map of [s, e) will own, all or nothing: one
 * for a block whose pages are one compound page (PTE_SW_BLOCKREF), else one
 * per 4 KiB page. The first page's reference is taken first either way: once
 * held, the compound it belongs to cannot change.
 */
static int refs_take_leaves(const struct pt_op *op, uint64_t s, uint64_t e)
{
    for (uint64_t a = s, next; a < e; a = next) {
        unsigned level = map_leaf_level(op, a, e);
        next = map_leaf_end(level, a, e);
        uint64_t n = (next - a) >> PAGE_SHIFT;
        paddr_t p = pa(a + op->pa_off);
        int err = refs_take(p, 1);
        if (err == ERR_OK && n > 1 && !leaf_blockref(level, p)) {
            err = refs_take(pa_add(p, PAGE_SIZE), n - 1);
            if (err != ERR_OK)
                refs_drop(p, 1);
        }
        if (err != ERR_OK) {
            refs_drop_leaves(op, s, a, e);
            return err;
        }
    }
    return ERR_OK;
}

static bool usage_is_fixed(enum page_usage u)
{
    return u == PAGE_RESERVED || u == PAGE_HYP || u == PAGE_META;
}

/* Stage-2 pass-through may reach RAM only where the page tracker never frees. */
static int check_untracked(paddr_t p, uint64_t size)
{
    uint64_t lo = pa_val(p), hi = lo + size;
    for (unsigned b = 0; b < meta_nr_banks(); b++) {
        const struct mem_bank *bk = meta_bank(b);
        uint64_t s = lo > pa_val(bk->base) ? lo : pa_val(bk->base);
        uint64_t e = min_u64(hi, pa_val(bk->base) + bk->size);
        for (uint64_t q = s; q < e; q += PAGE_SIZE)
            if (!usage_is_fixed(page_slot_usage(meta_slot(pa(q)))))
                return ERR_STATE;
    }
    return ERR_OK;
}

/* --- one page, the fast path ---------------------------------------------------- */

/*
 * A single 4 KiB page is what a stage-2 fault handler and the sharing
 * hypercalls map and unmap. Where its level-3 table already exists, that
 * needs no pt_op, no pool and no second walk: one walk under the lock, one
 * descriptor, the reference taken before the lock and dropped after it.
 * Anything else (a missing or emptied table, a block in the way, a page that
 * cannot be referenced) says PT_SLOW and the general path, which gives the
 * exact error, runs instead: the fast path changes nothing before it knows
 * it will succeed.
 */
#define PT_SLOW 1

/* The level-3 descriptor for ia, and its table, if every table down to it
 * exists. Caller holds the lock. */
static pte_t *leaf_slot(struct aspace *as, uint64_t ia, struct pt_page *l3)
{
    pte_t *tbl = pt_page_data(as->root);
    pte_t e = 0;
    for (unsigned l = as->start_level; l < 3; l++) {
        e = pte_read(&tbl[pte_index(ia, l)]);
        if (!pte_is_table(e, l))
            return NULL;
        tbl = table_at(pte_oa(e));
    }
    *l3 = pt_borrow(e);
    return &tbl[pte_index(ia, 3)];
}

static int map_page_fast(struct aspace *as, uint64_t ia, paddr_t p, pte_t leaf_bits)
{
    if (refs_take(p, 1) != ERR_OK)
        return PT_SLOW;
    spin_lock(&as->lock);
    struct pt_page l3;
    pte_t *e = leaf_slot(as, ia, &l3);
    if (!e || pte_is_valid(pte_read(e))) {
        spin_unlock(&as->lock);
        refs_drop(p, 1); /* the caller's own reference keeps the page */
        return e ? ERR_EXIST : PT_SLOW;
    }
    /* Nothing valid was there: no invalidation needed. */
    pte_write(e, leaf_bits | PTE_TYPE_PAGE | pa_val(p));
    pt_page_meta(l3)->nr_valid++;
    arch_pte_sync();
    spin_unlock(&as->lock);
    return ERR_OK;
}

static int unmap_page_fast(struct aspace *as, uint64_t ia)
{
    spin_lock(&as->lock);
    struct pt_page l3;
    pte_t *e = leaf_slot(as, ia, &l3);
    pte_t old = e ? pte_read(e) : 0;
    /* The last entry of its table: the general path unlinks the table. */
    if (!pte_is_valid(old) || pt_page_meta(l3)->nr_valid == 1) {
        spin_unlock(&as->lock);
        return e && !pte_is_valid(old) ? ERR_NOENT : PT_SLOW;
    }
    pte_write(e, 0);
    pt_page_meta(l3)->nr_valid--;
    arch_pte_sync();
    struct tlbi_run run = {ia, PAGE_SIZE, 1};
    tlbi_runs(as, &run, 1);
    spin_unlock(&as->lock);
    /* Invalidated on every CPU: the reference may go, outside the lock. */
    if (old & PTE_SW_OWNED)
        dyn_page_drop(dyn_page_from_raw(pa(pte_oa(old))));
    return ERR_OK;
}

static int map_range(struct aspace *as, uint64_t ia, paddr_t p, uint64_t size, unsigned prot,
                     bool owned)
{
    int err = check_prot(prot);
    if (err == ERR_OK)
        err = check_range(as, ia, size);
    if (err != ERR_OK)
        return err;
    if (!IS_ALIGNED(pa_val(p), PAGE_SIZE))
        return ERR_ALIGN;
    if (pa_val(p) >= PA_LIMIT || size > PA_LIMIT - pa_val(p))
        return ERR_RANGE;
    pte_t leaf_bits = pt_prot_to_attrs(as->stage, prot) | (owned ? PTE_SW_OWNED : 0);
    if (owned && size == PAGE_SIZE) {
        err = map_page_fast(as, ia, p, leaf_bits);
        if (err != PT_SLOW)
            return err;
    }

    struct pt_op op;
    op_init(&op, as);
    op.pa_off = pa_val(p) - ia;
    op.leaf_bits = leaf_bits;
    uint64_t need[PTE_LEVELS] = {0};

    spin_lock(&as->lock);
    err = map_prepare(&op, pt_page_data(as->root), as->start_level, ia, ia + size, need);
    if (err == ERR_OK && !owned && as->stage == PT_STAGE2)
        err = check_untracked(p, size);
    if (err == ERR_OK)
        err = pool_fill(&op, need);
    if (err == ERR_OK && owned)
        err = refs_take_leaves(&op, ia, ia + size);
    if (err != ERR_OK) {
        pool_drain(&op);
        spin_unlock(&as->lock);
        return err;
    }
    if (need_any(need))
        arch_pte_sync(); /* the zeroed tables, before any is linked */
    map_commit(&op, as->root, as->start_level, ia, ia + size);
    arch_pte_sync(); /* the new entries, before the caller relies on them */
    spin_unlock(&as->lock);
    return ERR_OK;
}

int pt_map_frames(struct aspace *as, uint64_t ia, paddr_t p, uint64_t size, unsigned prot)
{
    return map_range(as, ia, p, size, prot, true);
}

int pt_map_phys(struct aspace *as, uint64_t ia, paddr_t p, uint64_t size, unsigned prot)
{
    return map_range(as, ia, p, size, prot, false);
}

/* --- unmap and protect --------------------------------------------------------------- */

/*
 * Tables a split of one leaf at level-1 needs when [s, e) covers part of it:
 * the level `level` table that replaces it, plus the tables that replace its
 * own partly covered entries (at most the first and the last).
 */
static void split_count(unsigned level, uint64_t s, uint64_t e, uint64_t need[PTE_LEVELS])
{
    need[level]++;
    if (level == 3)
        return;
    uint64_t sz = pte_level_size(level);
    uint64_t first_end = entry_end(s, level, e);
    if (!covers_entry(s, first_end, level))
        split_count(level + 1, s, first_end, need);
    if (first_end < e) {
        uint64_t last = ALIGN_DOWN(e - 1, sz);
        if (!covers_entry(last, e, level))
            split_count(level + 1, last, e, need);
    }
}

/*
 * Check that all of [s, e) below tbl is mapped and count the tables the
 * splits need. protect: a leaf partly covered whose attributes already are
 * the new ones needs no split.
 */
static int change_prepare(const struct pt_op *op, const pte_t *tbl, unsigned level, uint64_t s,
                          uint64_t e, bool protect, uint64_t need[PTE_LEVELS])
{
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t old = pte_read(&tbl[pte_index(a, level)]);
        if (!pte_is_valid(old))
            return ERR_NOENT;
        if (pte_is_table(old, level)) {
            /* A full last-level table holds only valid pages, each wholly
             * inside or outside the range: nothing to check or split. */
            if (level + 1 == 3 && pt_page_meta(pt_borrow(old))->nr_valid == PTE_PER_TABLE)
                continue;
            int err = change_prepare(op, table_at(pte_oa(old)), level + 1, a, next, protect, need);
            if (err != ERR_OK)
                return err;
        } else if (!covers_entry(a, next, level)) {
            if (!protect || (old & ~PTE_LEAF_KEEP) != op->leaf_bits) {
                /* A split gives each of 512 entries the block's one
                 * reference: 511 more on its compound page, at most 4
                 * splits of one compound per call (2 levels, 2 ends). */
                if ((old & PTE_SW_BLOCKREF) && page_slot_ref_count(page_owner_slot(
                                                   pa(pte_oa(old)))) > REF_MAX - 4 * PTE_PER_TABLE)
                    return ERR_BUSY;
                split_count(level + 1, a, next, need);
            }
        }
    }
    return ERR_OK;
}

/*
 * Replace the block at *p (level `level`, first address base) by a table of
 * the next level mapping exactly the same, with the same attributes and the
 * same ownership. A block owning one reference per page hands them to the
 * new entries (no count changes); a block owning one reference on its
 * compound page (PTE_SW_BLOCKREF) gives every new entry one: 511 more on the
 * head (prepare checked they fit). Break-before-make: the block is invalid
 * and invalidated before the table appears. Returns the new table, borrowed.
 */
static struct pt_page split_block(struct pt_op *op, pte_t *p, unsigned level, uint64_t base)
{
    pte_t old = pte_read(p);
    struct pt_page t = pool_take(op, level + 1);
    pte_t *tbl = pt_page_data(t);
    uint64_t csz = pte_level_size(level + 1);
    pte_t d = (old & ~PTE_TYPE_MASK) | (level + 1 == 3 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK);
    if (old & PTE_SW_BLOCKREF) {
        struct meta_slot *head = page_owner_slot(pa(pte_oa(old)));
        page_slot_clone_n(head, PTE_PER_TABLE - 1);
#ifdef TALLY_DEBUG
        for (unsigned i = 1; i < PTE_PER_TABLE; i++)
            page_into_raw_debug(head); /* each new entry holds a raw handle */
#endif
        if (level + 1 == 3)
            d &= ~PTE_SW_BLOCKREF; /* a page entry's one reference is its owner's anyway */
    }
    for (unsigned i = 0; i < PTE_PER_TABLE; i++, d += csz)
        pte_write(&tbl[i], d);
    pt_page_meta(t)->nr_valid = PTE_PER_TABLE;
    pte_write(p, 0);
    batch_tlbi(op, base, level);
    batch_flush(op); /* also makes the new table's entries visible */
    pte_write(p, pte_make_table(pt_page_into_raw(t)));
    op->as->nr_tables++;
    return t;
}

/* Table pages in the subtree of a table entry (it included). */
static uint64_t subtree_tables(pte_t e, unsigned level)
{
    uint64_t n = 1;
    if (level + 1 == 3)
        return n;
    const pte_t *tbl = table_at(pte_oa(e));
    for (unsigned i = 0; i < PTE_PER_TABLE; i++) {
        pte_t c = pte_read(&tbl[i]);
        if (pte_is_valid(c) && pte_is_table(c, level + 1))
            n += subtree_tables(c, level + 1);
    }
    return n;
}

static void unmap_commit(struct pt_op *op, struct pt_page t, unsigned level, uint64_t s, uint64_t e)
{
    pte_t *tbl = pt_page_data(t);
    struct pt_meta *m = pt_page_meta(t);
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t *p = &tbl[pte_index(a, level)];
        pte_t old = pte_read(p);
        if (covers_entry(a, next, level)) {
            pte_write(p, 0);
            m->nr_valid--;
            if (pte_is_table(old, level)) {
                /* A whole subtree goes at once: its leaves span many
                 * addresses, so invalidate the space, then drop the
                 * detached table (which drops everything below it). */
                op->as->nr_tables -= subtree_tables(old, level);
                op->batch.tlbi_all = true;
                batch_drop(op, old, level);
            } else {
                batch_tlbi(op, a, level);
                if (old & PTE_SW_OWNED)
                    batch_drop(op, old, level);
            }
            continue;
        }
        struct pt_page child =
            pte_is_table(old, level)
                ? pt_borrow(old)
                : split_block(op, p, level, ALIGN_DOWN(a, pte_level_size(level)));
        unmap_commit(op, child, level + 1, a, next);
        if (pt_page_meta(child)->nr_valid == 0) {
            /* Empty: unlink, invalidate its walk-cache entries, then drop. */
            pte_t te = pte_read(p);
            pte_write(p, 0);
            m->nr_valid--;
            op->as->nr_tables--;
            batch_tlbi(op, ALIGN_DOWN(a, pte_level_size(level)), level);
            batch_drop(op, te, level);
        }
    }
}

static void protect_commit(struct pt_op *op, struct pt_page t, unsigned level, uint64_t s,
                           uint64_t e)
{
    pte_t *tbl = pt_page_data(t);
    unsigned lo = PTE_PER_TABLE, hi = 0; /* entries parked invalid */
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        unsigned i = pte_index(a, level);
        pte_t old = pte_read(&tbl[i]);
        if (pte_is_table(old, level)) {
            protect_commit(op, pt_borrow(old), level + 1, a, next);
            continue;
        }
        pte_t new = (old & PTE_LEAF_KEEP) | op->leaf_bits;
        if (new == old)
            continue;
        if (!covers_entry(a, next, level)) {
            struct pt_page child =
                split_block(op, &tbl[i], level, ALIGN_DOWN(a, pte_level_size(level)));
            protect_commit(op, child, level + 1, a, next);
            continue;
        }
        /* Break: park the new value in an invalid descriptor; make it valid
         * after the flush below has invalidated the old one. */
        pte_write(&tbl[i], new & ~PTE_VALID);
        batch_tlbi(op, a, level);
        if (i < lo)
            lo = i;
        hi = i + 1;
    }
    if (lo >= hi)
        return;
    batch_flush(op);
    /* Make. Within [lo, hi) every entry was valid before (prepare checked),
     * so the invalid ones are exactly the parked ones. */
    for (unsigned i = lo; i < hi; i++) {
        pte_t v = pte_read(&tbl[i]);
        if (!pte_is_valid(v))
            pte_write(&tbl[i], v | PTE_VALID);
    }
}

static int change_range(struct aspace *as, uint64_t ia, uint64_t size, bool protect, unsigned prot)
{
    int err = check_range(as, ia, size);
    if (err != ERR_OK)
        return err;

    struct pt_op op;
    op_init(&op, as);
    if (protect)
        op.leaf_bits = pt_prot_to_attrs(as->stage, prot);
    uint64_t need[PTE_LEVELS] = {0};

    spin_lock(&as->lock);
    err =
        change_prepare(&op, pt_page_data(as->root), as->start_level, ia, ia + size, protect, need);
    if (err == ERR_OK)
        err = pool_fill(&op, need);
    if (err != ERR_OK) {
        pool_drain(&op);
        spin_unlock(&as->lock);
        return err;
    }
    if (protect) {
        protect_commit(&op, as->root, as->start_level, ia, ia + size);
        arch_pte_sync(); /* the made entries */
    } else {
        unmap_commit(&op, as->root, as->start_level, ia, ia + size);
        batch_flush(&op);
    }
    BUG_ON(need_any(op.pool.count));
    spin_unlock(&as->lock);
    return ERR_OK;
}

int pt_unmap(struct aspace *as, uint64_t ia, uint64_t size)
{
    if (size == PAGE_SIZE && IS_ALIGNED(ia, PAGE_SIZE) && ia < (1ull << as->ia_bits)) {
        int err = unmap_page_fast(as, ia);
        if (err != PT_SLOW)
            return err;
    }
    return change_range(as, ia, size, false, 0);
}

int pt_protect(struct aspace *as, uint64_t ia, uint64_t size, unsigned prot)
{
    int err = check_prot(prot);
    return err != ERR_OK ? err : change_range(as, ia, size, true, prot);
}

int pt_protect_none(struct aspace *as, uint64_t ia, uint64_t size)
{
    if (as->stage != PT_STAGE2)
        return ERR_INVAL;
    return change_range(as, ia, size, true, 0);
}

/* --- lookup and walk ------------------------------------------------------------------ */

/* The leaf mapping ia and its level; ERR_NOENT if none. Caller holds the lock. */
static int lookup_locked(struct aspace *as, uint64_t ia, pte_t *leaf, unsigned *level)
{
    const pte_t *tbl = pt_page_data(as->root);
    for (unsigned l = as->start_level; l < PTE_LEVELS; l++) {
        pte_t e = pte_read(&tbl[pte_index(ia, l)]);
        if (!pte_is_valid(e))
            break;
        if (pte_is_table(e, l)) {
            tbl = table_at(pte_oa(e));
            continue;
        }
        *leaf = e;
        *level = l;
        return ERR_OK;
    }
    *leaf = 0;
    *level = 3;
    return ERR_NOENT;
}

int pt_lookup(struct aspace *as, uint64_t ia, paddr_t *out_pa, unsigned *prot, unsigned *level,
              bool *owned)
{
    if (ia >= (1ull << as->ia_bits))
        return ERR_RANGE;
    pte_t e;
    unsigned l;
    spin_lock(&as->lock);
    int err = lookup_locked(as, ia, &e, &l);
    spin_unlock(&as->lock);
    if (err != ERR_OK)
        return err;
    if (out_pa)
        *out_pa = pa(pte_oa(e) + (ia & (pte_level_size(l) - 1)));
    if (prot)
        *prot = pt_attrs_to_prot(as->stage, e);
    if (level)
        *level = l;
    if (owned)
        *owned = (e & PTE_SW_OWNED) != 0;
    return ERR_OK;
}

/* --- breaking a compound page ---------------------------------------------------------- */

struct break_walk {
    uint64_t ia;   /* where the block is mapped */
    paddr_t pa;    /* the block */
    uint64_t size; /* its bytes */
    uint64_t refs; /* references the entries own on its head */
    uint64_t seen; /* bytes of it the entries map */
    bool commit;   /* second pass: clear PTE_SW_BLOCKREF */
};

static int break_table(pte_t *tbl, unsigned level, uint64_t s, uint64_t e, struct break_walk *w)
{
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t *p = &tbl[pte_index(a, level)];
        pte_t d = pte_read(p);
        if (!pte_is_valid(d))
            return ERR_STATE; /* a page of the block is not mapped here */
        if (pte_is_table(d, level)) {
            int err = break_table(table_at(pte_oa(d)), level + 1, a, next, w);
            if (err != ERR_OK)
                return err;
            continue;
        }
        uint64_t base = ALIGN_DOWN(a, pte_level_size(level));
        /* The leaf lies inside the block's range, owns its pages and maps
         * them where the block's own layout puts them. */
        if (!(d & PTE_SW_OWNED) || base < w->ia || base + pte_level_size(level) > w->ia + w->size ||
            pte_oa(d) != pa_val(w->pa) + (base - w->ia))
            return ERR_STATE;
        if (w->commit) {
            if (d & PTE_SW_BLOCKREF)
                pte_write(p, d & ~PTE_SW_BLOCKREF);
            continue;
        }
        bool one = level == 3 || (d & PTE_SW_BLOCKREF);
        w->refs += one ? 1 : pte_level_size(level) >> PAGE_SHIFT;
        w->seen += pte_level_size(level);
    }
    return ERR_OK;
}

int pt_break_block(struct aspace *as, uint64_t ia)
{
    if (ia >= (1ull << as->ia_bits))
        return ERR_RANGE;
    ia = ALIGN_DOWN(ia, PAGE_SIZE);
    spin_lock(&as->lock);
    pte_t leaf;
    unsigned level;
    int err = lookup_locked(as, ia, &leaf, &level);
    /* The entry's reference keeps the block, and its order, as they are. */
    paddr_t p = pa(pte_oa(leaf) + (ia & (pte_level_size(level) - 1)));
    if (err == ERR_OK && !(leaf & PTE_SW_OWNED))
        err = ERR_STATE;
    if (err != ERR_OK || !page_block_order(p)) {
        spin_unlock(&as->lock);
        return err;
    }
    struct meta_slot *h = page_owner_slot(p);
    paddr_t hp = meta_slot_paddr(h);
    uint64_t off = pa_val(p) - pa_val(hp);
    struct break_walk w = {.ia = ia - off, .pa = hp, .size = PAGE_SIZE << page_block_order(p)};
    if (ia < off || w.size > (1ull << as->ia_bits) - w.ia)
        err = ERR_STATE;
    if (err == ERR_OK)
        err = break_table(pt_page_data(as->root), as->start_level, w.ia, w.ia + w.size, &w);
    if (err == ERR_OK && (w.seen != w.size || w.refs >= REF_MAX))
        err = ERR_STATE;
    /* The entries' references must be all there is. */
    if (err == ERR_OK && !page_block_break(h, (uint32_t)w.refs))
        err = ERR_BUSY;
    if (err == ERR_OK) {
        w.commit = true;
        BUG_ON(break_table(pt_page_data(as->root), as->start_level, w.ia, w.ia + w.size, &w) !=
               ERR_OK);
        arch_pte_sync();
    }
    spin_unlock(&as->lock);
    return err;
}

static int walk_table(struct pt_page t, unsigned level, uint64_t s, uint64_t e,
                      const struct pt_visitor *v, void *ctx)
{
    const pte_t *tbl = pt_page_data(t);
    for (uint64_t a = s, next; a < e; a = next) {
        next = entry_end(a, level, e);
        pte_t d = pte_read(&tbl[pte_index(a, level)]);
        if (!pte_is_valid(d))
            continue;
        struct pt_visit vis = {
            .ia = ALIGN_DOWN(a, pte_level_size(level)), .level = level, .pte = d};
        int err = ERR_OK;
        if (pte_is_table(d, level)) {
            vis.next = pt_borrow(d);
            if (v->table_pre)
                err = v->table_pre(&vis, ctx);
            if (!err)
                err = walk_table(vis.next, level + 1, a, next, v, ctx);
            if (!err && v->table_post)
                err = v->table_post(&vis, ctx);
        } else if (v->leaf) {
            err = v->leaf(&vis, ctx);
        }
        if (err)
            return err;
    }
    return ERR_OK;
}

int pt_walk(struct aspace *as, uint64_t ia, uint64_t size, const struct pt_visitor *v, void *ctx)
{
    int err = check_range(as, ia, size);
    if (err != ERR_OK)
        return err;
    spin_lock(&as->lock);
    err = walk_table(as->root, as->start_level, ia, ia + size, v, ctx);
    spin_unlock(&as->lock);
    return err;
}

/* --- address spaces --------------------------------------------------------------------- */

unsigned pt_start_level(unsigned ia_bits)
{
    if (ia_bits > 39)
        return 0;
    if (ia_bits > 30)
        return 1;
    return 2;
}

int aspace_init(struct aspace *as, enum pt_stage st, unsigned ia_bits, uint16_t vmid,
                uint32_t owner)
{
    if (st != PT_STAGE1_EL2 && st != PT_STAGE2)
        return ERR_INVAL;
    if (ia_bits < PT_IA_BITS_MIN || ia_bits > PT_IA_BITS_MAX)
        return ERR_INVAL;
    unsigned start = pt_start_level(ia_bits);
    int err;
    struct pt_meta m = {
        .stage = (uint8_t)st, .level = (uint8_t)start, .nr_valid = 0, .owner = owner};
    struct pt_page root = pt_page_alloc(m, &err);
    if (err != ERR_OK)
        return err;
    /* from_unused handed it over zeroed (or known to be zero). */
    arch_pte_sync(); /* the empty root, before anyone points a TTBR at it */
    spin_lock_init(&as->lock);
    as->stage = st;
    as->ia_bits = ia_bits;
    as->start_level = start;
    as->vmid = vmid;
    as->owner = owner;
    as->root = root;
    as->nr_tables = 1;
    return ERR_OK;
}

void aspace_destroy(struct aspace *as)
{
    spin_lock(&as->lock);
    /* Nothing may be cached from this tree once its pages can be reused. */
    tlbi_space(as);
    pt_page_drop(as->root);
    as->root.slot = NULL;
    as->nr_tables = 0;
    spin_unlock(&as->lock);
}

paddr_t aspace_root_pa(const struct aspace *as)
{
    return pt_page_paddr(as->root);
}

uint64_t aspace_vttbr(const struct aspace *as)
{
    return pa_val(aspace_root_pa(as)) | ((uint64_t)as->vmid << 48);
}

uint64_t aspace_vtcr_t0sz_sl0(const struct aspace *as)
{
    return (64ull - as->ia_bits) | ((uint64_t)(2 - as->start_level) << 6);
}

uint64_t aspace_tcr_t0sz(const struct aspace *as)
{
    return 64ull - as->ia_bits;
}
