// SPDX-License-Identifier: MIT
/*
 * Model-based random test of the page tracker: random sequences of
 * alloc / clone / try_clone / drop / into_raw / from_raw / block alloc+free
 * against a plain reference model. After every step the touched page's
 * reference count and usage, the free count and the per-usage census agree
 * with the model; every 4096 steps every page is compared.
 * TALLY_MODEL_OPS sets the number of steps (default 1,000,000); the seed is
 * printed and TALLY_SEED replays it.
 */
#include "../host/harness.h"

#include <stdlib.h>
#include <string.h>

#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

TALLY_SUITE(model_core)

#define RAM_MIB     16
#define NPAGES      (RAM_MIB * 256)
#define BASE        0x40000000ull
#define MAX_HANDLES 512
#define MAX_BLOCKS  16

struct model_page {
    uint32_t refs; /* 0: not live */
    enum page_usage usage;
    bool block; /* part of an untyped block taken with page_alloc */
};

static struct model_page model[NPAGES];
static struct dyn_page handles[MAX_HANDLES];
static unsigned nr_handles;
static paddr_t raws[MAX_HANDLES];
static unsigned nr_raws;
static struct {
    paddr_t p;
    unsigned order;
} blocks[MAX_BLOCKS];
static unsigned nr_blocks;
static uint64_t model_free;
static uint64_t model_usage[PAGE_USAGE_COUNT];
static uint64_t step;
static uint64_t seed;

static unsigned idx_of(paddr_t p)
{
    return (unsigned)((pa_val(p) - BASE) >> PAGE_SHIFT);
}

#define model_assert(cond, fmt, ...)                                                               \
    ck_assert_msg(cond, "step %llu (TALLY_SEED=%llu): " fmt, (unsigned long long)step,             \
                  (unsigned long long)seed, ##__VA_ARGS__)

static void check_page(unsigned i)
{
    struct meta_slot *s = meta_slot(pa(BASE + (uint64_t)i * PAGE_SIZE));
    uint32_t ref = page_slot_ref_count(s);
    if (model[i].refs) {
        model_assert(ref == model[i].refs, "page %u ref %u, model %u", i, ref, model[i].refs);
        model_assert(page_slot_usage(s) == model[i].usage, "page %u usage %d, model %d", i,
                     page_slot_usage(s), model[i].usage);
    } else {
        model_assert(ref == REF_UNUSED, "page %u ref %#x, model unused", i, ref);
        model_assert(page_slot_usage(s) == PAGE_UNUSED, "page %u usage %d, model unused", i,
                     page_slot_usage(s));
    }
}

static void check_census(void)
{
    struct page_census c;
    page_census(&c);
    model_assert(c.free == model_free, "free %llu, model %llu", (unsigned long long)c.free,
                 (unsigned long long)model_free);
    for (unsigned u = PAGE_FRAME; u < PAGE_USAGE_COUNT; u++)
        model_assert(c.by_usage[u] == model_usage[u], "usage %u: %llu, model %llu", u,
                     (unsigned long long)c.by_usage[u], (unsigned long long)model_usage[u]);
}

static void op_alloc(uint64_t *rng)
{
    if (nr_handles == MAX_HANDLES)
        return;
    enum page_usage u = PAGE_FRAME + (enum page_usage)(test_rand(rng) % 3);
    int err;
    struct dyn_page d;
    if (u == PAGE_FRAME)
        d = frame_into_dyn(frame_alloc((struct frame_meta){.owner_vm = 1}, &err));
    else if (u == PAGE_PT)
        d = pt_page_into_dyn(pt_page_alloc((struct pt_meta){.stage = 2}, &err));
    else
        d = kstack_into_dyn(kstack_alloc((struct kstack_meta){.cpu = 0}, &err));
    if (model_free == 0) {
        model_assert(err == ERR_NOMEM, "alloc with no free page gave %d", err);
        return;
    }
    model_assert(err == ERR_OK, "alloc failed with %d free", (int)model_free);
    unsigned i = idx_of(dyn_page_paddr(d));
    model_assert(model[i].refs == 0 && !model[i].block, "alloc returned live page %u", i);
    model[i].refs = 1;
    model[i].usage = u;
    model_free--;
    model_usage[u]++;
    handles[nr_handles++] = d;
    check_page(i);
}

static void op_clone(uint64_t *rng, bool try)
{
    if (!nr_handles || nr_handles == MAX_HANDLES)
        return;
    struct dyn_page d = handles[test_rand(rng) % nr_handles], c;
    if (try)
        model_assert(dyn_page_try_clone(d, &c) == ERR_OK, "try_clone refused");
    else
        c = dyn_page_clone(d);
    unsigned i = idx_of(dyn_page_paddr(c));
    model[i].refs++;
    handles[nr_handles++] = c;
    check_page(i);
}

static void op_drop(uint64_t *rng)
{
    if (!nr_handles)
        return;
    unsigned h = (unsigned)(test_rand(rng) % nr_handles);
    struct dyn_page d = handles[h];
    handles[h] = handles[--nr_handles];
    unsigned i = idx_of(dyn_page_paddr(d));
    enum page_usage u = model[i].usage;
    dyn_page_drop(d);
    if (--model[i].refs == 0) {
        model_free++;
        model_usage[u]--;
    }
    check_page(i);
}

static void op_into_raw(uint64_t *rng)
{
    if (!nr_handles || nr_raws == MAX_HANDLES)
        return;
    unsigned h = (unsigned)(test_rand(rng) % nr_handles);
    struct dyn_page d = handles[h];
    handles[h] = handles[--nr_handles];
    raws[nr_raws++] = dyn_page_into_raw(d);
    check_page(idx_of(raws[nr_raws - 1]));
}

static void op_from_raw(uint64_t *rng)
{
    if (!nr_raws || nr_handles == MAX_HANDLES)
        return;
    unsigned r = (unsigned)(test_rand(rng) % nr_raws);
    paddr_t p = raws[r];
    raws[r] = raws[--nr_raws];
    unsigned i = idx_of(p);
    struct dyn_page d;
    /* Half the time through the typed path, which also checks the usage. */
    if (test_rand(rng) & 1) {
        d = dyn_page_from_raw(p);
    } else if (model[i].usage == PAGE_FRAME) {
        d = frame_into_dyn(frame_from_raw(p));
    } else if (model[i].usage == PAGE_PT) {
        d = pt_page_into_dyn(pt_page_from_raw(p));
    } else {
        d = kstack_into_dyn(kstack_from_raw(p));
    }
    handles[nr_handles++] = d;
    check_page(i);
}

static void op_block(uint64_t *rng)
{
    if (nr_blocks && (nr_blocks == MAX_BLOCKS || (test_rand(rng) & 1))) {
        unsigned b = (unsigned)(test_rand(rng) % nr_blocks);
        page_free(blocks[b].p, blocks[b].order);
        unsigned i = idx_of(blocks[b].p);
        for (unsigned k = 0; k < (1u << blocks[b].order); k++) {
            model[i + k].block = false;
            check_page(i + k);
        }
        model_free += 1u << blocks[b].order;
        blocks[b] = blocks[--nr_blocks];
        return;
    }
    unsigned order = 1 + (unsigned)(test_rand(rng) % 6);
    paddr_t p;
    if (page_alloc(order, &p) != ERR_OK)
        return; /* fragmentation may refuse an order; the census check covers it */
    model_assert(IS_ALIGNED(pa_val(p), PAGE_SIZE << order), "block misaligned");
    unsigned i = idx_of(p);
    for (unsigned k = 0; k < (1u << order); k++) {
        model_assert(!model[i + k].refs && !model[i + k].block, "block overlaps live page");
        model[i + k].block = true;
    }
    model_free -= 1u << order;
    blocks[nr_blocks].p = p;
    blocks[nr_blocks].order = order;
    nr_blocks++;
}

START_TEST(test_random_operations_agree_with_model)
{
    sim_ram_setup_simple(RAM_MIB);
    memset(model, 0, sizeof(model));
    memset(model_usage, 0, sizeof(model_usage));
    nr_handles = nr_raws = nr_blocks = 0;
    model_free = NPAGES;
    seed = test_seed("model_core");
    uint64_t rng = seed;
    uint64_t ops = test_iterations("TALLY_MODEL_OPS", 1000000);
    for (step = 0; step < ops; step++) {
        unsigned r = (unsigned)(test_rand(&rng) % 100);
        if (r < 25)
            op_alloc(&rng);
        else if (r < 40)
            op_clone(&rng, false);
        else if (r < 45)
            op_clone(&rng, true);
        else if (r < 75)
            op_drop(&rng);
        else if (r < 85)
            op_into_raw(&rng);
        else if (r < 95)
            op_from_raw(&rng);
        else
            op_block(&rng);
        check_census();
        if ((step & 4095) == 0)
            for (unsigned i = 0; i < NPAGES; i++)
                check_page(i);
    }
    /* Return everything: the allocator must be whole again. */
    while (nr_raws || nr_handles) {
        if (nr_raws && nr_handles < MAX_HANDLES)
            op_from_raw(&rng);
        else
            op_drop(&rng);
    }
    while (nr_blocks) {
        page_free(blocks[nr_blocks - 1].p, blocks[nr_blocks - 1].order);
        nr_blocks--;
    }
    page_alloc_drain();
    ck_assert_uint_eq(page_alloc_free_pages(), NPAGES);
    ck_assert_uint_eq(page_alloc_free_blocks(12), 1); /* 16 MiB, one block again */
    struct page_census c;
    page_census(&c);
    for (unsigned u = PAGE_FRAME; u < PAGE_USAGE_COUNT; u++)
        ck_assert_uint_eq(c.by_usage[u], 0);
    sim_ram_teardown();
}
END_TEST

Suite *model_core_suite(void)
{
    Suite *s = suite_create("model_core");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_random_operations_agree_with_model);
    suite_add_tcase(s, tc);
    return s;
}
