/* SPDX-License-Identifier: MIT */
/*
 * Basic types shared by every part of Tally.
 *
 * Addresses are opaque one-member structs (Hafnium's habit) so that a guest
 * IPA can never be passed where a physical address is expected: the compiler
 * refuses. Convert explicitly with pa()/pa_val(), ipa()/ipa_val(), va()/va_val().
 */
#ifndef TALLY_TYPES_H
#define TALLY_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1ul << PAGE_SHIFT)
#define PAGE_MASK  (PAGE_SIZE - 1)

typedef struct {
    uint64_t v;
} paddr_t;
typedef struct {
    uint64_t v;
} ipa_t;
typedef struct {
    uint64_t v;
} vaddr_t;

static inline paddr_t pa(uint64_t v)
{
    return (paddr_t){v};
}
static inline uint64_t pa_val(paddr_t p)
{
    return p.v;
}
static inline paddr_t pa_add(paddr_t p, uint64_t off)
{
    return (paddr_t){p.v + off};
}
static inline ipa_t ipa(uint64_t v)
{
    return (ipa_t){v};
}
static inline uint64_t ipa_val(ipa_t a)
{
    return a.v;
}
static inline vaddr_t va(uint64_t v)
{
    return (vaddr_t){v};
}
static inline uint64_t va_val(vaddr_t a)
{
    return a.v;
}

#define ARRAY_SIZE(a)         (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)        (((x) + (a)-1) & ~((uint64_t)(a)-1))
#define ALIGN_DOWN(x, a)      ((x) & ~((uint64_t)(a)-1))
#define IS_ALIGNED(x, a)      (((x) & ((uint64_t)(a)-1)) == 0)
#define likely(x)             __builtin_expect(!!(x), 1)
#define unlikely(x)           __builtin_expect(!!(x), 0)
#define always_inline         inline __attribute__((always_inline))
#define noinline              __attribute__((noinline))
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

#endif
