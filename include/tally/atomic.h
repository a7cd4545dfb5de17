/* SPDX-License-Identifier: MIT */
/*
 * The one atomics API of Tally.
 *
 * Every atomic variable is one of the wrapper types below, so a plain load or
 * store of shared state does not compile by accident. Orders are the C11 ones;
 * pass a constant so the back end folds the choice at compile time:
 *
 *   MO_RELAXED  no ordering, only atomicity (counters, clone)
 *   MO_ACQUIRE  later accesses stay after this one (lock, last-drop check)
 *   MO_RELEASE  earlier accesses stay before this one (unlock, drop)
 *   MO_ACQ_REL  both (read-modify-write that publishes and consumes)
 *
 * API (T is u8, u16, u32 or u64):
 *   T    atomic_load_T(const atomic_T *a, enum mem_order o)      RELAXED or ACQUIRE
 *   void atomic_store_T(atomic_T *a, T v, enum mem_order o)      RELAXED or RELEASE
 *   T    atomic_fetch_add_T(atomic_T *a, T v, enum mem_order o)  u16, u32, u64
 *   T    atomic_fetch_sub_T(atomic_T *a, T v, enum mem_order o)  u32, u64
 *   T    atomic_swap_T(atomic_T *a, T v, enum mem_order o)       u32, u64
 *   bool atomic_cas_T(atomic_T *a, T *expected, T desired, enum mem_order o)
 *        u8, u32, u64; on failure *expected gets the value seen. A failed CAS
 *        has the failing load's part of the order only (acquire or relaxed).
 *   void atomic_fence(enum mem_order o)
 *   void atomic_spin_until_u16(const atomic_u16 *a, uint16_t v)
 *        waits, with acquire ordering, until *a == v; on AArch64 it sleeps in
 *        WFE between checks (a store to *a wakes it), on the host it spins.
 *   const char *atomics_backend_name(void)   "lse", "llsc" or "c11"
 *   void atomics_init(void)   choose the AArch64 back end from ID_AA64ISAR0_EL1;
 *                             call once, before any second CPU or thread runs.
 *
 * Back ends: AArch64 LSE (LDADD, CAS, SWP), AArch64 LL/SC (LDAXR/STLXR loops)
 * and host C11 __atomic builtins. On AArch64 the build may force one with
 * -DTALLY_ATOMICS_LSE or -DTALLY_ATOMICS_LLSC; otherwise both are compiled and
 * atomics_init() picks one at start-up.
 */
#ifndef TALLY_ATOMIC_H
#define TALLY_ATOMIC_H

#include <tally/types.h>

enum mem_order { MO_RELAXED, MO_ACQUIRE, MO_RELEASE, MO_ACQ_REL };

typedef struct {
    uint8_t v;
} atomic_u8;
typedef struct {
    uint16_t v;
} __attribute__((aligned(2))) atomic_u16;
typedef struct {
    uint32_t v;
} __attribute__((aligned(4))) atomic_u32;
typedef struct {
    uint64_t v;
} __attribute__((aligned(8))) atomic_u64;

#define ATOMIC_INIT(x)                                                                             \
    {                                                                                              \
        (x)                                                                                        \
    }

#if defined(__aarch64__) && !defined(TALLY_ATOMICS_C11)
#include <tally/arch/aarch64/atomic.h>
#else
#include <tally/arch/host/atomic.h>
#endif

#endif
