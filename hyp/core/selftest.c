// SPDX-License-Identifier: MIT
// The test switch, tally.test=NAME in /chosen/bootargs (docs/boot.md): one
// image that fails on purpose, or exercises a path no boot takes yet, for
// the QEMU scenario tests.
//
//   stack-overflow  recurse on the CPU's stack into its guard page
//   bad-access      read an unmapped address (a decoded translation fault)
//   write-text      write to the image's text (a permission fault: W^X)
//   leak-page       forget a frame reference (the accounting says leaked=1)
//   leak-ref        take a reference to a reachable page and forget it
//                   (reachable, but over-referenced: leaked=1 too)
//   stage2          build a guest-style stage-2 tree, map frames, unmap,
//                   destroy: the stage-2 TLB invalidations run on the real
//                   CPU, and every page must come back
//   at-walk-abort   the AT S1E1R/S1E0R of MMIO decoding (hyp_at_s1) on a
//                   stage-1 walk that takes a synchronous external abort:
//                   the fix-up answers PAR.F and counts it; control cases
//                   (an empty table, a block mapping) take no fix-up
//
// tally.test.cpu=N runs the first three on secondary CPU N (smp_call), so
// its guard page and emergency stack are tested too.
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>
#include <tally/pgtable.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "percpu.h"
#include "selftest.h"
#include "smp.h"

#define S2_VMID   1
#define S2_FRAMES 16
#define S2_IPA    0x40000000ull

static void census_after_drain(struct page_census *c)
{
    page_alloc_drain();
    page_census(c);
}

static void test_stage2(void)
{
    struct page_census before, during, after;
    struct aspace s2;
    struct frame f[S2_FRAMES];
    int err;

    census_after_drain(&before);
    err = aspace_init(&s2, PT_STAGE2, 40, S2_VMID, S2_VMID);
    if (err != ERR_OK)
        panic("test stage2: aspace_init: %s", tally_strerror(err));
    for (unsigned i = 0; i < S2_FRAMES; i++) {
        f[i] = frame_alloc((struct frame_meta){.owner_vm = S2_VMID}, &err);
        if (err == ERR_OK)
            err = pt_map_frames(&s2, S2_IPA + i * PAGE_SIZE, frame_paddr(f[i]), PAGE_SIZE,
                                PT_R | PT_W);
        if (err != ERR_OK)
            panic("test stage2: frame %u: %s", i, tally_strerror(err));
        /* The mapping holds its own reference now; the last one goes with it. */
        frame_drop(f[i]);
    }
    census_after_drain(&during);
    err = pt_unmap(&s2, S2_IPA, S2_FRAMES / 2 * PAGE_SIZE);
    if (err != ERR_OK)
        panic("test stage2: pt_unmap: %s", tally_strerror(err));
    aspace_destroy(&s2);
    census_after_drain(&after);
    if (during.by_usage[PAGE_FRAME] != before.by_usage[PAGE_FRAME] + S2_FRAMES ||
        memcmp(&before, &after, sizeof(before)) != 0)
        panic("test stage2: frames %lu -> %lu -> %lu, free %lu -> %lu -> %lu, tables %lu -> "
              "%lu -> %lu",
              before.by_usage[PAGE_FRAME], during.by_usage[PAGE_FRAME], after.by_usage[PAGE_FRAME],
              before.free, during.free, after.free, before.by_usage[PAGE_PT],
              during.by_usage[PAGE_PT], after.by_usage[PAGE_PT]);
    printf("tally: test stage2: VMID %u, %u frames mapped at IPA 0x%llx with %lu table pages, "
           "half unmapped, tree destroyed: every page back (free=%lu)\n",
           S2_VMID, S2_FRAMES, S2_IPA, during.by_usage[PAGE_PT] - before.by_usage[PAGE_PT],
           after.free);
}

static noinline uint64_t recurse(volatile uint64_t *depth)
{
    volatile char frame[512];
    frame[0] = (char)*depth;
    if (++*depth == 0) /* never: the recursion ends in the guard page */
        return 0;
    return recurse(depth) + (uint64_t)frame[0];
}

static void test_stack_overflow(void)
{
    volatile uint64_t depth = 0;
    printf("tally: test stack-overflow: recursing on CPU %u's stack (guard page 0x%lx)\n",
           this_cpu()->id, this_cpu()->stack_guard_va);
    recurse(&depth);
    panic("test stack-overflow: the recursion returned");
}

static void test_bad_access(void)
{
    volatile uint64_t *bad = (volatile uint64_t *)(hyp_platform.stack_va_base - (1ull << 30));
    printf("tally: test bad-access: reading unmapped address %p\n", (void *)bad);
    (void)*bad;
    panic("test bad-access: the read of %p did not fault", (void *)bad);
}

static void test_write_text(void)
{
    volatile uint32_t *code = (volatile uint32_t *)(uintptr_t)test_write_text;
    printf("tally: test write-text: writing to the image's text at %p\n", (void *)code);
    *code = 0xd503201f; /* NOP */
    panic("test write-text: the write to %p did not fault", (void *)code);
}

static void test_leak_page(void)
{
    int err;
    struct frame f = frame_alloc((struct frame_meta){.owner_vm = OWNER_HYP}, &err);
    if (err != ERR_OK)
        panic("test leak-page: frame_alloc: %s", tally_strerror(err));
    /* The handle goes out of scope still holding its reference: no owner
     * reaches the page, so the accounting must count it as leaked. */
    printf("tally: test leak-page: forgetting a reference to frame 0x%lx\n",
           pa_val(frame_paddr(f)));
}

static void test_leak_ref(void)
{
    /* A second reference to a page that stays reachable (CPU 0's stack),
     * never dropped: the page is reached, but with one reference too many. */
    struct kstack k = kstack_clone(hyp_percpu[0].stack[0]);
    printf("tally: test leak-ref: forgetting a second reference to stack page 0x%lx (now %u)\n",
           pa_val(kstack_paddr(k)), kstack_ref_count(k));
}

/* QEMU virt: nothing between the virtio-mmio transports (ending at
 * 0x0a004000) and the platform bus (0x0c000000); a read there is a decode
 * error, so a walk reading its table there takes a synchronous external
 * abort. */
#define AT_HOLE_PA   0x0b000000ull
#define AT_PAR_KEEP  0x0000001234567000ull /* the caller's PAR_EL1, to be kept */
#define PAR_F        1ull
#define PAR_FST(par) (((par) >> 1) & 0x3f)

/* One AT through hyp_at_s1 with TTBR0_EL1 = ttbr: its PAR, the number of
 * fix-ups it took; the caller's PAR_EL1 must come back untouched. */
static uint64_t at_probe(uint64_t ttbr, uint64_t va, bool el0, uint64_t *fixups)
{
    write_sysreg(ttbr0_el1, ttbr);
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh" : : : "memory");
    isb();
    write_sysreg(par_el1, AT_PAR_KEEP);
    uint64_t before = atomic_load_u64(&hyp_at_fixups, MO_RELAXED);
    uint64_t par = hyp_at_s1(va, el0);
    *fixups = atomic_load_u64(&hyp_at_fixups, MO_RELAXED) - before;
    if (read_sysreg(par_el1) != AT_PAR_KEEP)
        panic("test at-walk-abort: PAR_EL1 0x%lx after the AT, want the caller's 0x%llx",
              read_sysreg(par_el1), AT_PAR_KEEP);
    return par;
}

static void test_at_walk_abort(void)
{
    uint64_t hcr = read_sysreg(hcr_el2), sctlr = read_sysreg(sctlr_el1);
    uint64_t tcr = read_sysreg(tcr_el1), ttbr = read_sysreg(ttbr0_el1);
    uint64_t mair = read_sysreg(mair_el1), par_saved = read_sysreg(par_el1);
    int err;
    struct frame f = frame_alloc((struct frame_meta){.owner_vm = OWNER_HYP}, &err);
    if (err != ERR_OK)
        panic("test at-walk-abort: frame_alloc: %s", tally_strerror(err));
    uint64_t *table = frame_data(f), table_pa = pa_val(frame_paddr(f)), n;
    memset(table, 0, PAGE_SIZE);

    /* An EL1&0 stage 1 of its own, stage 2 off (HCR_EL2.VM = 0): the walk
     * reads physical addresses. 39-bit VAs from level 1, 4 KiB granule,
     * cacheable walks, 40-bit PAs, TTBR1 off; MAIR attribute 0 Normal WB. */
    write_sysreg(hcr_el2, hcr & ~1ull);
    write_sysreg(mair_el1, 0xffull);
    write_sysreg(tcr_el1,
                 25ull | (1ull << 8) | (1ull << 10) | (3ull << 12) | (1ull << 23) | (2ull << 32));
    write_sysreg(sctlr_el1, sctlr | 1);
    isb();

    /* Control: an empty level-1 table is a translation fault at level 1,
     * reported in PAR, no exception. */
    dsb(ishst);
    uint64_t par = at_probe(table_pa, 0x1000, false, &n);
    printf("tally: test at-walk-abort: empty table: PAR 0x%lx (FST 0x%02lx), %lu fix-ups\n", par,
           PAR_FST(par), n);
    if (!(par & PAR_F) || PAR_FST(par) != 0x05 || n != 0)
        panic("test at-walk-abort: empty table: want a level-1 translation fault, no fix-up");

    /* Control: a 1 GiB block VA 0 -> PA 0x40000000 (AF, inner shareable). */
    table[0] = 0x40000000ull | (1ull << 10) | (3ull << 8) | 1;
    dsb(ishst);
    par = at_probe(table_pa, 0x1234, false, &n);
    printf("tally: test at-walk-abort: block: PAR 0x%lx (PA 0x%llx), %lu fix-ups\n", par,
           par & 0xfffffffff000ull, n);
    if ((par & PAR_F) || (par & 0xfffffffff000ull) != 0x40001000ull || n != 0)
        panic("test at-walk-abort: block: want PA 0x40001000, no fix-up");

    /* The walk's first read hits nothing: a synchronous external abort
     * taken at EL2 by the AT itself, S1E1R and S1E0R alike. */
    uint64_t total = 0;
    for (int el0 = 0; el0 <= 1; el0++) {
        par = at_probe(AT_HOLE_PA, 0x1000, el0, &n);
        total += n;
        printf("tally: test at-walk-abort: walk abort, AT S1E%dR: PAR 0x%lx (FST 0x%02lx), %lu "
               "fix-up%s, hyp_at_fixups=%lu\n",
               el0 ? 0 : 1, par, PAR_FST(par), n, n == 1 ? "" : "s",
               atomic_load_u64(&hyp_at_fixups, MO_RELAXED));
        if (par != (PAR_F | (0x10 << 1)) || n != 1)
            panic("test at-walk-abort: walk abort: want PAR 0x21 from one fix-up");
    }

    write_sysreg(sctlr_el1, sctlr);
    write_sysreg(tcr_el1, tcr);
    write_sysreg(ttbr0_el1, ttbr);
    write_sysreg(mair_el1, mair);
    write_sysreg(par_el1, par_saved);
    write_sysreg(hcr_el2, hcr);
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh" : : : "memory");
    isb();
    frame_drop(f);
    printf("tally: test at-walk-abort: %lu walk aborts recovered, EL1 regime restored\n", total);
}

static const struct {
    const char *name;
    void (*fn)(void);
    bool any_cpu; /* may run on a secondary (tally.test.cpu) */
} tests[] = {
    {"stack-overflow", test_stack_overflow, true},
    {"bad-access", test_bad_access, true},
    {"write-text", test_write_text, true},
    {"leak-page", test_leak_page, false},
    {"leak-ref", test_leak_ref, false},
    {"stage2", test_stage2, false},
    {"at-walk-abort", test_at_walk_abort, false},
};

void selftest_run(const char *name, unsigned cpu)
{
    for (unsigned i = 0; i < ARRAY_SIZE(tests); i++) {
        if (strcmp(name, tests[i].name) != 0)
            continue;
        if (cpu == 0) {
            tests[i].fn();
        } else if (!tests[i].any_cpu) {
            printf("tally: test %s runs on CPU 0 only; tally.test.cpu=%u ignored\n", name, cpu);
            tests[i].fn();
        } else if (smp_call(cpu, tests[i].fn) != ERR_OK) {
            printf("tally: test %s: CPU %u is not online; not run\n", name, cpu);
        }
        return;
    }
    printf("tally: unknown tally.test=%s (known:", name);
    for (unsigned i = 0; i < ARRAY_SIZE(tests); i++)
        printf(" %s", tests[i].name);
    printf("); ignored\n");
}
