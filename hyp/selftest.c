// SPDX-License-Identifier: MIT
// The test switch, tally.test=NAME in /chosen/bootargs (docs/boot.md): one
// image that fails on purpose, or exercises a path no boot takes yet, for
// the QEMU scenario tests.
//
//   stack-overflow  recurse on CPU 0's stack into its guard page
//   bad-access      read an unmapped address (a decoded translation fault)
//   write-text      write to the image's text (a permission fault: W^X)
//   leak-page       forget a frame reference (the accounting says leaked=1)
//   stage2          build a guest-style stage-2 tree, map frames, unmap,
//                   destroy: the stage-2 TLB invalidations run on the real
//                   CPU, and every page must come back
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

void selftest_run(const char *t)
{
    if (!strcmp(t, "stack-overflow")) {
        volatile uint64_t depth = 0;
        printf("tally: test stack-overflow: recursing on CPU %u's stack (guard page 0x%lx)\n",
               this_cpu()->id, this_cpu()->stack_guard_va);
        recurse(&depth);
        panic("test stack-overflow: the recursion returned");
    } else if (!strcmp(t, "bad-access")) {
        volatile uint64_t *bad = (volatile uint64_t *)(hyp_platform.stack_va_base - (1ull << 30));
        printf("tally: test bad-access: reading unmapped address %p\n", (void *)bad);
        (void)*bad;
        panic("test bad-access: the read of %p did not fault", (void *)bad);
    } else if (!strcmp(t, "write-text")) {
        volatile uint32_t *code = (volatile uint32_t *)(uintptr_t)selftest_run;
        printf("tally: test write-text: writing to the image's text at %p\n", (void *)code);
        *code = 0xd503201f; /* NOP */
        panic("test write-text: the write to %p did not fault", (void *)code);
    } else if (!strcmp(t, "leak-page")) {
        int err;
        struct frame f = frame_alloc((struct frame_meta){.owner_vm = OWNER_HYP}, &err);
        if (err != ERR_OK)
            panic("test leak-page: frame_alloc: %s", tally_strerror(err));
        /* The handle goes out of scope still holding its reference: no owner
         * reaches the page, so the accounting must count it as leaked. */
        printf("tally: test leak-page: forgetting a reference to frame 0x%lx\n",
               pa_val(frame_paddr(f)));
    } else if (!strcmp(t, "stage2")) {
        test_stage2();
    } else {
        printf("tally: unknown tally.test=%s (known: stack-overflow, bad-access, write-text, "
               "leak-page, stage2); ignored\n",
               t);
    }
}
