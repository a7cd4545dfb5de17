// SPDX-License-Identifier: MIT
// The page accounting: the census of every page by usage, and `leaked`, the
// pages whose references were not all returned. It is computed, not
// assumed: the owners are walked and their pages counted, then compared
// with what the page tracker says is in use, and every page reached has its
// reference count checked against the references its owners hold:
//
//   leaked = (tracked pages in use) - (pages live owners reach)
//          + (reached pages with more references than their owners hold)
//
// Live owners: Tally's EL2 address space (its table pages, and the pages
// its owning leaves hold references to), the CPUs' kernel stacks (each CPU
// holds its stack pages; the stack mapping holds them too, so a stack page
// is counted once), and through the function hyp/vm registers
// (accounting_set_owners: vm_account_owners) every live VM's stage-2
// and the static shared regions (a shared page counted once, by its region,
// with the region's reference and one per member mapping it).
#include <stdio.h>
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>

#include "accounting.h"
#include "mmu.h"
#include "percpu.h"

struct acct_reach {
    uint64_t tables;    /* table pages of the tree */
    uint64_t owned;     /* 4 KiB pages that owning leaves hold */
    uint64_t over_refs; /* reached pages holding more references than owners */
    uint64_t reserved;  /* of owned: VMs' untouched RAM, taken but untyped */
};

/* Does a live CPU hold this page as part of its stack? */
static bool cpu_holds_stack_page(paddr_t p)
{
    for (unsigned cpu = 0; cpu < TALLY_MAX_CPUS; cpu++) {
        const struct percpu *pc = &hyp_percpu[cpu];
        if (!pc->stack_guard_va)
            continue;
        for (unsigned i = 0; i < KSTACK_PAGES; i++) {
            if (pa_val(kstack_paddr(pc->stack[i])) == pa_val(p))
                return true;
        }
    }
    return false;
}

/* A page reached with `expected` references from its owners: more is a
 * reference someone took and never returned; fewer would let the page be
 * freed while still in use. */
static void audit(struct acct_reach *r, uint32_t refs, uint32_t expected, paddr_t p)
{
    if (refs < expected)
        panic("accounting: page 0x%lx has %u references, its owners hold %u", pa_val(p), refs,
              expected);
    if (refs > expected)
        r->over_refs++;
}

static int count_table(const struct pt_visit *v, void *ctx)
{
    struct acct_reach *r = ctx;
    r->tables++;
    /* A table page is held by its parent's entry only. */
    audit(r, pt_page_ref_count(v->next), 1, pt_page_paddr(v->next));
    return 0;
}

static int count_leaf(const struct pt_visit *v, void *ctx)
{
    struct acct_reach *r = ctx;
    if (!(v->pte & PTE_SW_OWNED))
        return 0;
    uint64_t n = pte_level_size(v->level) / PAGE_SIZE;
    r->owned += n;
    /* One reference per 4 KiB page from this entry (each page is mapped once
     * in Tally's space), one more if a CPU holds it as its stack. */
    for (uint64_t i = 0; i < n; i++) {
        paddr_t p = pa(pte_oa(v->pte) + i * PAGE_SIZE);
        struct meta_slot *s = meta_slot(p);
        audit(r, page_slot_ref_count(s), cpu_holds_stack_page(p) ? 2 : 1, p);
    }
    return 0;
}

/* Written once by the boot CPU before any VM exists. */
static void (*other_owners)(struct acct_reach *r);

void accounting_set_owners(void (*fn)(struct acct_reach *r))
{
    other_owners = fn;
}

struct tree_ctx {
    struct acct_reach *r;
    bool (*skip)(paddr_t p);
};

static int tree_table(const struct pt_visit *v, void *ctx)
{
    return count_table(v, ((struct tree_ctx *)ctx)->r);
}

static int tree_leaf(const struct pt_visit *v, void *ctx)
{
    struct tree_ctx *t = ctx;
    if (!(v->pte & PTE_SW_OWNED))
        return 0;
    uint64_t n = pte_level_size(v->level) / PAGE_SIZE;
    for (uint64_t i = 0; i < n; i++) {
        paddr_t p = pa(pte_oa(v->pte) + i * PAGE_SIZE);
        if (t->skip && t->skip(p))
            continue;
        t->r->owned++;
        if (page_block_order(p)) {
            /* A page of a compound (a VM's RAM block): its references live
             * on the head, shared by every entry over the compound (a
             * PTE_SW_BLOCKREF block's one, a split's 512, a borrower's 4 KiB
             * entries), so no one entry knows the exact count; the head
             * must hold at least this entry's. */
            struct meta_slot *h = page_owner_slot(p);
            audit(t->r, page_slot_ref_count(h) ? 1 : 0, 1, meta_slot_paddr(h));
            continue;
        }
        audit(t->r, page_slot_ref_count(meta_slot(p)), 1, p);
    }
    return 0;
}

void accounting_reach_tree(struct acct_reach *r, struct aspace *as, bool (*skip)(paddr_t p))
{
    static const struct pt_visitor visitor = {.table_pre = tree_table, .leaf = tree_leaf};
    struct tree_ctx t = {.r = r, .skip = skip};
    r->tables++;
    audit(r, pt_page_ref_count(as->root), 1, pt_page_paddr(as->root));
    int err = pt_walk(as, 0, 1ull << as->ia_bits, &visitor, &t);
    BUG_ON(err != ERR_OK);
}

void accounting_reach_pages(struct acct_reach *r, paddr_t p, uint64_t n, uint32_t refs)
{
    r->owned += n;
    for (uint64_t i = 0; i < n; i++) {
        paddr_t q = pa_add(p, i * PAGE_SIZE);
        audit(r, page_slot_ref_count(meta_slot(q)), refs, q);
    }
}

void accounting_reach_reserved(struct acct_reach *r, uint64_t n)
{
    r->owned += n;
    r->reserved += n;
}

/* Stack pages a CPU holds that the address space does not also reach; each
 * must then have exactly the CPU's reference. */
static uint64_t unmapped_stack_pages(struct acct_reach *r)
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
                pa_val(p) != pa_val(kstack_paddr(pc->stack[i]))) {
                n++;
                audit(r, kstack_ref_count(pc->stack[i]), 1, kstack_paddr(pc->stack[i]));
            }
        }
    }
    return n;
}

void accounting_take(struct accounting *a)
{
    static const struct pt_visitor visitor = {.table_pre = count_table, .leaf = count_leaf};
    struct page_census c;
    struct acct_reach r = {.tables = 1 /* the root */};

    page_census(&c);
    /* The root is held by the address space itself. */
    audit(&r, pt_page_ref_count(hyp_aspace.root), 1, pt_page_paddr(hyp_aspace.root));
    int err = pt_walk(&hyp_aspace, 0, 1ull << hyp_aspace.ia_bits, &visitor, &r);
    BUG_ON(err != ERR_OK);
    if (other_owners)
        other_owners(&r);
    uint64_t reached = r.tables + r.owned + unmapped_stack_pages(&r);

    a->free = c.free;
    a->frame = c.by_usage[PAGE_FRAME];
    a->pagetable = c.by_usage[PAGE_PT];
    a->kstack = c.by_usage[PAGE_KSTACK];
    a->hyp = c.by_usage[PAGE_HYP];
    a->meta = c.by_usage[PAGE_META];
    a->reserved = c.by_usage[PAGE_RESERVED];
    uint64_t in_use = a->frame + a->pagetable + a->kstack + c.unused;
    a->leaked = (int64_t)in_use - (int64_t)reached + (int64_t)r.over_refs;
    /* A VM's RAM it has not touched yet is its frames-to-be: taken from
     * the allocator at its creation (untyped, in c.unused), counted here. */
    a->frame += r.reserved;
}

void accounting_print(const struct accounting *a)
{
    printf("tally: accounting free=%lu frame=%lu pagetable=%lu kstack=%lu hyp=%lu meta=%lu "
           "reserved=%lu leaked=%ld\n",
           a->free, a->frame, a->pagetable, a->kstack, a->hyp, a->meta, a->reserved, a->leaked);
}
