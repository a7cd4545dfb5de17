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

START_TEST(test_random_sequences_keep_every_count_exact)
{
    uint64_t seed = test_seed("share_model");
    uint64_t steps = test_iterations("TALLY_SHARE_MODEL_OPS", 4000);
    unsigned ok = 0;
    char msg[256];
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
        if (op.kind == SOP_REBUILD && (r2 >> 8) % 8)
            op.kind = SOP_SHARE; /* rebuilds are rarer */
        struct share_snapshot s0, s1;
        share_snapshot(all, 3, &hyp, &s0);
        int err = share_apply(all, 3, &op);
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
    tcase_add_test(t, test_two_threads_overlapping_share_unshare_exact_at_end);
    suite_add_tcase(s, t);
    return s;
}
