// SPDX-License-Identifier: MIT
/*
 * The slot array: one struct meta_slot per page of every RAM bank.
 *
 * Banks are stored sorted by address; bank i's slots are a contiguous run of
 * the one slot array starting at index first[i], so a physical address maps
 * to its slot with one subtraction and one bounds check per bank tried, and
 * holes between banks cost nothing. Bank 0 is tried first: on QEMU virt it is
 * the only one.
 *
 * The census counters count slots per usage. They change only when a page
 * changes usage (built, released, marked, given to the allocator), never on
 * clone or drop.
 */
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/meta.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>

#include "mm_internal.h"

struct meta_bank {
    uint64_t base_pfn;
    uint64_t npages;
    uint64_t first; /* index of the bank's first slot */
};

static struct meta_bank banks[META_MAX_BANKS];
static struct mem_bank bank_desc[META_MAX_BANKS];
static unsigned nr_banks;
static struct meta_slot *slots;
static uint64_t nr_slots;
struct meta_bank0 meta_bank0;

/*
 * Census counters, per CPU so that a page changing usage costs no atomic
 * read-modify-write: only the owning CPU writes its row (relaxed load and
 * store), page_census() sums the rows. A row may go negative (a page built
 * on one CPU and released on another); the sums are exact whenever no
 * transition is in flight. Statistics only: nothing is ordered by them.
 */
static struct {
    atomic_u64 n[PAGE_USAGE_COUNT];
} __attribute__((aligned(64))) usage_count[TALLY_MAX_CPUS];

size_t meta_bytes_needed(const struct mem_bank *b, unsigned n)
{
    uint64_t pages = 0;
    for (unsigned i = 0; i < n; i++)
        pages += b[i].size / PAGE_SIZE;
    return pages * sizeof(struct meta_slot);
}

int meta_init(const struct mem_bank *b, unsigned n, void *slot_mem)
{
    if (n == 0 || n > META_MAX_BANKS || !slot_mem)
        return ERR_INVAL;
    struct mem_bank sorted[META_MAX_BANKS];
    for (unsigned i = 0; i < n; i++) {
        if (!IS_ALIGNED(pa_val(b[i].base), PAGE_SIZE) || !IS_ALIGNED(b[i].size, PAGE_SIZE))
            return ERR_ALIGN;
        if (b[i].size == 0 || pa_val(b[i].base) + b[i].size < pa_val(b[i].base))
            return ERR_INVAL;
        /* insertion sort by base */
        unsigned j = i;
        while (j > 0 && pa_val(sorted[j - 1].base) > pa_val(b[i].base)) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = b[i];
    }
    for (unsigned i = 1; i < n; i++)
        if (pa_val(sorted[i - 1].base) + sorted[i - 1].size > pa_val(sorted[i].base))
            return ERR_INVAL;
    if (meta_bytes_needed(b, n) / sizeof(struct meta_slot) >= UINT32_MAX)
        return ERR_RANGE; /* free-list links are 32-bit slot indices */

    slots = slot_mem;
    nr_banks = n;
    nr_slots = 0;
    for (unsigned i = 0; i < n; i++) {
        bank_desc[i] = sorted[i];
        banks[i].base_pfn = pa_val(sorted[i].base) >> PAGE_SHIFT;
        banks[i].npages = sorted[i].size >> PAGE_SHIFT;
        banks[i].first = nr_slots;
        nr_slots += banks[i].npages;
    }
    meta_bank0.base_pfn = banks[0].base_pfn;
    meta_bank0.npages = banks[0].npages;
    meta_bank0.slots = slots;
    for (uint64_t i = 0; i < nr_slots; i++) {
        struct meta_slot *s = &slots[i];
        atomic_store_u32(&s->ref_count, REF_FIXED, MO_RELAXED);
        atomic_store_u8(&s->usage, PAGE_RESERVED, MO_RELAXED);
        s->order = 0;
        atomic_store_u8(&s->flags, 0, MO_RELAXED);
        atomic_store_u8(&s->raw, 0, MO_RELAXED);
        s->m.word = 0;
    }
    for (unsigned c = 0; c < TALLY_MAX_CPUS; c++)
        for (unsigned u = 0; u < PAGE_USAGE_COUNT; u++)
            atomic_store_u64(&usage_count[c].n[u], 0, MO_RELAXED);
    atomic_store_u64(&usage_count[arch_cpu_id()].n[PAGE_RESERVED], nr_slots, MO_RELAXED);
    return ERR_OK;
}

struct meta_slot *meta_slot_lookup_slow(paddr_t p)
{
    uint64_t pfn = pa_val(p) >> PAGE_SHIFT;
    for (unsigned i = 1; i < nr_banks; i++) {
        uint64_t off = pfn - banks[i].base_pfn;
        if (off < banks[i].npages)
            return &slots[banks[i].first + off];
    }
    return NULL;
}

void meta_not_ram(paddr_t p)
{
    panic("page %#llx is not RAM: it has no metadata slot", (unsigned long long)pa_val(p));
}

paddr_t meta_slot_paddr_slow(const struct meta_slot *s)
{
    uint64_t idx = (uint64_t)(s - slots);
    for (unsigned i = 1; i < nr_banks; i++) {
        uint64_t off = idx - banks[i].first;
        if (off < banks[i].npages)
            return pa((banks[i].base_pfn + off) << PAGE_SHIFT);
    }
    panic("pointer %p is not a metadata slot", (const void *)s);
}

uint64_t meta_nr_slots(void)
{
    return nr_slots;
}

unsigned meta_nr_banks(void)
{
    return nr_banks;
}

const struct mem_bank *meta_bank(unsigned i)
{
    return i < nr_banks ? &bank_desc[i] : NULL;
}

int meta_bank_of(paddr_t p)
{
    uint64_t pfn = pa_val(p) >> PAGE_SHIFT;
    for (unsigned i = 0; i < nr_banks; i++)
        if (pfn - banks[i].base_pfn < banks[i].npages)
            return (int)i;
    return -1;
}

void meta_census_move(enum page_usage from, enum page_usage to, uint64_t n)
{
    atomic_u64 *row = usage_count[arch_cpu_id()].n;
    atomic_store_u64(&row[from], atomic_load_u64(&row[from], MO_RELAXED) - n, MO_RELAXED);
    atomic_store_u64(&row[to], atomic_load_u64(&row[to], MO_RELAXED) + n, MO_RELAXED);
}

void meta_mark_fixed(paddr_t start, uint64_t npages, enum page_usage u)
{
    BUG_ON(u != PAGE_RESERVED && u != PAGE_HYP && u != PAGE_META);
    uint64_t moved[PAGE_USAGE_COUNT] = {0};
    for (uint64_t i = 0; i < npages; i++) {
        paddr_t p = pa_add(start, i * PAGE_SIZE);
        struct meta_slot *s = meta_slot(p);
        uint32_t ref = atomic_load_u32(&s->ref_count, MO_RELAXED);
        enum page_usage old = (enum page_usage)atomic_load_u8(&s->usage, MO_RELAXED);
        if (ref != REF_FIXED)
            panic("meta_mark_fixed: page %#llx is %s, not fixed", (unsigned long long)pa_val(p),
                  page_usage_name(old));
        atomic_store_u8(&s->usage, u, MO_RELAXED);
        moved[old]++;
    }
    /* One census change per usage, not per page. */
    for (unsigned o = 0; o < PAGE_USAGE_COUNT; o++)
        if (moved[o])
            meta_census_move((enum page_usage)o, u, moved[o]);
}

void page_census(struct page_census *c)
{
    c->total = nr_slots;
    for (unsigned u = 0; u < PAGE_USAGE_COUNT; u++) {
        uint64_t sum = 0;
        for (unsigned cpu = 0; cpu < TALLY_MAX_CPUS; cpu++)
            sum += atomic_load_u64(&usage_count[cpu].n[u], MO_RELAXED);
        c->by_usage[u] = sum;
    }
    c->free = page_alloc_free_pages();
    c->unused = c->by_usage[PAGE_UNUSED] - c->free;
}
