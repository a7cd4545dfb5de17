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
