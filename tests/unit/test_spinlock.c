// SPDX-License-Identifier: MIT
// The ticket spinlock (<tally/spinlock.h>): state after init, lock and unlock
// (also across the 16-bit ticket wrap), mutual exclusion under threads with a
// plain counter that must come out exact, and waiters served in ticket (FIFO)
// order. Runs on the host (also ASan, TSan) and cross-built under
// qemu-aarch64 with the LSE and LL/SC back ends (the wait is LDAXRH + WFE).
#include "../host/harness.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <tally/spinlock.h>

TALLY_SUITE(spinlock)

/* Relaxed: inspection only; the lock itself or pthread_join orders what the
 * tests compare. */
static uint16_t owner_of(struct spinlock *l)
{
    return atomic_load_u16(&l->owner, MO_RELAXED);
}

static uint16_t next_of(struct spinlock *l)
{
    return atomic_load_u16(&l->next, MO_RELAXED);
}

START_TEST(test_static_and_dynamic_init_give_an_unlocked_lock)
{
    struct spinlock a = SPINLOCK_INIT;
    ck_assert(!spin_is_locked(&a));
    ck_assert_uint_eq(owner_of(&a), 0);
    ck_assert_uint_eq(next_of(&a), 0);

    struct spinlock b;
    memset(&b, 0xff, sizeof(b));
    spin_lock_init(&b);
    ck_assert(!spin_is_locked(&b));
    ck_assert_uint_eq(owner_of(&b), 0);
    ck_assert_uint_eq(next_of(&b), 0);
}
END_TEST

START_TEST(test_lock_and_unlock_move_one_ticket_each)
{
    struct spinlock l = SPINLOCK_INIT;
    for (unsigned i = 0; i < 5; i++) {
        spin_lock(&l);
        ck_assert(spin_is_locked(&l));
        ck_assert_uint_eq(owner_of(&l), i);
        ck_assert_uint_eq(next_of(&l), i + 1);
        spin_unlock(&l);
        ck_assert(!spin_is_locked(&l));
        ck_assert_uint_eq(owner_of(&l), i + 1);
        ck_assert_uint_eq(next_of(&l), i + 1);
    }
}
END_TEST

START_TEST(test_tickets_wrap_around_16_bits)
{
    struct spinlock l;
    atomic_store_u16(&l.owner, 0xfffe, MO_RELAXED);
    atomic_store_u16(&l.next, 0xfffe, MO_RELAXED);
    ck_assert(!spin_is_locked(&l));
    for (unsigned i = 0; i < 4; i++) {
        spin_lock(&l);
        ck_assert(spin_is_locked(&l));
        ck_assert_uint_eq(next_of(&l), (uint16_t)(0xfffe + i + 1));
        spin_unlock(&l);
        ck_assert(!spin_is_locked(&l));
    }
    ck_assert_uint_eq(owner_of(&l), 2);
    ck_assert_uint_eq(next_of(&l), 2);
}
END_TEST

/* --- mutual exclusion ----------------------------------------------------- */

#define MAX_THREADS 4

static struct {
    struct spinlock lock;
    uint64_t iters;
    /* Guarded by lock: plain on purpose, so a broken lock loses updates
     * (and ThreadSanitizer reports the race). */
    uint64_t counter;
    unsigned inside;
    unsigned overlaps;
    uint64_t per_thread[MAX_THREADS];
    pthread_barrier_t start; /* all threads contend from the first lock */
} mx;

static void *mx_worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&mx.start);
    for (uint64_t i = 0; i < mx.iters; i++) {
        spin_lock(&mx.lock);
        mx.overlaps += mx.inside != 0;
        mx.inside++;
        uint64_t c = mx.counter;
        mx.per_thread[id]++;
        mx.counter = c + 1;
        mx.inside--;
        spin_unlock(&mx.lock);
    }
    return NULL;
}

/*
 * On AArch64 the lock waits in WFE, which never gives the CPU to another
 * thread (at EL2 there is one thread per CPU; under qemu-user WFE is a no-op).
 * With more threads than CPUs, the waiter whose ticket is next may have lost
 * its CPU, and each hand-over then costs a whole time slice. So there the
 * test runs at most one thread per CPU; the host back end yields instead.
 */
static unsigned threads_for(unsigned wanted)
{
#if defined(__aarch64__) && !defined(TALLY_ATOMICS_C11)
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 2 && (unsigned long)cpus < wanted)
        return (unsigned)cpus;
#endif
    return wanted;
}

static void run_mutual_exclusion(unsigned wanted)
{
    unsigned nthreads = threads_for(wanted);
    memset(&mx, 0, sizeof(mx));
    spin_lock_init(&mx.lock);
    mx.iters = test_iterations("TALLY_SPINLOCK_OPS", 50000);
    ck_assert_int_eq(pthread_barrier_init(&mx.start, NULL, nthreads), 0);
    pthread_t t[MAX_THREADS];
    for (unsigned i = 0; i < nthreads; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, mx_worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < nthreads; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&mx.start);
    ck_assert_uint_eq(mx.counter, mx.iters * nthreads);
    ck_assert_uint_eq(mx.overlaps, 0);
    ck_assert_uint_eq(mx.inside, 0);
    for (unsigned i = 0; i < nthreads; i++)
        ck_assert_uint_eq(mx.per_thread[i], mx.iters);
    ck_assert(!spin_is_locked(&mx.lock));
    /* Every lock took one ticket and every unlock served one (mod 2^16). */
    ck_assert_uint_eq(next_of(&mx.lock), (uint16_t)(mx.iters * nthreads));
    ck_assert_uint_eq(owner_of(&mx.lock), (uint16_t)(mx.iters * nthreads));
}

START_TEST(test_two_threads_never_overlap_and_count_exactly)
{
    run_mutual_exclusion(2);
}
END_TEST

/* Four threads, or one per CPU on AArch64 (see threads_for()). */
START_TEST(test_many_threads_never_overlap_and_count_exactly)
{
    run_mutual_exclusion(4);
}
END_TEST

/* --- FIFO ------------------------------------------------------------------ */

#define FIFO_WAITERS 3

static struct {
    struct spinlock lock;
    unsigned order[FIFO_WAITERS]; /* guarded by lock */
    unsigned served;              /* guarded by lock */
} fifo;

static void *fifo_waiter(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    spin_lock(&fifo.lock);
    fifo.order[fifo.served++] = id;
    spin_unlock(&fifo.lock);
    return NULL;
}

static void wait_for_next_ticket(struct spinlock *l, uint16_t next)
{
    while (next_of(l) != next)
        sched_yield();
}

/*
 * The main thread holds the lock; waiters are started one at a time, each
 * only after the previous one has taken its ticket, so the ticket order is
 * known. On release they must be served in exactly that order.
 */
START_TEST(test_waiters_are_served_in_ticket_order)
{
    memset(&fifo, 0, sizeof(fifo));
    spin_lock_init(&fifo.lock);
    spin_lock(&fifo.lock);
    pthread_t t[FIFO_WAITERS];
    for (unsigned i = 0; i < FIFO_WAITERS; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, fifo_waiter, (void *)(uintptr_t)i), 0);
        wait_for_next_ticket(&fifo.lock, (uint16_t)(i + 2));
    }
    ck_assert(spin_is_locked(&fifo.lock));
    ck_assert_uint_eq(owner_of(&fifo.lock), 0);
    ck_assert_uint_eq(fifo.served, 0); /* nobody got in while we held it */
    spin_unlock(&fifo.lock);
    for (unsigned i = 0; i < FIFO_WAITERS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_uint_eq(fifo.served, FIFO_WAITERS);
    for (unsigned i = 0; i < FIFO_WAITERS; i++)
        ck_assert_uint_eq(fifo.order[i], i);
    ck_assert(!spin_is_locked(&fifo.lock));
    ck_assert_uint_eq(owner_of(&fifo.lock), FIFO_WAITERS + 1);
}
END_TEST

static void *take_lock_and_exit(void *arg)
{
    struct spinlock *l = arg;
    spin_lock(l);
    return NULL;
}

START_TEST(test_lock_held_by_another_thread_is_seen_locked)
{
    struct spinlock l = SPINLOCK_INIT;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_lock_and_exit, &l), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    /* The other thread took the lock and exited holding it. */
    ck_assert(spin_is_locked(&l));
    ck_assert_uint_eq(owner_of(&l), 0);
    ck_assert_uint_eq(next_of(&l), 1);
    spin_unlock(&l);
    ck_assert(!spin_is_locked(&l));
}
END_TEST

Suite *spinlock_suite(void)
{
    Suite *s = suite_create("spinlock");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, test_static_and_dynamic_init_give_an_unlocked_lock);
    tcase_add_test(tc, test_lock_and_unlock_move_one_ticket_each);
    tcase_add_test(tc, test_tickets_wrap_around_16_bits);
    tcase_add_test(tc, test_lock_held_by_another_thread_is_seen_locked);
    suite_add_tcase(s, tc);

    TCase *mt = tcase_create("threads");
    tcase_set_timeout(mt, 120);
    tcase_add_test(mt, test_two_threads_never_overlap_and_count_exactly);
    tcase_add_test(mt, test_many_threads_never_overlap_and_count_exactly);
    tcase_add_test(mt, test_waiters_are_served_in_ticket_order);
    suite_add_tcase(s, mt);
    return s;
}
