// SPDX-License-Identifier: MIT
// The architecture hooks of <tally/arch.h> at EL2 (non-VHE): what mm/ calls
// to learn the CPU, reach a physical page and invalidate TLBs. Each TLBI is
// preceded by DSB ISHST (the descriptor write that unmapped the page is
// visible to every walker) and followed by DSB ISH + ISB (the invalidation is
// complete on every CPU of the inner shareable domain before we go on), so a
// page unmapped before the call may be freed after it.
#include <string.h>

#include <tally/arch.h>
#include <tally/sysreg.h>
#include <tally/tlbi_range.h>

#include "hyp.h"
#include "percpu.h"

unsigned arch_cpu_id(void)
{
    return this_cpu()->id;
}

/* EL2 identity-maps all RAM (mmu.c), so a physical address is its VA. */
void *arch_phys_to_virt(paddr_t p)
{
    return (void *)(uintptr_t)pa_val(p);
}

void arch_tlbi_el2_va(vaddr_t v)
{
    dsb(ishst);
    __asm__ volatile("tlbi vae2is, %0" : : "r"(va_val(v) >> PAGE_SHIFT) : "memory");
    dsb(ish);
    isb();
}

void arch_tlbi_el2_all(void)
{
    dsb(ishst);
    __asm__ volatile("tlbi alle2is" : : : "memory");
    dsb(ish);
    isb();
}

/*
 * Stage-2 invalidations act on the VMID in VTTBR_EL2, so the VMID is loaded
 * for the duration of the TLBI and the previous value put back. Tally runs
 * with interrupts masked at EL2, so nothing else sees the temporary VTTBR.
 */
static uint64_t vttbr_swap_vmid(uint16_t vmid)
{
    uint64_t old = read_sysreg(vttbr_el2);
    write_sysreg(vttbr_el2, (uint64_t)vmid << 48);
    isb();
    return old;
}

/* ID_AA64ISAR0_EL1.TLB [59:56] >= 2: FEAT_TLBIRANGE (and TLBI *OS). Read
 * once: every CPU Tally runs on is the same kind. */
static int tlbi_range_cached = -1;

static bool cpu_has_tlbi_range(void)
{
    if (tlbi_range_cached < 0)
        tlbi_range_cached = ((read_sysreg(id_aa64isar0_el1) >> 56) & 0xf) >= 2;
    return tlbi_range_cached;
}

static inline void tlbi_ipas2e1is(uint64_t ipa)
{
    __asm__ volatile("tlbi ipas2e1is, %0" : : "r"(ipa >> PAGE_SHIFT) : "memory");
}

/* TLBI RIPAS2E1IS (SYS #4, C8, C0, #2: no -march needed) over the range
 * that <tally/tlbi_range.h> took apart, the odd page by the plain TLBI. */
static void tlbi_ipa_range(uint64_t ipa, uint64_t pages)
{
    struct tlbi_range_iter it = tlbi_range_start(ipa, pages);
    struct tlbi_range_op op;
    while (tlbi_range_next(&it, &op)) {
        uint64_t arg = tlbi_range_operand(&op);
        if (op.range)
            __asm__ volatile("sys #4, c8, c0, #2, %0" : : "r"(arg) : "memory");
        else
            __asm__ volatile("tlbi ipas2e1is, %0" : : "r"(arg) : "memory");
    }
}

void arch_tlbi_ipa_runs(uint16_t vmid, const struct tlbi_run *runs, unsigned n)
{
    bool range = cpu_has_tlbi_range();
    uint64_t old = vttbr_swap_vmid(vmid);
    dsb(ishst);
    for (unsigned r = 0; r < n; r++) {
        const struct tlbi_run *run = &runs[r];
        if (range && run->n > 1) {
            tlbi_ipa_range(run->ia, (run->step >> PAGE_SHIFT) * run->n);
            continue;
        }
        for (unsigned i = 0; i < run->n; i++)
            tlbi_ipas2e1is(run->ia + i * run->step);
    }
    /* Stage-1 entries of the guest may cache the old stage-2 translations
     * as part of combined walks: they go too, once for the whole batch,
     * after every stage-2 invalidation has completed (Arm ARM D8.13.6). */
    dsb(ish);
    __asm__ volatile("tlbi vmalle1is" : : : "memory");
    dsb(ish);
    isb();
    write_sysreg(vttbr_el2, old);
    isb();
}

void arch_tlbi_vmid(uint16_t vmid)
{
    uint64_t old = vttbr_swap_vmid(vmid);
    dsb(ishst);
    __asm__ volatile("tlbi vmalls12e1is" : : : "memory");
    dsb(ish);
    isb();
    write_sysreg(vttbr_el2, old);
    isb();
}

/*
 * DC ZVA zeroes one block (4 << DCZID_EL0.BS bytes, 64 on every core Tally
 * runs on) per instruction without reading memory first. DCZID_EL0.DZP says
 * whether it is allowed; if not, memset.
 */
void arch_page_zero(paddr_t p, uint64_t npages)
{
    uint64_t dczid = read_sysreg(dczid_el0);
    uint8_t *a = arch_phys_to_virt(p);
    size_t n = npages * PAGE_SIZE;
    if (dczid & (1u << 4)) {
        memset(a, 0, n);
        return;
    }
    uint64_t block = 4ull << (dczid & 0xf);
    /* Eight blocks per iteration; a page is a multiple of 8 blocks for any
     * block size up to 512 bytes, and DCZID allows at most 2 KiB. */
    if (block > PAGE_SIZE / 8) {
        memset(a, 0, n);
        return;
    }
    for (uint8_t *end = a + n; a < end; a += 8 * block) {
        __asm__ volatile("dc zva, %0\n\t"
                         "dc zva, %1\n\t"
                         "dc zva, %2\n\t"
                         "dc zva, %3"
                         :
                         : "r"(a), "r"(a + block), "r"(a + 2 * block), "r"(a + 3 * block)
                         : "memory");
        __asm__ volatile("dc zva, %0\n\t"
                         "dc zva, %1\n\t"
                         "dc zva, %2\n\t"
                         "dc zva, %3"
                         :
                         : "r"(a + 4 * block), "r"(a + 5 * block), "r"(a + 6 * block),
                           "r"(a + 7 * block)
                         : "memory");
    }
}

void arch_pte_sync(void)
{
    dsb(ishst);
}

void cache_clean_range(const void *p, size_t n)
{
    /* CTR_EL0.DminLine [19:16]: log2 of the smallest D-cache line in words. */
    uint64_t line = 4ull << ((read_sysreg(ctr_el0) >> 16) & 0xf);
    uint64_t a = ALIGN_DOWN((uint64_t)p, line), end = (uint64_t)p + n;
    /* Four lines per iteration while they fit: guest RAM is cleaned whole. */
    for (; a + 4 * line <= end; a += 4 * line)
        __asm__ volatile("dc cvac, %0\n\t"
                         "dc cvac, %1\n\t"
                         "dc cvac, %2\n\t"
                         "dc cvac, %3"
                         :
                         : "r"(a), "r"(a + line), "r"(a + 2 * line), "r"(a + 3 * line)
                         : "memory");
    for (; a < end; a += line)
        __asm__ volatile("dc cvac, %0" : : "r"(a) : "memory");
    dsb(ish);
}
