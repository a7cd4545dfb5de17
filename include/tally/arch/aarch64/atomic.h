/* SPDX-License-Identifier: MIT */
/*
 * AArch64 back ends of <tally/atomic.h>: LSE and LL/SC, in inline assembly.
 *
 *   LSE    one instruction per read-modify-write: LDADD*, SWP*, CAS* (ARMv8.1).
 *   LL/SC  LDXR/LDAXR + STXR/STLXR retry loops (ARMv8.0; Cortex-A72 has no LSE).
 *
 * Selection:
 *   -DTALLY_ATOMICS_LSE   only the LSE code is compiled; atomics_init() panics
 *                         on a CPU without LSE instead of dying on an UNDEF.
 *   -DTALLY_ATOMICS_LLSC  only the LL/SC code is compiled; runs on every CPU.
 *   neither               both are compiled in and every read-modify-write
 *                         tests `atomics_have_lse` (one load and one branch),
 *                         which atomics_init() sets from ID_AA64ISAR0_EL1.
 *
 * Orders map to the weakest instruction that gives them, never stronger:
 *
 *   order       LSE RMW     LL/SC RMW        load   store  fence
 *   RELAXED     LDADD       LDXR  / STXR     LDR    STR    (nothing)
 *   ACQUIRE     LDADDA      LDAXR / STXR     LDAR   -      DMB ISHLD
 *   RELEASE     LDADDL      LDXR  / STLXR    -      STLR   DMB ISH
 *   ACQ_REL     LDADDAL     LDAXR / STLXR    -      -      DMB ISH
 *
 * A failed CAS stores nothing, so it has only the load's half of the order:
 * CASA/CASAL and LDAXR give acquire on failure, CAS/CASL and LDXR none.
 *
 * Ordered operations clobber "memory" so the compiler keeps other accesses on
 * the right side of them; relaxed ones do not (only the atomic location is an
 * operand), so the compiler may move unrelated accesses across, as C11 allows.
 *
 * The LSE mnemonics need ARMv8.1; `.arch_extension lse` in each LSE asm lets
 * the file build with the default -march=armv8-a. Build every AArch64 file
 * with -mno-outline-atomics so GCC never calls libgcc's __aarch64_* helpers
 * (they read a flag set up by libc, which EL2 does not have).
 */
#ifndef TALLY_ARCH_AARCH64_ATOMIC_H
#define TALLY_ARCH_AARCH64_ATOMIC_H

#include <tally/panic.h>

#if defined(TALLY_ATOMICS_LSE) && defined(TALLY_ATOMICS_LLSC)
#error "TALLY_ATOMICS_LSE and TALLY_ATOMICS_LLSC are exclusive"
#endif

#if !defined(TALLY_ATOMICS_LSE) && !defined(TALLY_ATOMICS_LLSC)
/* Both back ends compiled in; mm/atomics.c defines the selector. Hidden, so
 * even position-independent code reaches it with ADRP+LDRB, not via the GOT. */
#define TALLY_ATOMICS_RUNTIME_SELECT 1
extern bool atomics_have_lse __attribute__((visibility("hidden")));
#endif

/*
 * Clobber lists by kind: `rlx` for relaxed operations, `ord` for ordered ones;
 * the _cc forms for sequences that compare (and so change the flags).
 */
#define ATOMIC__CLOB_rlx
#define ATOMIC__CLOB_ord    "memory"
#define ATOMIC__CLOB_CC_rlx "cc"
#define ATOMIC__CLOB_CC_ord "cc", "memory"

/*
 * Expand ONE(acquire-suffix, release-suffix, clobber-kind, ...) for the order
 * o, a compile-time constant in every caller (the functions are always
 * inlined), so the switch folds to a single asm. The suffixes build the
 * mnemonics: LSE "ldadd" A L "h" -> ldaddalh; LL/SC "ld" A "xr", "st" L "xr".
 */
#define ATOMIC__BY_ORDER(o, ONE, ...)                                                              \
    do {                                                                                           \
        switch (o) {                                                                               \
        case MO_ACQUIRE:                                                                           \
            ONE("a", "", ord, __VA_ARGS__);                                                        \
            break;                                                                                 \
        case MO_RELEASE:                                                                           \
            ONE("", "l", ord, __VA_ARGS__);                                                        \
            break;                                                                                 \
        case MO_ACQ_REL:                                                                           \
            ONE("a", "l", ord, __VA_ARGS__);                                                       \
            break;                                                                                 \
        default:                                                                                   \
            ONE("", "", rlx, __VA_ARGS__);                                                         \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/*
 * Per width: T the type tag, W the value type, RT the register type (W zero-
 * extended, so comparisons of narrow values see clean upper bits), SZ the
 * mnemonic size suffix, R the register modifier ("w" or "x").
 */

/* --- loads and stores (same for both back ends) ------------------------- */

/*
 * Relaxed: a volatile access of a naturally aligned object is one LDR/STR of
 * that width, which is single-copy atomic. Acquire/release: LDAR/STLR.
 */
#define ATOMIC__DEFINE_LS(T, W, RT, SZ, R)                                                         \
    static always_inline W atomic_load_##T(const atomic_##T *a, enum mem_order o)                  \
    {                                                                                              \
        RT v;                                                                                      \
        if (o != MO_ACQUIRE)                                                                       \
            return *(const volatile W *)&a->v;                                                     \
        asm volatile("ldar" SZ " %" R "[v], %[mem]" : [v] "=r"(v) : [mem] "Q"(a->v) : "memory");   \
        return (W)v;                                                                               \
    }                                                                                              \
    static always_inline void atomic_store_##T(atomic_##T *a, W v, enum mem_order o)               \
    {                                                                                              \
        if (o != MO_RELEASE) {                                                                     \
            *(volatile W *)&a->v = v;                                                              \
            return;                                                                                \
        }                                                                                          \
        asm volatile("stlr" SZ " %" R "[v], %[mem]"                                                \
                     : [mem] "=Q"(a->v)                                                            \
                     : [v] "r"((RT)v)                                                              \
                     : "memory");                                                                  \
    }

ATOMIC__DEFINE_LS(u8, uint8_t, uint32_t, "b", "w")
ATOMIC__DEFINE_LS(u16, uint16_t, uint32_t, "h", "w")
ATOMIC__DEFINE_LS(u32, uint32_t, uint32_t, "", "w")
ATOMIC__DEFINE_LS(u64, uint64_t, uint64_t, "", "x")

/* --- LSE ----------------------------------------------------------------- */
#if !defined(TALLY_ATOMICS_LLSC)

/* LDADD/SWP Rs, Rt, [Xn]: Rt = old value, memory = old + Rs (or Rs). */
#define ATOMIC__LSE_RMW_ONE(A, L, K, MN, SZ, R, PTR, VAL, OLD)                                     \
    asm volatile(".arch_extension lse\n\t" MN A L SZ " %" R "[val], %" R "[old], %[mem]"           \
                 : [old] "=r"(OLD), [mem] "+Q"((PTR)->v)                                           \
                 : [val] "r"(VAL)                                                                  \
                 : ATOMIC__CLOB_##K)

/* CAS Rs, Rt, [Xn]: compares memory with Rs, stores Rt if equal; Rs = old. */
#define ATOMIC__LSE_CAS_ONE(A, L, K, SZ, R, PTR, OLD, NEW)                                         \
    asm volatile(".arch_extension lse\n\t"                                                         \
                 "cas" A L SZ " %" R "[old], %" R "[new], %[mem]"                                  \
                 : [old] "+r"(OLD), [mem] "+Q"((PTR)->v)                                           \
                 : [new] "r"(NEW)                                                                  \
                 : ATOMIC__CLOB_##K)

#define ATOMIC__DEFINE_LSE_RMW(T, W, RT, SZ, R)                                                    \
    static always_inline W atomic__lse_add_##T(atomic_##T *a, W v, enum mem_order o)               \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LSE_RMW_ONE, "ldadd", SZ, R, a, (RT)v, old);                   \
        return (W)old;                                                                             \
    }                                                                                              \
    static always_inline W atomic__lse_swap_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LSE_RMW_ONE, "swp", SZ, R, a, (RT)v, old);                     \
        return (W)old;                                                                             \
    }

#define ATOMIC__DEFINE_LSE_CAS(T, W, RT, SZ, R)                                                    \
    static always_inline bool atomic__lse_cas_##T(atomic_##T *a, W *expected, W desired,           \
                                                  enum mem_order o)                                \
    {                                                                                              \
        RT old = *expected;                                                                        \
        ATOMIC__BY_ORDER(o, ATOMIC__LSE_CAS_ONE, SZ, R, a, old, (RT)desired);                      \
        if ((W)old == *expected)                                                                   \
            return true;                                                                           \
        *expected = (W)old;                                                                        \
        return false;                                                                              \
    }

ATOMIC__DEFINE_LSE_RMW(u16, uint16_t, uint32_t, "h", "w")
ATOMIC__DEFINE_LSE_RMW(u32, uint32_t, uint32_t, "", "w")
ATOMIC__DEFINE_LSE_RMW(u64, uint64_t, uint64_t, "", "x")
ATOMIC__DEFINE_LSE_CAS(u8, uint8_t, uint32_t, "b", "w")
ATOMIC__DEFINE_LSE_CAS(u16, uint16_t, uint32_t, "h", "w")
ATOMIC__DEFINE_LSE_CAS(u32, uint32_t, uint32_t, "", "w")
ATOMIC__DEFINE_LSE_CAS(u64, uint64_t, uint64_t, "", "x")

#endif /* !TALLY_ATOMICS_LLSC */

/* --- LL/SC --------------------------------------------------------------- */
#if !defined(TALLY_ATOMICS_LSE)

/*
 * old = LD[A]XR [mem]; new = old OP val; ST[L]XR until the exclusive store
 * succeeds. The status register must differ from the data and address
 * registers (else CONSTRAINED UNPREDICTABLE): every output is early-clobber.
 */
#define ATOMIC__LLSC_OP_ONE(A, L, K, OP, SZ, R, PTR, VAL, OLD)                                     \
    do {                                                                                           \
        __typeof__(OLD) tmp_new;                                                                   \
        uint32_t tmp_fail;                                                                         \
        asm volatile(                                                                              \
            "1: ld" A "xr" SZ " %" R "[old], %[mem]\n\t" OP " %" R "[new], %" R "[old], %" R       \
            "[val]\n\t"                                                                            \
            "st" L "xr" SZ " %w[fail], %" R "[new], %[mem]\n\t"                                    \
            "cbnz %w[fail], 1b"                                                                    \
            : [old] "=&r"(OLD), [new] "=&r"(tmp_new), [fail] "=&r"(tmp_fail), [mem] "+Q"((PTR)->v) \
            : [val] "r"(VAL)                                                                       \
            : ATOMIC__CLOB_##K);                                                                   \
    } while (0)

#define ATOMIC__LLSC_SWAP_ONE(A, L, K, SZ, R, PTR, VAL, OLD)                                       \
    do {                                                                                           \
        uint32_t tmp_fail;                                                                         \
        asm volatile("1: ld" A "xr" SZ " %" R "[old], %[mem]\n\t"                                  \
                     "st" L "xr" SZ " %w[fail], %" R "[val], %[mem]\n\t"                           \
                     "cbnz %w[fail], 1b"                                                           \
                     : [old] "=&r"(OLD), [fail] "=&r"(tmp_fail), [mem] "+Q"((PTR)->v)              \
                     : [val] "r"(VAL)                                                              \
                     : ATOMIC__CLOB_##K);                                                          \
    } while (0)

/* Exits at 2: with old != expected (nothing stored) or after the store. */
#define ATOMIC__LLSC_CAS_ONE(A, L, K, SZ, R, PTR, EXP, NEW, OLD)                                   \
    do {                                                                                           \
        uint32_t tmp_fail;                                                                         \
        asm volatile("1: ld" A "xr" SZ " %" R "[old], %[mem]\n\t"                                  \
                     "cmp %" R "[old], %" R "[exp]\n\t"                                            \
                     "b.ne 2f\n\t"                                                                 \
                     "st" L "xr" SZ " %w[fail], %" R "[new], %[mem]\n\t"                           \
                     "cbnz %w[fail], 1b\n"                                                         \
                     "2:"                                                                          \
                     : [old] "=&r"(OLD), [fail] "=&r"(tmp_fail), [mem] "+Q"((PTR)->v)              \
                     : [exp] "r"(EXP), [new] "r"(NEW)                                              \
                     : ATOMIC__CLOB_CC_##K);                                                       \
    } while (0)

#define ATOMIC__DEFINE_LLSC_RMW(T, W, RT, SZ, R)                                                   \
    static always_inline W atomic__llsc_add_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LLSC_OP_ONE, "add", SZ, R, a, (RT)v, old);                     \
        return (W)old;                                                                             \
    }                                                                                              \
    static always_inline W atomic__llsc_sub_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LLSC_OP_ONE, "sub", SZ, R, a, (RT)v, old);                     \
        return (W)old;                                                                             \
    }                                                                                              \
    static always_inline W atomic__llsc_swap_##T(atomic_##T *a, W v, enum mem_order o)             \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LLSC_SWAP_ONE, SZ, R, a, (RT)v, old);                          \
        return (W)old;                                                                             \
    }

#define ATOMIC__DEFINE_LLSC_CAS(T, W, RT, SZ, R)                                                   \
    static always_inline bool atomic__llsc_cas_##T(atomic_##T *a, W *expected, W desired,          \
                                                   enum mem_order o)                               \
    {                                                                                              \
        RT old;                                                                                    \
        ATOMIC__BY_ORDER(o, ATOMIC__LLSC_CAS_ONE, SZ, R, a, (RT)*expected, (RT)desired, old);      \
        if ((W)old == *expected)                                                                   \
            return true;                                                                           \
        *expected = (W)old;                                                                        \
        return false;                                                                              \
    }

ATOMIC__DEFINE_LLSC_RMW(u16, uint16_t, uint32_t, "h", "w")
ATOMIC__DEFINE_LLSC_RMW(u32, uint32_t, uint32_t, "", "w")
ATOMIC__DEFINE_LLSC_RMW(u64, uint64_t, uint64_t, "", "x")
ATOMIC__DEFINE_LLSC_CAS(u8, uint8_t, uint32_t, "b", "w")
ATOMIC__DEFINE_LLSC_CAS(u16, uint16_t, uint32_t, "h", "w")
ATOMIC__DEFINE_LLSC_CAS(u32, uint32_t, uint32_t, "", "w")
ATOMIC__DEFINE_LLSC_CAS(u64, uint64_t, uint64_t, "", "x")

#endif /* !TALLY_ATOMICS_LSE */

/* --- the API: pick the back end ----------------------------------------- */

/*
 * Runtime selection reads atomics_have_lse with a plain load: atomics_init()
 * writes it once, before any other CPU or thread starts, and starting them
 * (PSCI CPU_ON, pthread_create) orders that write before everything they do.
 */
#if defined(TALLY_ATOMICS_LSE)
#define ATOMIC__PICK(lse, llsc) (lse)
#elif defined(TALLY_ATOMICS_LLSC)
#define ATOMIC__PICK(lse, llsc) (llsc)
#else
#define ATOMIC__PICK(lse, llsc) (atomics_have_lse ? (lse) : (llsc))
#endif

/* LSE has no subtract: fetch_sub is LDADD of the negation (mod 2^width). */
#define ATOMIC__DEFINE_RMW(T, W)                                                                   \
    static always_inline W atomic_fetch_add_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        return ATOMIC__PICK(atomic__lse_add_##T(a, v, o), atomic__llsc_add_##T(a, v, o));          \
    }                                                                                              \
    static always_inline W atomic_fetch_sub_##T(atomic_##T *a, W v, enum mem_order o)              \
    {                                                                                              \
        return ATOMIC__PICK(atomic__lse_add_##T(a, (W)-v, o), atomic__llsc_sub_##T(a, v, o));      \
    }                                                                                              \
    static always_inline W atomic_swap_##T(atomic_##T *a, W v, enum mem_order o)                   \
    {                                                                                              \
        return ATOMIC__PICK(atomic__lse_swap_##T(a, v, o), atomic__llsc_swap_##T(a, v, o));        \
    }

#define ATOMIC__DEFINE_CAS(T, W)                                                                   \
    static always_inline bool atomic_cas_##T(atomic_##T *a, W *expected, W desired,                \
                                             enum mem_order o)                                     \
    {                                                                                              \
        return ATOMIC__PICK(atomic__lse_cas_##T(a, expected, desired, o),                          \
                            atomic__llsc_cas_##T(a, expected, desired, o));                        \
    }

ATOMIC__DEFINE_RMW(u16, uint16_t)
ATOMIC__DEFINE_RMW(u32, uint32_t)
ATOMIC__DEFINE_RMW(u64, uint64_t)
ATOMIC__DEFINE_CAS(u8, uint8_t)
ATOMIC__DEFINE_CAS(u16, uint16_t)
ATOMIC__DEFINE_CAS(u32, uint32_t)
ATOMIC__DEFINE_CAS(u64, uint64_t)

/* DMB ISHLD orders earlier loads before later loads and stores (acquire);
 * DMB ISH orders everything (release needs earlier loads before later stores,
 * which DMB ISHST does not give). A relaxed fence does nothing, as in C11. */
static always_inline void atomic_fence(enum mem_order o)
{
    if (o == MO_ACQUIRE)
        asm volatile("dmb ishld" ::: "memory");
    else if (o == MO_RELEASE || o == MO_ACQ_REL)
        asm volatile("dmb ish" ::: "memory");
}

/*
 * Acquire wait for *a == v, sleeping in WFE. LDAXRH reads with acquire and
 * arms the exclusive monitor on the line; if the value is not there yet, WFE
 * sleeps until an event, and any store to the line (the release store in
 * spin_unlock()) clears the monitor, which is an event. A store landing
 * between the LDAXRH and the WFE has already set the event register, so WFE
 * returns at once: no wake-up is lost. One asm, so no compiler-placed memory
 * access between LDAXRH and WFE can disturb the monitor.
 */
static always_inline void atomic_spin_until_u16(const atomic_u16 *a, uint16_t v)
{
    uint32_t cur;
    asm volatile("1: ldaxrh %w[cur], %[mem]\n\t"
                 "cmp %w[cur], %w[v]\n\t"
                 "b.eq 2f\n\t"
                 "wfe\n\t"
                 "b 1b\n"
                 "2:"
                 : [cur] "=&r"(cur)
                 : [mem] "Q"(a->v), [v] "r"((uint32_t)v)
                 : "cc", "memory");
}

/* ID_AA64ISAR0_EL1.Atomic, bits [23:20]: 2 = LSE atomics implemented. Readable
 * at EL2, and at EL0 under Linux and qemu-user (emulated for user space). */
static inline bool atomic__cpu_has_lse(void)
{
    uint64_t isar0;
    asm volatile("mrs %0, ID_AA64ISAR0_EL1" : "=r"(isar0));
    return ((isar0 >> 20) & 0xf) >= 2;
}

static inline const char *atomics_backend_name(void)
{
    return ATOMIC__PICK("lse", "llsc");
}

/* Call once on the boot CPU before any other CPU or thread runs. */
static inline void atomics_init(void)
{
#if defined(TALLY_ATOMICS_RUNTIME_SELECT)
    atomics_have_lse = atomic__cpu_has_lse();
#elif defined(TALLY_ATOMICS_LSE)
    if (!atomic__cpu_has_lse())
        panic("atomics: built with TALLY_ATOMICS_LSE but this CPU has no LSE atomics");
#endif
}

#endif
