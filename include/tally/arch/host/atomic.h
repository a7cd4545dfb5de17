/* SPDX-License-Identifier: MIT */
/*
 * Host back end of <tally/atomic.h>: C11 __atomic builtins, which
 * ThreadSanitizer understands. Used by host unit tests, fuzzers, benchmarks.
 */
#ifndef TALLY_ARCH_HOST_ATOMIC_H
#define TALLY_ARCH_HOST_ATOMIC_H

#include <sched.h>

static always_inline int atomic__order(enum mem_order o)
{
    switch (o) {
    case MO_ACQUIRE:
        return __ATOMIC_ACQUIRE;
    case MO_RELEASE:
        return __ATOMIC_RELEASE;
    case MO_ACQ_REL:
        return __ATOMIC_ACQ_REL;
    default:
        return __ATOMIC_RELAXED;
    }
}

/* A failed CAS keeps only the load half of the order (C11 forbids release). */
static always_inline int atomic__fail_order(enum mem_order o)
{
    return (o == MO_ACQUIRE || o == MO_ACQ_REL) ? __ATOMIC_ACQUIRE : __ATOMIC_RELAXED;
}

#define ATOMIC__DEFINE_LS(T, W)                                                                    \
    static always_inline W atomic_load_##T(const atomic_##T *a, enum mem_order o)                  \
    {                                                                                              \
        return __atomic_load_n(&a->v, o == MO_ACQUIRE ? __ATOMIC_ACQUIRE : __ATOMIC_RELAXED);      \
    }                                                                                              \
    static always_inline void atomic_store_##T(atomic_##T *a, W v, enum mem_order o)               \
    {                                                                                              \
        __atomic_store_n(&a->v, v, o == MO_RELEASE ? __ATOMIC_RELEASE : __ATOMIC_RELAXED);         \
    }                                                                                              \
    static always_inline bool atomic_cas_##T(atomic_##T *a, W *expected, W desired,                \
                                             enum mem_order o)                                     \
    {                                                                                              \
        return __atomic_compare_exchange_n(&a->v, expected, desired, false, atomic__order(o),      \
                                           atomic__fail_order(o));                                 \
    }

#define ATOMIC__DEFINE_RMW(T, W)                                                                   \
    static always_inline W atomic_fetch_add_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        return __atomic_fetch_add(&a->v, v, atomic__order(o));                                     \
    }                                                                                              \
    static always_inline W atomic_fetch_sub_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        return __atomic_fetch_sub(&a->v, v, atomic__order(o));                                     \
    }                                                                                              \
    static always_inline W atomic_swap_##T(atomic_##T *a, W v, enum mem_order o)                   \
    {                                                                                              \
        return __atomic_exchange_n(&a->v, v, atomic__order(o));                                    \
    }

ATOMIC__DEFINE_LS(u8, uint8_t)
ATOMIC__DEFINE_LS(u16, uint16_t)
ATOMIC__DEFINE_LS(u32, uint32_t)
ATOMIC__DEFINE_LS(u64, uint64_t)
ATOMIC__DEFINE_RMW(u16, uint16_t)
ATOMIC__DEFINE_RMW(u32, uint32_t)
ATOMIC__DEFINE_RMW(u64, uint64_t)

static always_inline void atomic_fence(enum mem_order o)
{
    __atomic_thread_fence(atomic__order(o));
}

/*
 * Host threads get preempted, EL2 CPUs do not: when the thread whose ticket is
 * next has lost its CPU, every other waiter of a ticket lock would spin out
 * its whole time slice (a convoy: minutes for a test with more threads than
 * cores). So after a short spin the waiter yields the CPU.
 */
#define ATOMIC__HOST_SPINS_BEFORE_YIELD 64

static always_inline void atomic_spin_until_u16(const atomic_u16 *a, uint16_t v)
{
    for (unsigned spins = 0; atomic_load_u16(a, MO_ACQUIRE) != v; spins++) {
        if (spins >= ATOMIC__HOST_SPINS_BEFORE_YIELD) {
            sched_yield();
            continue;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static inline const char *atomics_backend_name(void)
{
    return "c11";
}

static inline void atomics_init(void)
{
}

#endif
