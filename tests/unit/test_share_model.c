// SPDX-License-Identifier: MIT
// Sharing core under random sequences and under concurrency:
//   - model: random share/unshare/lend/reclaim/donate/relinquish/Tally calls
//     and VM rebuilds over three VMs; after every step every invariant of
//     share_fixture.h holds (counts exact, references = mappings, census =
//     frames reached), and a refused call changed nothing at all;
//   - threads: two threads hammer share/unshare and lend/reclaim on
//     overlapping pages of one owner towards two borrowers; at the end the
//     counts and references are exact (run under TSan by make check-tsan).
#include "../host/harness.h"
#include "../host/share_fixture.h"

#include <pthread.h>

#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>

TALLY_SUITE(share_model)

#define PAGES  32
#define WIN(i) (TVM_BORROW_IPA + ((uint64_t)(i) << PAGE_SHIFT))
#define IPA(i) (TVM_RAM_IPA + ((uint64_t)(i) << PAGE_SHIFT))

static struct test_vm a, b, c;
static struct test_vm *const all[] = {&a, &b, &c};
static struct aspace hyp;

static void setup(void)
{
    sim_ram_setup_simple(64);
    test_world_create(all, 3, PAGES, &hyp);
}

static void teardown(void)
{
    /* Every frame and table came back. */
    ck_assert_uint_eq(test_world_destroy(all, 3, &hyp), 0);
    sim_ram_teardown();
}

/*
 * Random indices rarely meet: the borrow window has 40 slots. So half the
 * window operations aim at the window page the last successful give
 * filled, from the VM that received it (a borrower acting as owner,
 * ERR_PERM, or relinquishing), and a quarter of the RAM operations give
 * to that same slot again (ERR_EXIST, or unshare/reclaim of it).
 */
struct last_give {
    int to; /* -1: no give yet */
    uint16_t to_page;
};

static void aim_at_last_give(struct share_op *op, uint64_t r2, const struct last_give *last)
{
    if (last->to < 0)
        return;
    if ((op->page & 0x8000) && (r2 >> 16) % 2) {
        op->from = (uint8_t)last->to;
        op->page = (uint16_t)(0x8000 | last->to_page);
    } else if (!(op->page & 0x8000) && (r2 >> 20) % 4 == 0) {
        op->to = (uint8_t)last->to;
        op->to_page = last->to_page;
    }
}

static void note_give(const struct share_op *op, int err, struct last_give *last)
{
    bool give = op->kind == SOP_SHARE || op->kind == SOP_SHARE_RO || op->kind == SOP_LEND ||
                op->kind == SOP_DONATE;
    if (err == ERR_OK && give && op->to < 3)
        *last = (struct last_give){op->to, op->to_page};
}

START_TEST(test_random_sequences_keep_every_count_exact)
{
    uint64_t seed = test_seed("share_model");
    uint64_t steps = test_iterations("TALLY_SHARE_MODEL_OPS", 4000);
    unsigned ok = 0;
    char msg[256];
    struct last_give last = {-1, 0};
    for (uint64_t i = 0; i < steps; i++) {
        uint64_t r = test_rand(&seed), r2 = test_rand(&seed);
        struct share_op op = {
            .kind = (uint8_t)(r % SOP_COUNT),
            .from = (uint8_t)((r >> 8) % 3),
            .to = (uint8_t)((r >> 16) % 4),
            /* Mostly RAM pages, some past it, some in the window. */
            .page = (uint16_t)(((r >> 24) % 40) | ((r >> 32) % 4 == 0 ? 0x8000 : 0)),
            .to_page = (uint16_t)((r >> 40) % 40),
            .nr = 1 + (r2 % 8 == 0 ? r2 % 40 : r2 % 4),
        };
        aim_at_last_give(&op, r2, &last);
        if (op.kind == SOP_REBUILD && (r2 >> 8) % 8)
            op.kind = SOP_SHARE; /* rebuilds are rarer */
        struct share_snapshot s0, s1;
        share_snapshot(all, 3, &hyp, &s0);
        int err = share_apply(all, 3, &op);
        note_give(&op, err, &last);
        if (!share_invariants(all, 3, &hyp, msg, sizeof(msg)))
            ck_abort_msg("step %lu (kind %u from %u to %u page %#x to_page %u nr %lu -> %d): %s", i,
                         op.kind, op.from, op.to, op.page, op.to_page, op.nr, err, msg);
        if (err != ERR_OK) {
            share_snapshot(all, 3, &hyp, &s1);
            ck_assert_msg(share_snapshot_eq(&s0, &s1), "step %lu: refused call (%d) changed state",
                          i, err);
        } else {
            ok++;
        }
    }
    /* The sequences must reach real states, not only refusals. */
    ck_assert_uint_gt(ok, steps / 20);
}
END_TEST

/* --- an independent model that predicts every result --------------------------------- */

/*
 * The reference: what each VM maps where (RAM pages and borrow-window pages,
 * with prot) and each frame's owner, state, borrower and read-only flag,
 * kept as plain arrays. It predicts every call's code from the checking
 * order in docs/hypercalls.md, applies successful calls, and after every
 * step is compared with the real stage-2 trees, frame metadata, counts and
 * census.
 */
#define MVM     3
#define MWIN    128
#define MFRAMES 4096
#define GONE    (-1)
#define NOBODY  (-2)
#define HYP     (-3)

struct mmap {
    int f; /* frame index, or -1 */
    unsigned prot;
};
struct mvm {
    struct mmap ram[PAGES], win[MWIN];
};
struct mframe {
    paddr_t pa;
    int owner, borrower;
    uint8_t state, ro;
};
static struct mvm mv[MVM];
static struct mframe mf[MFRAMES];
static unsigned nframes;

static void model_vm_fresh(unsigned v)
{
    for (unsigned i = 0; i < MWIN; i++)
        mv[v].win[i].f = -1;
    for (unsigned i = 0; i < PAGES; i++) {
        paddr_t p;
        ck_assert_int_eq(pt_lookup(&all[v]->s2, IPA(i), &p, NULL, NULL, NULL), ERR_OK);
        ck_assert_uint_lt(nframes, MFRAMES);
        mf[nframes] = (struct mframe){.pa = p, .owner = (int)v, .borrower = NOBODY};
        mv[v].ram[i] = (struct mmap){(int)nframes++, PT_R | PT_W | PT_X};
    }
}

/* The model's entry for an IPA of VM v, or NULL if outside RAM and window. */
static struct mmap *mslot(unsigned v, uint64_t ia)
{
    if (ia >= TVM_RAM_IPA && ia < IPA(PAGES))
        return &mv[v].ram[(ia - TVM_RAM_IPA) >> PAGE_SHIFT];
    if (ia >= TVM_BORROW_IPA && ia < WIN(MWIN))
        return &mv[v].win[(ia - TVM_BORROW_IPA) >> PAGE_SHIFT];
    return NULL;
}

static int mframe_at(unsigned v, uint64_t ia)
{
    struct mmap *m = mslot(v, ia);
    return m ? m->f : -1;
}

static int predict(unsigned kind, unsigned from, int to, uint64_t ipa, uint64_t nr, uint64_t to_ipa)
{
    if (nr == 0)
        return ERR_INVAL;
    if (nr > SHARE_MAX_PAGES)
        return ERR_TOOBIG;
    bool give = kind == SOP_SHARE || kind == SOP_SHARE_RO || kind == SOP_LEND || kind == SOP_DONATE;
    if (kind == SOP_RECLAIM_GONE)
        to = -1;
    if (give || kind == SOP_UNSHARE) {
        if (to < 0)
            return ERR_NOVM;
        if ((unsigned)to == from)
            return ERR_SELF;
    }
    if (kind == SOP_RECLAIM && to >= 0 && (unsigned)to == from)
        return ERR_SELF;
    int to_id = to < 0 ? NOBODY : to;
    for (uint64_t i = 0; i < nr; i++) {
        int f = mframe_at(from, ipa + (i << PAGE_SHIFT));
        if (f < 0)
            return ERR_NOENT;
        struct mframe *m = &mf[f];
        if (kind == SOP_RELINQUISH) {
            if (m->owner == (int)from || m->state == FRAME_OWNED || m->borrower != (int)from)
                return ERR_NOTSHARED;
            continue;
        }
        if (m->owner != (int)from)
            return ERR_PERM;
        if (give || kind == SOP_SHARE_HYP) {
            if (m->state == FRAME_SHARED_OWNED)
                return ERR_SHARED;
            if (m->state == FRAME_LENT)
                return ERR_LENT;
        } else if (kind == SOP_UNSHARE || kind == SOP_UNSHARE_HYP) {
            int want = kind == SOP_UNSHARE ? to_id : HYP;
            if (m->state == FRAME_LENT)
                return ERR_LENT;
            if (m->state != FRAME_SHARED_OWNED || m->borrower != want)
                return ERR_NOTSHARED;
            if (kind == SOP_UNSHARE && mframe_at((unsigned)to, to_ipa + (i << PAGE_SHIFT)) != f)
                return ERR_NOTSHARED;
        } else { /* reclaim */
            if (m->state != FRAME_LENT || (m->borrower != NOBODY && m->borrower != to_id))
                return ERR_NOTSHARED;
            if (m->borrower != NOBODY && mframe_at((unsigned)to, to_ipa + (i << PAGE_SHIFT)) != f)
                return ERR_NOTSHARED;
        }
    }
    if (give)
        for (uint64_t i = 0; i < nr; i++)
            if (mframe_at((unsigned)to, to_ipa + (i << PAGE_SHIFT)) >= 0)
                return ERR_EXIST;
    return ERR_OK;
}

static void model_apply(unsigned kind, unsigned from, int to, uint64_t ipa, uint64_t nr,
                        uint64_t to_ipa)
{
    for (uint64_t i = 0; i < nr; i++) {
        struct mmap *src = mslot(from, ipa + (i << PAGE_SHIFT));
        struct mmap *dst = to >= 0 ? mslot((unsigned)to, to_ipa + (i << PAGE_SHIFT)) : NULL;
        struct mframe *m = &mf[src->f];
        switch (kind) {
        case SOP_SHARE:
        case SOP_SHARE_RO:
            *m = (struct mframe){m->pa, (int)from, to, FRAME_SHARED_OWNED, kind == SOP_SHARE_RO};
            *dst = (struct mmap){src->f, kind == SOP_SHARE_RO ? PT_R : PT_R | PT_W};
            break;
        case SOP_UNSHARE:
            *m = (struct mframe){m->pa, (int)from, NOBODY, FRAME_OWNED, 0};
            dst->f = -1;
            break;
        case SOP_LEND:
            *m = (struct mframe){m->pa, (int)from, to, FRAME_LENT, 0};
            *dst = (struct mmap){src->f, PT_R | PT_W};
            src->prot = 0;
            break;
        case SOP_RECLAIM:
        case SOP_RECLAIM_GONE:
            if (m->borrower != NOBODY)
                mslot((unsigned)m->borrower, to_ipa + (i << PAGE_SHIFT))->f = -1;
            *m = (struct mframe){m->pa, (int)from, NOBODY, FRAME_OWNED, 0};
            src->prot = PT_R | PT_W | PT_X;
            break;
        case SOP_DONATE:
            *m = (struct mframe){m->pa, to, NOBODY, FRAME_OWNED, 0};
            *dst = (struct mmap){src->f, PT_R | PT_W | PT_X};
            src->f = -1;
            break;
        case SOP_RELINQUISH:
            if (m->owner != GONE && m->state == FRAME_SHARED_OWNED)
                *m = (struct mframe){m->pa, m->owner, NOBODY, FRAME_OWNED, 0};
            else
                m->borrower = NOBODY; /* lent: waits for reclaim; orphan: dies */
            src->f = -1;
            break;
        case SOP_SHARE_HYP:
            *m = (struct mframe){m->pa, (int)from, HYP, FRAME_SHARED_OWNED, 0};
            break;
        case SOP_UNSHARE_HYP:
            *m = (struct mframe){m->pa, (int)from, NOBODY, FRAME_OWNED, 0};
            break;
        }
    }
}

static void model_teardown(unsigned v)
{
    struct mmap *maps[PAGES + MWIN];
    for (unsigned i = 0; i < PAGES; i++)
        maps[i] = &mv[v].ram[i];
    for (unsigned i = 0; i < MWIN; i++)
        maps[PAGES + i] = &mv[v].win[i];
    for (unsigned k = 0; k < PAGES + MWIN; k++) {
        if (maps[k]->f < 0)
            continue;
        struct mframe *m = &mf[maps[k]->f];
        if (m->owner == (int)v) {
            if (m->borrower == HYP || m->borrower == NOBODY)
                *m = (struct mframe){m->pa, (int)v, NOBODY, FRAME_OWNED, 0};
            else
                m->owner = GONE;
        } else if (m->borrower == (int)v && m->owner != GONE) {
            if (m->state == FRAME_SHARED_OWNED)
                *m = (struct mframe){m->pa, m->owner, NOBODY, FRAME_OWNED, 0};
            else
                m->borrower = NOBODY;
        }
        maps[k]->f = -1;
    }
}

/* Is model frame f mapped by anyone (so alive)? */
static bool model_alive(int f)
{
    for (unsigned v = 0; v < MVM; v++) {
        for (unsigned i = 0; i < PAGES; i++)
            if (mv[v].ram[i].f == f)
                return true;
        for (unsigned i = 0; i < MWIN; i++)
            if (mv[v].win[i].f == f)
                return true;
    }
    return false;
}

static void model_compare(uint64_t step)
{
    struct share_counts want[MVM] = {0};
    uint64_t alive = 0;
    for (unsigned v = 0; v < MVM; v++) {
        for (unsigned k = 0; k < PAGES + MWIN; k++) {
            uint64_t ia = k < PAGES ? IPA(k) : WIN(k - PAGES);
            struct mmap *m = mslot(v, ia);
            paddr_t p;
            unsigned prot;
            int err = pt_lookup(&all[v]->s2, ia, &p, &prot, NULL, NULL);
            if (m->f < 0) {
                ck_assert_msg(err == ERR_NOENT, "step %lu: VM %u maps %#lx, model: nothing", step,
                              v, ia);
                continue;
            }
            ck_assert_msg(err == ERR_OK && pa_val(p) == pa_val(mf[m->f].pa) && prot == m->prot,
                          "step %lu: VM %u at %#lx: %d %#lx prot %#x, model %#lx prot %#x", step, v,
                          ia, err, pa_val(p), prot, pa_val(mf[m->f].pa), m->prot);
        }
    }
    for (unsigned f = 0; f < nframes; f++) {
        if (!model_alive((int)f))
            continue;
        alive++;
        const struct mframe *m = &mf[f];
        const struct frame_meta *fm = &meta_slot(m->pa)->m.frame;
        int owner = fm->owner_vm == FRAME_NO_VM ? GONE : fm->owner_vm;
        int borrower = fm->borrower == FRAME_NO_VM ? NOBODY
                       : fm->borrower == OWNER_HYP ? HYP
                                                   : fm->borrower;
        if (fm->share == FRAME_OWNED)
            borrower = NOBODY;
        ck_assert_msg(owner == m->owner && fm->share == m->state && borrower == m->borrower &&
                          !!(fm->flags & FRAME_F_RO) == m->ro,
                      "step %lu: frame %#lx: owner %d state %u borrower %d ro %u, model %d %u %d "
                      "%u",
                      step, pa_val(m->pa), owner, fm->share, borrower, fm->flags, m->owner,
                      m->state, m->borrower, m->ro);
        if (m->owner >= 0) {
            want[m->owner].owned++;
            want[m->owner].shared += m->state == FRAME_SHARED_OWNED && m->borrower >= 0;
            want[m->owner].lent += m->state == FRAME_LENT;
            want[m->owner].hyp_shared += m->borrower == HYP;
        }
        if (m->borrower >= 0)
            want[m->borrower].borrowed++;
    }
    for (unsigned v = 0; v < MVM; v++) {
        struct share_counts got;
        share_vm_counts(&all[v]->sh, &got);
        ck_assert_msg(!memcmp(&got, &want[v], sizeof(got)), "step %lu: VM %u counts differ", step,
                      v);
    }
    struct page_census cs;
    page_census(&cs);
    ck_assert_uint_eq(cs.by_usage[PAGE_FRAME], alive);
}

START_TEST(test_reference_model_predicts_every_result)
{
    uint64_t seed = test_seed("share_reference_model");
    uint64_t steps = test_iterations("TALLY_SHARE_MODEL_OPS", 4000);
    nframes = 0;
    for (unsigned v = 0; v < MVM; v++)
        model_vm_fresh(v);
    unsigned by_code[32] = {0};
    struct last_give last = {-1, 0};
    for (uint64_t i = 0; i < steps; i++) {
        uint64_t r = test_rand(&seed), r2 = test_rand(&seed);
        struct share_op op = {
            .kind = (uint8_t)(r % SOP_COUNT),
            .from = (uint8_t)((r >> 8) % 3),
            .to = (uint8_t)((r >> 16) % 4),
            .page = (uint16_t)(((r >> 24) % 40) | ((r >> 32) % 4 == 0 ? 0x8000 : 0)),
            .to_page = (uint16_t)((r >> 40) % 40),
            .nr = r2 % 64 == 0   ? SHARE_MAX_PAGES + 1
                  : r2 % 16 == 0 ? 0
                                 : 1 + r2 % 4,
        };
        aim_at_last_give(&op, r2, &last);
        if (op.kind == SOP_REBUILD && (r2 >> 8) % 8)
            op.kind = SOP_SHARE;
        if (nframes + PAGES > MFRAMES && op.kind == SOP_REBUILD)
            op.kind = SOP_SHARE;
        uint64_t ipa = (op.page & 0x8000) ? WIN(op.page & 0xff) : IPA(op.page & 0xff);
        uint64_t to_ipa = WIN(op.to_page & 0xff);
        int to = op.to < 3 ? op.to : -1;
        int want =
            op.kind == SOP_REBUILD ? ERR_OK : predict(op.kind, op.from, to, ipa, op.nr, to_ipa);
        int got = share_apply(all, 3, &op);
        note_give(&op, got, &last);
        ck_assert_msg(got == want,
                      "step %lu: kind %u from %u to %d ipa %#lx nr %lu to_ipa %#lx: %d, "
                      "model %d",
                      i, op.kind, op.from, to, ipa, op.nr, to_ipa, got, want);
        by_code[-got & 31]++;
        if (op.kind == SOP_REBUILD) {
            model_teardown(op.from);
            model_vm_fresh(op.from);
        } else if (got == ERR_OK) {
            model_apply(op.kind, op.from, to, ipa, op.nr, to_ipa);
        }
        model_compare(i);
    }
    /* The sequences reach successes and the main refusals. */
    ck_assert_uint_gt(by_code[0], steps / 20);
    ck_assert_uint_gt(by_code[-ERR_SHARED], 0);
    ck_assert_uint_gt(by_code[-ERR_NOTSHARED], 0);
    ck_assert_uint_gt(by_code[-ERR_EXIST], 0);
    ck_assert_uint_gt(by_code[-ERR_PERM], 0);
}
END_TEST

/* --- two threads on overlapping pages -------------------------------------------------- */

struct worker {
    unsigned cpu;
    struct test_vm *to;
    unsigned first; /* pages [first, first + 4) of A */
    uint64_t iters, done;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    for (uint64_t i = 0; i < w->iters; i++) {
        bool lend = i & 1;
        int err =
            lend ? share_lend(&a.sh, IPA(w->first), 4, &w->to->sh, WIN(0))
                 : share_share(&a.sh, IPA(w->first), 4, &w->to->sh, WIN(0), (i & 2) ? SHARE_RO : 0);
        /* The other thread holds the overlapping pages or it does not. */
        thread_check(err == ERR_OK || err == ERR_SHARED || err == ERR_LENT);
        if (err != ERR_OK)
            continue;
        w->done++;
        err = lend ? share_reclaim(&a.sh, IPA(w->first), 4, &w->to->sh, WIN(0))
                   : share_unshare(&a.sh, IPA(w->first), 4, &w->to->sh, WIN(0));
        thread_check(err == ERR_OK);
    }
    return NULL;
}

START_TEST(test_two_threads_overlapping_share_unshare_exact_at_end)
{
    uint64_t iters = test_iterations("TALLY_STRESS_OPS", 200000) / 20;
    struct worker w[2] = {{.cpu = 0, .to = &b, .first = 0, .iters = iters},
                          {.cpu = 1, .to = &c, .first = 2, .iters = iters}};
    pthread_t t[2];
    thread_checks_reset();
    for (unsigned i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    thread_checks_passed();
    ck_assert_uint_gt(w[0].done + w[1].done, 0);
    char msg[256];
    ck_assert_msg(share_invariants(all, 3, &hyp, msg, sizeof(msg)), "%s", msg);
    struct share_counts ca, cb, cc;
    share_vm_counts(&a.sh, &ca);
    share_vm_counts(&b.sh, &cb);
    share_vm_counts(&c.sh, &cc);
    ck_assert_uint_eq(ca.owned, PAGES);
    ck_assert_uint_eq(ca.shared + ca.lent + cb.borrowed + cc.borrowed, 0);
    for (unsigned i = 0; i < 6; i++) {
        paddr_t p;
        ck_assert_int_eq(pt_lookup(&a.s2, IPA(i), &p, NULL, NULL, NULL), ERR_OK);
        ck_assert_uint_eq(page_slot_ref_count(meta_slot(p)), 1);
        ck_assert_uint_eq(meta_slot(p)->m.frame.share, FRAME_OWNED);
    }
}
END_TEST

Suite *share_model_suite(void)
{
    Suite *s = suite_create("share_model");
    TCase *t = tcase_create("model");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_random_sequences_keep_every_count_exact);
    tcase_add_test(t, test_reference_model_predicts_every_result);
    tcase_add_test(t, test_two_threads_overlapping_share_unshare_exact_at_end);
    suite_add_tcase(s, t);
    return s;
}
