// SPDX-License-Identifier: MIT
/*
 * Concurrency stress of the page tracker (run under ThreadSanitizer by
 * `make check-tsan`): clone/drop/try_clone on shared pages, try_get racing
 * last drops and re-allocation, from_unused racing frees on other CPUs,
 * into_raw/from_raw hand-offs between threads. Counts must be exact at the
 * end: every shared page back at its starting count, every page free.
 */
#include "../host/harness.h"

#include <pthread.h>
#include <stdio.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

TALLY_SUITE(concurrency)

#define THREADS 4
#define SHARED  16
#define RAM_MIB 16

static struct frame shared[SHARED];
static uint64_t iters;

struct worker {
    unsigned cpu;
    uint64_t rng;
    uint64_t got, refused; /* try_get outcomes seen */
};

static void *clone_drop_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    struct frame mine[8];
    for (uint64_t i = 0; i < iters; i++) {
        struct frame f = shared[test_rand(&w->rng) % SHARED];
        unsigned n = 1 + (unsigned)(test_rand(&w->rng) % 8);
        for (unsigned k = 0; k < n; k++) {
            if (k & 1)
                thread_check(frame_try_clone(f, &mine[k]) == ERR_OK);
            else
                mine[k] = frame_clone(f);
        }
        for (unsigned k = 0; k < n; k++)
            frame_drop(mine[k]);
    }
    page_alloc_drain(); /* only a CPU drains its own cache */
    return NULL;
}

START_TEST(test_concurrent_clone_drop_keeps_counts_exact)
{
    sim_ram_setup_simple(RAM_MIB);
    int err;
    for (unsigned i = 0; i < SHARED; i++) {
        shared[i] = frame_alloc((struct frame_meta){.owner_vm = 1}, &err);
        ck_assert_int_eq(err, ERR_OK);
    }
    iters = test_iterations("TALLY_STRESS_OPS", 200000);
    pthread_t t[THREADS];
    thread_checks_reset();
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.cpu = i + 1, .rng = 0x9e3779b97f4a7c15ull * (i + 1)};
        pthread_create(&t[i], NULL, clone_drop_worker, &w[i]);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    thread_checks_passed();
    for (unsigned i = 0; i < SHARED; i++) {
        ck_assert_uint_eq(frame_ref_count(shared[i]), 1);
        frame_drop(shared[i]);
    }
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_MIB * 256);
    sim_ram_teardown();
}
END_TEST

/*
 * Slots that owners build and tear down in a loop while other threads try to
 * take references by address. A try_get may succeed only on a live page of
 * the right usage, and its reference must keep the page alive: the owner's
 * drop is then not the last, and the getter's drop frees it.
 */
static paddr_t hot[THREADS];
static atomic_u32 stop;

static void *owner_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    int err;
    for (uint64_t i = 0; i < iters; i++) {
        struct frame f = frame_alloc((struct frame_meta){.owner_vm = (uint16_t)w->cpu}, &err);
        thread_check(err == ERR_OK);
        /* Relaxed: the address is only a hint for try_get, which validates. */
        __atomic_store_n(&hot[w->cpu - 1].v, pa_val(frame_paddr(f)), __ATOMIC_RELAXED);
        if (test_rand(&w->rng) & 1) {
            struct frame g = frame_clone(f);
            frame_drop(g);
        }
        frame_drop(f);
    }
    page_alloc_drain();
    atomic_fetch_add_u32(&stop, 1, MO_RELEASE);
    return NULL;
}

static void *getter_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    while (atomic_load_u32(&stop, MO_ACQUIRE) < THREADS / 2) {
        unsigned o = (unsigned)(test_rand(&w->rng) % (THREADS / 2));
        paddr_t p = pa(__atomic_load_n(&hot[o].v, __ATOMIC_RELAXED));
        if (!pa_val(p))
            continue;
        struct dyn_page d;
        int err = page_try_get(p, PAGE_FRAME, &d);
        if (err == ERR_OK) {
            struct frame f = {NULL};
            if (!frame_from_dyn(d, &f)) {
                thread_check(!"try_get returned a page that is not a frame");
                dyn_page_drop(d);
                continue;
            }
            thread_check(frame_ref_count(f) >= 1);
            thread_check(frame_ref_count(f) < 8);
            /* The metadata from_unused published (a plain write) must be
             * visible through try_get's acquire: an owner's CPU number,
             * never the zero the last teardown left. Under TSan a weakened
             * release in from_unused is a reported race on this read. */
            uint16_t owner = frame_meta(f)->owner_vm;
            thread_check(owner >= 1 && owner <= THREADS / 2);
            /* Hand the reference through a raw address, as a PTE would. */
            paddr_t raw = frame_into_raw(f);
            frame_drop(frame_from_raw(raw));
            w->got++;
        } else {
            thread_check(err == ERR_STATE);
            w->refused++;
        }
    }
    page_alloc_drain();
    return NULL;
}

START_TEST(test_try_get_never_resurrects_a_page_being_torn_down)
{
    sim_ram_setup_simple(RAM_MIB);
    iters = test_iterations("TALLY_STRESS_OPS", 200000);
    atomic_store_u32(&stop, 0, MO_RELAXED);
    for (unsigned i = 0; i < THREADS; i++)
        hot[i] = pa(0);
    pthread_t t[THREADS];
    thread_checks_reset();
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.cpu = i + 1, .rng = 0x2545f4914f6cdd1dull * (i + 3)};
        pthread_create(&t[i], NULL, i < THREADS / 2 ? owner_worker : getter_worker, &w[i]);
    }
    uint64_t got = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        got += w[i].got;
    }
    thread_checks_passed();
    /* Every page ever built came back; nothing leaked or double-freed. */
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_MIB * 256);
    struct page_census c;
    page_census(&c);
    ck_assert_uint_eq(c.by_usage[PAGE_FRAME], 0);
    ck_assert_uint_eq(c.unused, 0);
    printf("concurrency: try_get took %llu references while pages churned\n",
           (unsigned long long)got);
    sim_ram_teardown();
}
END_TEST

/* Pages freed on one CPU and allocated on another pass through the buddy
 * lists: allocation and last drops race on the lock and the slot states. */
static void *alloc_free_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    struct frame held[64];
    unsigned n = 0;
    int err;
    for (uint64_t i = 0; i < iters; i++) {
        if (n < 64 && (n == 0 || (test_rand(&w->rng) & 1))) {
            held[n] = frame_alloc((struct frame_meta){.owner_vm = (uint16_t)w->cpu}, &err);
            thread_check(err == ERR_OK);
            thread_check(frame_meta(held[n])->owner_vm == w->cpu);
            thread_check(frame_ref_count(held[n]) == 1);
            n++;
        } else {
            frame_drop(held[--n]);
        }
    }
    while (n)
        frame_drop(held[--n]);
    page_alloc_drain();
    return NULL;
}

START_TEST(test_alloc_and_free_on_many_cpus_balance)
{
    sim_ram_setup_simple(RAM_MIB);
    iters = test_iterations("TALLY_STRESS_OPS", 200000);
    pthread_t t[THREADS];
    thread_checks_reset();
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.cpu = i + 1, .rng = 0x853c49e6748fea9bull * (i + 5)};
        pthread_create(&t[i], NULL, alloc_free_worker, &w[i]);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    thread_checks_passed();
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_MIB * 256);
    ck_assert_uint_eq(page_alloc_free_blocks(12), 1);
    sim_ram_teardown();
}
END_TEST

/*
 * Compound pages under fire: owners build a 2 MiB compound frame, map it as
 * one block (one reference), split it by unmapping one page (511 more on the
 * head), unmap the rest and drop it, while getters take references by the
 * address of tail pages. A get must land on the live head of the block that
 * holds the address (or be refused), see its published metadata, and keep it
 * alive: whoever drops last frees the 512 pages whole.
 */
static atomic_u64 hot_tail[THREADS / 2];

static void *block_owner_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    struct aspace as;
    thread_check(aspace_init(&as, PT_STAGE2, 32, (uint16_t)w->cpu, w->cpu) == ERR_OK);
    for (uint64_t i = 0; i < iters; i++) {
        paddr_t p;
        if (page_alloc(9, &p) != ERR_OK)
            continue; /* the other owner holds the last free 2 MiB */
        struct frame c =
            frame_block_from_unused(p, 9, (struct frame_meta){.owner_vm = (uint16_t)w->cpu});
        uint64_t k = 1 + test_rand(&w->rng) % 511;
        atomic_store_u64(&hot_tail[w->cpu - 1], pa_val(p) + k * PAGE_SIZE, MO_RELAXED);
        thread_check(pt_map_frames(&as, 0x40000000, p, 2ull << 20, PT_R | PT_W) == ERR_OK);
        thread_check(pt_unmap(&as, 0x40000000 + k * PAGE_SIZE, PAGE_SIZE) == ERR_OK);
        thread_check(pt_unmap(&as, 0x40000000, k * PAGE_SIZE) == ERR_OK);
        if (k < 511)
            thread_check(pt_unmap(&as, 0x40000000 + (k + 1) * PAGE_SIZE, (511 - k) * PAGE_SIZE) ==
                         ERR_OK);
        frame_drop(c);
    }
    aspace_destroy(&as);
    page_alloc_drain();
    atomic_fetch_add_u32(&stop, 1, MO_RELEASE);
    return NULL;
}

static void *tail_getter_worker(void *arg)
{
    struct worker *w = arg;
    fake_set_cpu(w->cpu);
    while (atomic_load_u32(&stop, MO_ACQUIRE) < THREADS / 2) {
        unsigned o = (unsigned)(test_rand(&w->rng) % (THREADS / 2));
        uint64_t a = atomic_load_u64(&hot_tail[o], MO_RELAXED);
        if (!a)
            continue;
        struct dyn_page d;
        int err = page_try_get(pa(a), PAGE_FRAME, &d);
        if (err != ERR_OK) {
            thread_check(err == ERR_STATE);
            w->refused++;
            continue;
        }
        /* The head of the block holding a, live, with its metadata. */
        uint64_t head = pa_val(dyn_page_paddr(d));
        thread_check(head == ALIGN_DOWN(a, 2ull << 20));
        thread_check(dyn_page_ref_count(d) >= 1);
        uint16_t owner = d.slot->m.frame.owner_vm;
        thread_check(owner >= 1 && owner <= THREADS / 2);
        thread_check(page_block_order(pa(a)) == 9);
        dyn_page_drop(d);
        w->got++;
    }
    page_alloc_drain();
    return NULL;
}

START_TEST(test_block_refs_by_tail_address_race_splits_and_last_drops)
{
    sim_ram_setup_simple(RAM_MIB);
    iters = test_iterations("TALLY_STRESS_OPS", 200000) / 20;
    atomic_store_u32(&stop, 0, MO_RELAXED);
    for (unsigned i = 0; i < THREADS / 2; i++)
        atomic_store_u64(&hot_tail[i], 0, MO_RELAXED);
    pthread_t t[THREADS];
    thread_checks_reset();
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.cpu = i + 1, .rng = 0x9e3779b97f4a7c15ull * (i + 11)};
        pthread_create(&t[i], NULL, i < THREADS / 2 ? block_owner_worker : tail_getter_worker,
                       &w[i]);
    }
    uint64_t got = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        got += w[i].got;
    }
    thread_checks_passed();
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), RAM_MIB * 256);
    struct page_census c;
    page_census(&c);
    ck_assert_uint_eq(c.by_usage[PAGE_FRAME], 0);
    ck_assert_uint_eq(c.by_usage[PAGE_PT], 0);
    ck_assert_uint_eq(page_alloc_free_blocks(12), 1);
    printf("concurrency: %llu references taken by tail address while blocks churned\n",
           (unsigned long long)got);
    sim_ram_teardown();
}
END_TEST

Suite *concurrency_suite(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_concurrent_clone_drop_keeps_counts_exact);
    tcase_add_test(tc, test_try_get_never_resurrects_a_page_being_torn_down);
    tcase_add_test(tc, test_alloc_and_free_on_many_cpus_balance);
    tcase_add_test(tc, test_block_refs_by_tail_address_race_splits_and_last_drops);
    suite_add_tcase(s, tc);
    return s;
}
