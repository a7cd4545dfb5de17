// SPDX-License-Identifier: MIT
// The page accounting: the census of every page by usage, and `leaked`, the
// tracked pages in use that no live owner reaches. It is computed, not
// assumed: the owners are walked and their pages counted, then compared
// with what the page tracker says is in use.
//
// Live owners today: Tally's EL2 address space (its table pages, and the
// pages its owning leaves hold references to) and the CPUs' kernel stacks
// (each CPU holds its stack pages; the stack mapping holds them too, so a
// stack page is counted once). Guests will add their stage-2 trees here.
#include <stdio.h>
#include <tally/errno.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>

#include "accounting.h"
#include "mmu.h"
#include "percpu.h"

struct reach {
    uint64_t tables; /* table pages of the tree */
    uint64_t owned;  /* 4 KiB pages that owning leaves hold */
};

static int count_table(const struct pt_visit *v, void *ctx)
{
    (void)v;
    ((struct reach *)ctx)->tables++;
    return 0;
}

static int count_leaf(const struct pt_visit *v, void *ctx)
{
    if (v->pte & PTE_SW_OWNED)
        ((struct reach *)ctx)->owned += pte_level_size(v->level) / PAGE_SIZE;
    return 0;
}

/* Stack pages a CPU holds that the address space does not also reach. */
static uint64_t unmapped_stack_pages(void)
{
    uint64_t n = 0;
    for (unsigned cpu = 0; cpu < TALLY_MAX_CPUS; cpu++) {
        const struct percpu *pc = &hyp_percpu[cpu];
        if (!pc->stack_guard_va)
            continue;
        for (unsigned i = 0; i < KSTACK_PAGES; i++) {
            paddr_t p;
            bool owned;
            uint64_t v = pc->stack_guard_va + (i + 1) * PAGE_SIZE;
            if (pt_lookup(&hyp_aspace, v, &p, NULL, NULL, &owned) != ERR_OK || !owned ||
                pa_val(p) != pa_val(kstack_paddr(pc->stack[i])))
                n++;
        }
    }
    return n;
}

void accounting_take(struct accounting *a)
{
    static const struct pt_visitor visitor = {.table_pre = count_table, .leaf = count_leaf};
    struct page_census c;
    struct reach r = {.tables = 1 /* the root */, .owned = 0};

    page_census(&c);
    int err = pt_walk(&hyp_aspace, 0, 1ull << hyp_aspace.ia_bits, &visitor, &r);
    BUG_ON(err != ERR_OK);

    a->free = c.free;
    a->frame = c.by_usage[PAGE_FRAME];
    a->pagetable = c.by_usage[PAGE_PT];
    a->kstack = c.by_usage[PAGE_KSTACK];
    a->hyp = c.by_usage[PAGE_HYP];
    a->meta = c.by_usage[PAGE_META];
    a->reserved = c.by_usage[PAGE_RESERVED];
    uint64_t in_use = a->frame + a->pagetable + a->kstack + c.unused;
    a->leaked = (int64_t)in_use - (int64_t)(r.tables + r.owned + unmapped_stack_pages());
}

void accounting_print(const struct accounting *a)
{
    printf("tally: accounting free=%lu frame=%lu pagetable=%lu kstack=%lu hyp=%lu meta=%lu "
           "reserved=%lu leaked=%ld\n",
           a->free, a->frame, a->pagetable, a->kstack, a->hyp, a->meta, a->reserved, a->leaked);
}
