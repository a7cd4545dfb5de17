/* SPDX-License-Identifier: MIT */
/*
 * Ticket spinlock: FIFO, so no CPU starves, and waiters sleep in WFE on
 * AArch64 instead of hammering the line with LL/SC (which can livelock on
 * Cortex-A72). Used for every address space and for the page allocator.
 */
#ifndef TALLY_SPINLOCK_H
#define TALLY_SPINLOCK_H

#include <tally/atomic.h>

struct spinlock {
    atomic_u16 owner; /* ticket now served */
    atomic_u16 next;  /* next ticket to hand out */
};

#define SPINLOCK_INIT                                                                              \
    {                                                                                              \
        ATOMIC_INIT(0), ATOMIC_INIT(0)                                                             \
    }

static inline void spin_lock_init(struct spinlock *l)
{
    atomic_store_u16(&l->owner, 0, MO_RELAXED);
    atomic_store_u16(&l->next, 0, MO_RELAXED);
}

static inline void spin_lock(struct spinlock *l)
{
    /* Relaxed: taking a ticket orders nothing; the acquire is the wait below. */
    uint16_t ticket = atomic_fetch_add_u16(&l->next, 1, MO_RELAXED);
    /* Acquire: pairs with the release store of owner in spin_unlock(). */
    atomic_spin_until_u16(&l->owner, ticket);
}

static inline void spin_unlock(struct spinlock *l)
{
    uint16_t o = atomic_load_u16(&l->owner, MO_RELAXED);
    /* Release: pairs with the acquire wait in spin_lock(); on AArch64 the
     * store clears waiters' exclusive monitors, which wakes their WFE. */
    atomic_store_u16(&l->owner, (uint16_t)(o + 1), MO_RELEASE);
}

static inline bool spin_is_locked(struct spinlock *l)
{
    return atomic_load_u16(&l->owner, MO_RELAXED) != atomic_load_u16(&l->next, MO_RELAXED);
}

#endif
