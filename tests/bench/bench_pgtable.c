// SPDX-License-Identifier: MIT
/*
 * Page-table engine benchmarks: a guest's stage-2 mapping of 1 GiB of frames.
 *   stage2_map_1g_4k           ns per page, mapping 1 GiB as 4 KiB pages, vs
 *                              writing the same descriptors into preallocated
 *                              tables plus one atomic increment per page
 *   stage2_unmap_1g_4k         ns per page, unmapping it, vs writing zeros plus
 *                              one atomic (release) decrement per page
 *   stage2_map_1g_2m           ns for the GiB as 2 MiB blocks, vs the 4 KiB map:
 *                              the frames typed as 1 GiB compound pages, so
 *                              each block owns one reference
 *   stage2_map_1g_1g           ns for the GiB as one 1 GiB block, vs the 4 KiB map
 *   stage2_map_1g_2m_frames,   the same over separately typed frames: one
 *   stage2_map_1g_1g_frames    reference per 4 KiB page
 *   stage2_tables_1g_4k_bytes  table memory for the GiB as pages, vs the 2 MiB
 *                              of level-3 tables it needs at least
 *   stage2_map_4k_single       ns per page, mapping the GiB page by page (262144
 *                              calls, as a fault handler would), vs the same
 *                              baseline as stage2_map_1g_4k
 *   stage2_unmap_4k_single     ns per page, unmapping it page by page (each call
 *                              a TLBI of its IPA and a VMALLE1IS on the fake
 *                              arch, which only records them), vs the baseline
 *                              of stage2_unmap_1g_4k
 * Each figure is the best of several rounds (the least disturbed by the rest
 * of the machine); the baselines are measured in the same run.
 */
#include "bench.h"

#include <stdlib.h>

#include "../host/harness.h"
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/pgtable.h>

#define GiB        (1ull << 30)
#define MiB        (1ull << 20)
#define PAGES_1G   (GiB / PAGE_SIZE)
#define ROUNDS     8
#define BENCH_IA   GiB
#define FRAMES_EXT (PAGES_1G + 512) /* 1 GiB + 2 MiB of frames */

static paddr_t frames_base;

/* 1 GiB + 2 MiB of frames from two adjacent 1 GiB blocks, so the same GiB of
 * input can be mapped from base (one 1 GiB block), base + 2 MiB (2 MiB
 * blocks) or base + 4 KiB (pages only). */
static void frames_setup(void)
{
    paddr_t a, b;
    /* Time the engine, not the fake arch's event log (real hardware pays a
     * DSB and the TLBI broadcasts there instead, which no host can time). */
    fake_events_off = true;
    sim_ram_setup_simple(3072);
    if (page_alloc(18, &a) != ERR_OK || page_alloc(18, &b) != ERR_OK)
        abort();
    if (pa_val(b) == pa_val(a) + GiB)
        frames_base = a;
    else if (pa_val(a) == pa_val(b) + GiB)
        frames_base = b;
    else
        abort();
    for (uint64_t i = 0; i < FRAMES_EXT; i++)
        frame_from_unused(pa_add(frames_base, i * PAGE_SIZE), (struct frame_meta){.owner_vm = 1});
}

static void must(int err)
{
    if (err != ERR_OK)
        abort();
}

/* Best ns of map and of unmap of the GiB from pa, over ROUNDS rounds. */
static void time_map_unmap(paddr_t p, double *map_ns, double *unmap_ns, uint64_t *tables)
{
    *map_ns = *unmap_ns = 1e300;
    for (unsigned r = 0; r < ROUNDS; r++) {
        struct aspace as;
        must(aspace_init(&as, PT_STAGE2, 40, 1, 1));
        uint64_t t0 = bench_now_ns();
        must(pt_map_frames(&as, BENCH_IA, p, GiB, PT_R | PT_W));
        uint64_t t1 = bench_now_ns();
        *tables = as.nr_tables;
        must(pt_unmap(&as, BENCH_IA, GiB));
        uint64_t t2 = bench_now_ns();
        aspace_destroy(&as);
        fake_events_reset();
        if ((double)(t1 - t0) < *map_ns)
            *map_ns = (double)(t1 - t0);
        if ((double)(t2 - t1) < *unmap_ns)
            *unmap_ns = (double)(t2 - t1);
    }
}

/*
 * The cost that cannot be avoided: the same 262144 page descriptors written
 * (whole-word stores, as the engine must) into 512 preallocated tables, and
 * one atomic on each page's count; then zeros and the decrements.
 */
static void time_baseline(paddr_t p, double *map_ns, double *unmap_ns)
{
    pte_t *tables = aligned_alloc(PAGE_SIZE, PAGES_1G * sizeof(pte_t));
    struct meta_slot *s0 = meta_slot(p);
    pte_t attrs = pt_prot_to_attrs(PT_STAGE2, PT_R | PT_W) | PTE_SW_OWNED | PTE_TYPE_PAGE;
    if (!tables)
        abort();
    *map_ns = *unmap_ns = 1e300;
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t t0 = bench_now_ns();
        pte_t d = attrs | pa_val(p);
        for (uint64_t i = 0; i < PAGES_1G; i++, d += PAGE_SIZE) {
            *(volatile pte_t *)&tables[i] = d;
            atomic_fetch_add_u32(&s0[i].ref_count, 1, MO_RELAXED);
        }
        uint64_t t1 = bench_now_ns();
        for (uint64_t i = 0; i < PAGES_1G; i++) {
            *(volatile pte_t *)&tables[i] = 0;
            atomic_fetch_sub_u32(&s0[i].ref_count, 1, MO_RELEASE);
        }
        uint64_t t2 = bench_now_ns();
        if ((double)(t1 - t0) < *map_ns)
            *map_ns = (double)(t1 - t0);
        if ((double)(t2 - t1) < *unmap_ns)
            *unmap_ns = (double)(t2 - t1);
    }
    free(tables);
}

/* Best ns of mapping, then unmapping, the GiB from pa one page per call. */
static void time_single(paddr_t p, double *map_ns, double *unmap_ns)
{
    *map_ns = *unmap_ns = 1e300;
    for (unsigned r = 0; r < ROUNDS; r++) {
        struct aspace as;
        must(aspace_init(&as, PT_STAGE2, 40, 1, 1));
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < PAGES_1G; i++)
            must(pt_map_frames(&as, BENCH_IA + i * PAGE_SIZE, pa_add(p, i * PAGE_SIZE), PAGE_SIZE,
                               PT_R | PT_W));
        uint64_t t1 = bench_now_ns();
        for (uint64_t i = 0; i < PAGES_1G; i++)
            must(pt_unmap(&as, BENCH_IA + i * PAGE_SIZE, PAGE_SIZE));
        uint64_t t2 = bench_now_ns();
        aspace_destroy(&as);
        fake_events_reset();
        if ((double)(t1 - t0) < *map_ns)
            *map_ns = (double)(t1 - t0);
        if ((double)(t2 - t1) < *unmap_ns)
            *unmap_ns = (double)(t2 - t1);
    }
}

BENCH(stage2_pgtable)
{
    frames_setup();
    double base_map, base_unmap, map4k, unmap4k, map2m, unmap2m, map1g, unmap1g, map1, unmap1;
    double map2m_f, map1g_f, unused;
    uint64_t tables4k, tables;
    time_baseline(pa_add(frames_base, PAGE_SIZE), &base_map, &base_unmap);
    time_map_unmap(pa_add(frames_base, PAGE_SIZE), &map4k, &unmap4k, &tables4k);
    time_map_unmap(pa_add(frames_base, 2 * MiB), &map2m_f, &unused, &tables);
    time_map_unmap(frames_base, &map1g_f, &unused, &tables);
    time_single(pa_add(frames_base, PAGE_SIZE), &map1, &unmap1);

    /* The same 2 GiB retyped as two 1 GiB compound pages. */
    for (uint64_t i = 0; i < FRAMES_EXT; i++)
        frame_drop((struct frame){meta_slot(pa_add(frames_base, i * PAGE_SIZE))});
    /* The untyped rest of the second GiB, in aligned blocks. */
    for (uint64_t i = FRAMES_EXT; i < 2 * PAGES_1G;) {
        unsigned k = (unsigned)__builtin_ctzll(i);
        page_free(pa_add(frames_base, i * PAGE_SIZE), k);
        i += 1ull << k;
    }
    page_alloc_drain();
    /* All three GiBs of the simulated RAM: the lowest two are adjacent. */
    paddr_t g[3];
    for (unsigned i = 0; i < 3; i++)
        must(page_alloc(18, &g[i]));
    for (unsigned i = 0; i < 3; i++)
        for (unsigned j = i + 1; j < 3; j++)
            if (pa_val(g[j]) < pa_val(g[i])) {
                paddr_t t = g[i];
                g[i] = g[j];
                g[j] = t;
            }
    page_free(g[2], 18);
    struct frame ca = frame_block_from_unused(g[0], 18, (struct frame_meta){.owner_vm = 1});
    struct frame cb = frame_block_from_unused(g[1], 18, (struct frame_meta){.owner_vm = 1});
    frames_base = g[0];
    time_map_unmap(pa_add(frames_base, 2 * MiB), &map2m, &unmap2m, &tables);
    time_map_unmap(frames_base, &map1g, &unmap1g, &tables);
    frame_drop(ca);
    frame_drop(cb);

    bench_report("stage2_map_1g_4k", map4k / PAGES_1G, "ns", base_map / PAGES_1G);
    bench_report("stage2_unmap_1g_4k", unmap4k / PAGES_1G, "ns", base_unmap / PAGES_1G);
    bench_report("stage2_map_1g_2m", map2m, "ns", map4k);
    bench_report("stage2_map_1g_1g", map1g, "ns", map4k);
    bench_report("stage2_map_1g_2m_frames", map2m_f, "ns", map4k);
    bench_report("stage2_map_1g_1g_frames", map1g_f, "ns", map4k);
    bench_report("stage2_map_4k_single", map1 / PAGES_1G, "ns", base_map / PAGES_1G);
    bench_report("stage2_unmap_4k_single", unmap1 / PAGES_1G, "ns", base_unmap / PAGES_1G);
    bench_report("stage2_tables_1g_4k_bytes", (double)(tables4k * PAGE_SIZE), "bytes",
                 (double)(PAGES_1G * sizeof(pte_t)));
    sim_ram_teardown();
    fake_events_off = false;
}
