// SPDX-License-Identifier: MIT
// The atomics API (<tally/atomic.h>) against its specification, for every
// operation, width and order: return values, wraparound, CAS success and
// failure, neighbours untouched; exact totals from concurrent threads; and the
// back end in use. The same file runs on the host (C11 back end, also under
// ASan and TSan) and cross-built under qemu-aarch64 (LSE and LL/SC).
#include "../host/harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tally/atomic.h>

TALLY_SUITE(atomic)

static const enum mem_order all_orders[] = {MO_RELAXED, MO_ACQUIRE, MO_RELEASE, MO_ACQ_REL};

/*
 * A variable between two guard values: an operation on the middle one must
 * never change its neighbours (a narrow op done with a wide access would).
 */
#define GUARDED(T, W)                                                                              \
    struct guarded_##T {                                                                           \
        W before;                                                                                  \
        atomic_##T a;                                                                              \
        W after;                                                                                   \
    }
GUARDED(u8, uint8_t);
GUARDED(u16, uint16_t);
GUARDED(u32, uint32_t);
GUARDED(u64, uint64_t);

#define CHECK_GUARDS(g, W)                                                                         \
    do {                                                                                           \
        ck_assert_uint_eq((g).before, (W)0xa5a5a5a5a5a5a5a5ull);                                   \
        ck_assert_uint_eq((g).after, (W)0x5a5a5a5a5a5a5a5aull);                                    \
    } while (0)

/* Single-threaded tests run every order to run every instruction variant
 * (no ordering is needed there). Orders are constants in real callers; the
 * switch keeps them constant here too. */
#define EACH_ORDER(var, body)                                                                      \
    for (unsigned oi_ = 0; oi_ < ARRAY_SIZE(all_orders); oi_++) {                                  \
        switch (all_orders[oi_]) {                                                                 \
        case MO_RELAXED: {                                                                         \
            const enum mem_order var = MO_RELAXED;                                                 \
            body;                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        case MO_ACQUIRE: {                                                                         \
            const enum mem_order var = MO_ACQUIRE;                                                 \
            body;                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        case MO_RELEASE: {                                                                         \
            const enum mem_order var = MO_RELEASE;                                                 \
            body;                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        case MO_ACQ_REL: {                                                                         \
            const enum mem_order var = MO_ACQ_REL;                                                 \
            body;                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        }                                                                                          \
    }

/* --- loads and stores --------------------------------------------------- */

#define TEST_LOAD_STORE(T, W, MAX)                                                                 \
    START_TEST(test_load_store_##T##_round_trip_every_order)                                       \
    {                                                                                              \
        static const W vals[] = {0, 1, (W)(MAX / 3), (W)(MAX - 1), MAX};                           \
        struct guarded_##T g;                                                                      \
        g.before = (W)0xa5a5a5a5a5a5a5a5ull;                                                       \
        g.after = (W)0x5a5a5a5a5a5a5a5aull;                                                        \
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {                                          \
            atomic_store_##T(&g.a, vals[i], MO_RELAXED);                                           \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), vals[i]);                         \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_ACQUIRE), vals[i]);                         \
            atomic_store_##T(&g.a, (W)~vals[i], MO_RELEASE);                                       \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_ACQUIRE), (W)~vals[i]);                     \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), (W)~vals[i]);                     \
            CHECK_GUARDS(g, W);                                                                    \
        }                                                                                          \
        static const atomic_##T init = ATOMIC_INIT(MAX);                                           \
        ck_assert_uint_eq(atomic_load_##T(&init, MO_ACQUIRE), MAX);                                \
    }                                                                                              \
    END_TEST

TEST_LOAD_STORE(u8, uint8_t, UINT8_MAX)
TEST_LOAD_STORE(u16, uint16_t, UINT16_MAX)
TEST_LOAD_STORE(u32, uint32_t, UINT32_MAX)
TEST_LOAD_STORE(u64, uint64_t, UINT64_MAX)

/* --- fetch_add, fetch_sub, swap ----------------------------------------- */

#define TEST_RMW(T, W, MAX)                                                                        \
    START_TEST(test_fetch_add_##T##_returns_old_and_wraps)                                         \
    {                                                                                              \
        struct guarded_##T g;                                                                      \
        g.before = (W)0xa5a5a5a5a5a5a5a5ull;                                                       \
        g.after = (W)0x5a5a5a5a5a5a5a5aull;                                                        \
        EACH_ORDER(o, {                                                                            \
            atomic_store_##T(&g.a, 40, MO_RELAXED);                                                \
            ck_assert_uint_eq(atomic_fetch_add_##T(&g.a, 2, o), 40);                               \
            ck_assert_uint_eq(atomic_fetch_add_##T(&g.a, 0, o), 42);                               \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 42);                              \
            atomic_store_##T(&g.a, (W)(MAX - 1), MO_RELAXED);                                      \
            ck_assert_uint_eq(atomic_fetch_add_##T(&g.a, 1, o), (W)(MAX - 1));                     \
            ck_assert_uint_eq(atomic_fetch_add_##T(&g.a, 1, o), MAX);                              \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 0);                               \
            atomic_store_##T(&g.a, 5, MO_RELAXED);                                                 \
            ck_assert_uint_eq(atomic_fetch_add_##T(&g.a, MAX, o), 5); /* + (-1) */                 \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 4);                               \
            CHECK_GUARDS(g, W);                                                                    \
        });                                                                                        \
    }                                                                                              \
    END_TEST                                                                                       \
    START_TEST(test_fetch_sub_##T##_returns_old_and_wraps)                                         \
    {                                                                                              \
        struct guarded_##T g;                                                                      \
        g.before = (W)0xa5a5a5a5a5a5a5a5ull;                                                       \
        g.after = (W)0x5a5a5a5a5a5a5a5aull;                                                        \
        EACH_ORDER(o, {                                                                            \
            atomic_store_##T(&g.a, 42, MO_RELAXED);                                                \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, 2, o), 42);                               \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, 0, o), 40);                               \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 40);                              \
            atomic_store_##T(&g.a, 1, MO_RELAXED);                                                 \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, 1, o), 1);                                \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, 1, o), 0);                                \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), MAX);                             \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, MAX, o), MAX);                            \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 0);                               \
            atomic_store_##T(&g.a, 3, MO_RELAXED);                                                 \
            ck_assert_uint_eq(atomic_fetch_sub_##T(&g.a, MAX, o), 3); /* - (-1) */                 \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 4);                               \
            CHECK_GUARDS(g, W);                                                                    \
        });                                                                                        \
    }                                                                                              \
    END_TEST                                                                                       \
    START_TEST(test_swap_##T##_returns_old_and_stores_new)                                         \
    {                                                                                              \
        struct guarded_##T g;                                                                      \
        g.before = (W)0xa5a5a5a5a5a5a5a5ull;                                                       \
        g.after = (W)0x5a5a5a5a5a5a5a5aull;                                                        \
        EACH_ORDER(o, {                                                                            \
            atomic_store_##T(&g.a, 7, MO_RELAXED);                                                 \
            ck_assert_uint_eq(atomic_swap_##T(&g.a, MAX, o), 7);                                   \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), MAX);                             \
            ck_assert_uint_eq(atomic_swap_##T(&g.a, 0, o), MAX);                                   \
            ck_assert_uint_eq(atomic_swap_##T(&g.a, 0, o), 0);                                     \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 0);                               \
            CHECK_GUARDS(g, W);                                                                    \
        });                                                                                        \
    }                                                                                              \
    END_TEST

TEST_RMW(u16, uint16_t, UINT16_MAX)
TEST_RMW(u32, uint32_t, UINT32_MAX)
TEST_RMW(u64, uint64_t, UINT64_MAX)

/* --- compare-and-swap ----------------------------------------------------- */

/*
 * Success: true, the new value stored, *expected untouched. Failure: false,
 * memory untouched, *expected = the value seen. Values differing only in the
 * top bit (or only in the bottom bit) must not compare equal.
 */
#define TEST_CAS(T, W, MAX)                                                                        \
    START_TEST(test_cas_##T##_success_and_failure_every_order)                                     \
    {                                                                                              \
        struct guarded_##T g;                                                                      \
        g.before = (W)0xa5a5a5a5a5a5a5a5ull;                                                       \
        g.after = (W)0x5a5a5a5a5a5a5a5aull;                                                        \
        const W top = (W)(MAX ^ (MAX >> 1));                                                       \
        EACH_ORDER(o, {                                                                            \
            W exp = 9;                                                                             \
            atomic_store_##T(&g.a, 9, MO_RELAXED);                                                 \
            ck_assert(atomic_cas_##T(&g.a, &exp, MAX, o));                                         \
            ck_assert_uint_eq(exp, 9);                                                             \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), MAX);                             \
                                                                                                   \
            exp = 9;                                                                               \
            ck_assert(!atomic_cas_##T(&g.a, &exp, 1, o));                                          \
            ck_assert_uint_eq(exp, MAX);                                                           \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), MAX);                             \
            /* the failed CAS handed back what is there: retrying succeeds */                      \
            ck_assert(atomic_cas_##T(&g.a, &exp, 0, o));                                           \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), 0);                               \
                                                                                                   \
            exp = top;                                                                             \
            ck_assert(!atomic_cas_##T(&g.a, &exp, 5, o));                                          \
            ck_assert_uint_eq(exp, 0);                                                             \
            atomic_store_##T(&g.a, top, MO_RELAXED);                                               \
            exp = (W)(top | 1);                                                                    \
            ck_assert(!atomic_cas_##T(&g.a, &exp, 5, o));                                          \
            ck_assert_uint_eq(exp, top);                                                           \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), top);                             \
                                                                                                   \
            exp = top;                                                                             \
            ck_assert(atomic_cas_##T(&g.a, &exp, top, o)); /* same value: still success */         \
            ck_assert_uint_eq(atomic_load_##T(&g.a, MO_RELAXED), top);                             \
            CHECK_GUARDS(g, W);                                                                    \
        });                                                                                        \
    }                                                                                              \
    END_TEST

TEST_CAS(u8, uint8_t, UINT8_MAX)
TEST_CAS(u16, uint16_t, UINT16_MAX)
TEST_CAS(u32, uint32_t, UINT32_MAX)
TEST_CAS(u64, uint64_t, UINT64_MAX)

/* --- fences and waiting -------------------------------------------------- */

START_TEST(test_spin_until_returns_at_once_when_value_is_there)
{
    atomic_u16 x = ATOMIC_INIT(0xfffe);
    atomic_spin_until_u16(&x, 0xfffe);
    ck_assert_uint_eq(atomic_load_u16(&x, MO_RELAXED), 0xfffe);
}
END_TEST

/*
 * Message passing: the writer fills a plain payload, then publishes a
 * sequence number (release store, or release/acq_rel fence + relaxed store);
 * the reader waits for it (acquire wait, or relaxed loads + acquire/acq_rel
 * fence) and must see the whole payload of that round.
 */
#define MP_WORDS 16
struct mp {
    atomic_u16 seq;
    atomic_u16 ack;
    uint64_t payload[MP_WORDS];
    bool use_fences;
    unsigned rounds;
    unsigned bad;
};

static void *mp_reader(void *arg)
{
    struct mp *m = arg;
    for (unsigned r = 1; r <= m->rounds; r++) {
        if (m->use_fences) {
            while (atomic_load_u16(&m->seq, MO_RELAXED) != (uint16_t)r)
                ;
            /* Acquire (odd rounds) or acq_rel fence: pairs with the
             * writer's fence of the same round. */
            if (r & 1)
                atomic_fence(MO_ACQUIRE);
            else
                atomic_fence(MO_ACQ_REL);
        } else {
            /* Acquire wait: pairs with the writer's release store of seq. */
            atomic_spin_until_u16(&m->seq, (uint16_t)r);
        }
        for (unsigned i = 0; i < MP_WORDS; i++)
            m->bad += m->payload[i] != (uint64_t)r * 1000 + i;
        /* Release: our reads of the payload happen before the next round's
         * writes (pairs with the writer's acquire wait on ack). */
        atomic_store_u16(&m->ack, (uint16_t)r, MO_RELEASE);
    }
    return NULL;
}

static void run_message_passing(bool use_fences, unsigned rounds)
{
    static struct mp m;
    memset(&m, 0, sizeof(m));
    m.use_fences = use_fences;
    m.rounds = rounds;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, mp_reader, &m), 0);
    for (unsigned r = 1; r <= rounds; r++) {
        for (unsigned i = 0; i < MP_WORDS; i++)
            m.payload[i] = (uint64_t)r * 1000 + i;
        if (use_fences) {
            /* Release (odd rounds) or acq_rel fence: pairs with the
             * reader's fence of the same round. */
            if (r & 1)
                atomic_fence(MO_RELEASE);
            else
                atomic_fence(MO_ACQ_REL);
            atomic_store_u16(&m.seq, (uint16_t)r, MO_RELAXED);
        } else {
            /* Release: pairs with the reader's acquire wait. */
            atomic_store_u16(&m.seq, (uint16_t)r, MO_RELEASE);
        }
        /* Acquire: pairs with the reader's release store of ack. */
        atomic_spin_until_u16(&m.ack, (uint16_t)r);
    }
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(m.bad, 0);
    ck_assert_uint_eq(atomic_load_u16(&m.ack, MO_RELAXED), (uint16_t)rounds);
}

START_TEST(test_release_store_acquire_wait_pass_a_message)
{
    run_message_passing(false, (unsigned)test_iterations("TALLY_ATOMIC_ROUNDS", 20000));
}
END_TEST

/* ThreadSanitizer does not model stand-alone fences, so it would report the
 * fence-ordered payload as a race; the fence pairing is tested elsewhere. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ATOMIC_TESTS_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ATOMIC_TESTS_UNDER_TSAN 1
#endif

#ifndef ATOMIC_TESTS_UNDER_TSAN
START_TEST(test_release_fence_acquire_fence_pass_a_message)
{
    run_message_passing(true, (unsigned)test_iterations("TALLY_ATOMIC_ROUNDS", 20000));
}
END_TEST
#endif

/* --- concurrent counters -------------------------------------------------- */

#define NTHREADS 4

static struct {
    atomic_u64 add64, sub64, cas64, swap64;
    atomic_u32 add32, sub32, cas32;
    atomic_u16 add16, cas16;
    atomic_u8 cas8;
    uint64_t iters;
    uint64_t swap_sum[NTHREADS]; /* per thread: every value swap handed back */
} ctr;

static void *counter_worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t got = 0;
    for (uint64_t i = 0; i < ctr.iters; i++) {
        /* Only the final totals matter, read after pthread_join (which
         * orders everything): the orders differ only to run every variant. */
        atomic_fetch_add_u64(&ctr.add64, 3, MO_RELAXED);
        atomic_fetch_add_u32(&ctr.add32, 1, MO_ACQ_REL);
        atomic_fetch_add_u16(&ctr.add16, 1, MO_RELEASE);
        atomic_fetch_sub_u64(&ctr.sub64, 2, MO_RELEASE);
        atomic_fetch_sub_u32(&ctr.sub32, 1, MO_ACQUIRE);

        uint64_t e64 = atomic_load_u64(&ctr.cas64, MO_RELAXED);
        while (!atomic_cas_u64(&ctr.cas64, &e64, e64 + 1, MO_RELAXED))
            ;
        uint32_t e32 = atomic_load_u32(&ctr.cas32, MO_RELAXED);
        while (!atomic_cas_u32(&ctr.cas32, &e32, e32 + 1, MO_ACQ_REL))
            ;
        uint16_t e16 = atomic_load_u16(&ctr.cas16, MO_RELAXED);
        while (!atomic_cas_u16(&ctr.cas16, &e16, (uint16_t)(e16 + 1), MO_ACQUIRE))
            ;
        uint8_t e8 = atomic_load_u8(&ctr.cas8, MO_RELAXED);
        while (!atomic_cas_u8(&ctr.cas8, &e8, (uint8_t)(e8 + 1), MO_RELEASE))
            ;

        /* Each value put in by a swap comes out exactly once (by a later
         * swap or the final load): the sums must balance. */
        got += atomic_swap_u64(&ctr.swap64, ((uint64_t)id << 32) + i + 1, MO_ACQ_REL);
    }
    ctr.swap_sum[id] = got;
    return NULL;
}

START_TEST(test_concurrent_counters_reach_exact_totals)
{
    memset(&ctr, 0, sizeof(ctr));
    ctr.iters = test_iterations("TALLY_ATOMIC_OPS", 100000);
    const uint64_t n = ctr.iters * NTHREADS;
    atomic_store_u64(&ctr.sub64, 2 * n + 11, MO_RELAXED);
    atomic_store_u32(&ctr.sub32, 0, MO_RELAXED); /* wraps below zero */

    pthread_t t[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, counter_worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);

    ck_assert_uint_eq(atomic_load_u64(&ctr.add64, MO_RELAXED), 3 * n);
    ck_assert_uint_eq(atomic_load_u32(&ctr.add32, MO_RELAXED), (uint32_t)n);
    ck_assert_uint_eq(atomic_load_u16(&ctr.add16, MO_RELAXED), (uint16_t)n);
    ck_assert_uint_eq(atomic_load_u64(&ctr.sub64, MO_RELAXED), 11);
    ck_assert_uint_eq(atomic_load_u32(&ctr.sub32, MO_RELAXED), (uint32_t)(0 - n));
    ck_assert_uint_eq(atomic_load_u64(&ctr.cas64, MO_RELAXED), n);
    ck_assert_uint_eq(atomic_load_u32(&ctr.cas32, MO_RELAXED), (uint32_t)n);
    ck_assert_uint_eq(atomic_load_u16(&ctr.cas16, MO_RELAXED), (uint16_t)n);
    ck_assert_uint_eq(atomic_load_u8(&ctr.cas8, MO_RELAXED), (uint8_t)n);

    uint64_t in = 0, out = atomic_load_u64(&ctr.swap64, MO_RELAXED);
    for (unsigned id = 0; id < NTHREADS; id++) {
        in += ((uint64_t)id << 32) * ctr.iters + ctr.iters * (ctr.iters + 1) / 2;
        out += ctr.swap_sum[id];
    }
    ck_assert_uint_eq(out, in);
}
END_TEST

/* --- back end ------------------------------------------------------------- */

START_TEST(test_backend_is_the_expected_one)
{
    const char *name = atomics_backend_name();
#if defined(__aarch64__) && !defined(TALLY_ATOMICS_C11)
#if defined(TALLY_ATOMICS_LSE)
    ck_assert_str_eq(name, "lse");
#elif defined(TALLY_ATOMICS_LLSC)
    ck_assert_str_eq(name, "llsc");
#else
    /* Auto: what ID_AA64ISAR0_EL1 says, and atomics_init() already ran. */
    ck_assert_str_eq(name, atomic__cpu_has_lse() ? "lse" : "llsc");
#endif
#else
    ck_assert_str_eq(name, "c11");
#endif
    /* The cross runs say what the CPU model must give ("lse" under -cpu max,
     * "llsc" under -cpu cortex-a72). */
    const char *want = getenv("TALLY_EXPECT_ATOMICS");
    if (want && *want)
        ck_assert_str_eq(name, want);
}
END_TEST

Suite *atomic_suite(void)
{
    Suite *s = suite_create("atomic");
    TCase *tc = tcase_create("semantics");
    tcase_add_test(tc, test_load_store_u8_round_trip_every_order);
    tcase_add_test(tc, test_load_store_u16_round_trip_every_order);
    tcase_add_test(tc, test_load_store_u32_round_trip_every_order);
    tcase_add_test(tc, test_load_store_u64_round_trip_every_order);
    tcase_add_test(tc, test_fetch_add_u16_returns_old_and_wraps);
    tcase_add_test(tc, test_fetch_add_u32_returns_old_and_wraps);
    tcase_add_test(tc, test_fetch_add_u64_returns_old_and_wraps);
    tcase_add_test(tc, test_fetch_sub_u16_returns_old_and_wraps);
    tcase_add_test(tc, test_fetch_sub_u32_returns_old_and_wraps);
    tcase_add_test(tc, test_fetch_sub_u64_returns_old_and_wraps);
    tcase_add_test(tc, test_swap_u16_returns_old_and_stores_new);
    tcase_add_test(tc, test_swap_u32_returns_old_and_stores_new);
    tcase_add_test(tc, test_swap_u64_returns_old_and_stores_new);
    tcase_add_test(tc, test_cas_u8_success_and_failure_every_order);
    tcase_add_test(tc, test_cas_u16_success_and_failure_every_order);
    tcase_add_test(tc, test_cas_u32_success_and_failure_every_order);
    tcase_add_test(tc, test_cas_u64_success_and_failure_every_order);
    tcase_add_test(tc, test_spin_until_returns_at_once_when_value_is_there);
    tcase_add_test(tc, test_backend_is_the_expected_one);
    suite_add_tcase(s, tc);

    TCase *mt = tcase_create("threads");
    tcase_set_timeout(mt, 120);
    tcase_add_test(mt, test_release_store_acquire_wait_pass_a_message);
#ifndef ATOMIC_TESTS_UNDER_TSAN
    tcase_add_test(mt, test_release_fence_acquire_fence_pass_a_message);
#endif
    tcase_add_test(mt, test_concurrent_counters_reach_exact_totals);
    suite_add_tcase(s, mt);
    return s;
}
