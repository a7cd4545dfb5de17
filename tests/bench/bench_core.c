// SPDX-License-Identifier: MIT
/*
 * Page tracker benchmarks, each against the cost that cannot be avoided:
 *   meta_slot_bytes       slot size vs Asterinas' 64-byte slot
 *   clone_drop            clone+drop pair vs a bare atomic inc+dec pair
 *   alloc_free_order0     page_alloc(0)+page_free vs a singly linked list pop+push
 *   clone_drop_contended  the clone_drop pair on 2 threads sharing one page vs
 *                         the bare pair on 2 threads sharing one counter
 */
#include "bench.h"

#include <pthread.h>

#include "../host/harness.h"
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/page_alloc.h>

BENCH(meta_slot_bytes)
{
    bench_report("meta_slot_bytes", (double)sizeof(struct meta_slot), "bytes", 64);
}

static struct frame bench_frame;
static atomic_u32 bare;

static noinline void clone_drop_loop(uint64_t n, void *ctx)
{
    for (uint64_t i = 0; i < n; i++) {
        struct frame g = frame_clone(bench_frame);
        bench_keep(g.slot);
        frame_drop(g);
    }
}

/* The same orders as clone (relaxed) and drop (release), with no checks. */
static noinline void bare_loop(uint64_t n, void *ctx)
{
    for (uint64_t i = 0; i < n; i++) {
        bench_keep(atomic_fetch_add_u32(&bare, 1, MO_RELAXED));
        bench_keep(atomic_fetch_sub_u32(&bare, 1, MO_RELEASE));
    }
}

BENCH(clone_drop)
{
    sim_ram_setup_simple(16);
    int err;
    bench_frame = frame_alloc((struct frame_meta){0}, &err);
    double base = bench_best_ns(bare_loop, NULL, 2000000, 300);
    double v = bench_best_ns(clone_drop_loop, NULL, 2000000, 300);
    bench_report("clone_drop", v, "ns", base);
    frame_drop(bench_frame);
    sim_ram_teardown();
}

/*
 * The baseline allocator: a plain singly linked free list of page
 * descriptors behind the same interface (out-of-line calls taking and
 * returning physical addresses), with no orders, no checks and no CPUs.
 */
struct node {
    struct node *next;
};

#define SIMPLE_BASE 0x40000000ull
static struct node simple_nodes[1024];
static struct node *simple_head;

static noinline int simple_alloc(paddr_t *out)
{
    struct node *x = simple_head;
    if (!x)
        return ERR_NOMEM;
    simple_head = x->next;
    *out = pa(SIMPLE_BASE + (uint64_t)(x - simple_nodes) * PAGE_SIZE);
    return ERR_OK;
}

static noinline void simple_free(paddr_t p)
{
    struct node *x = &simple_nodes[(pa_val(p) - SIMPLE_BASE) / PAGE_SIZE];
    x->next = simple_head;
    simple_head = x;
}

static noinline void list_loop(uint64_t n, void *ctx)
{
    paddr_t p;
    for (uint64_t i = 0; i < n; i++) {
        simple_alloc(&p);
        bench_keep(p.v);
        simple_free(p);
    }
}

static noinline void alloc_free_loop(uint64_t n, void *ctx)
{
    paddr_t p;
    for (uint64_t i = 0; i < n; i++) {
        page_alloc(0, &p);
        bench_keep(p.v);
        page_free(p, 0);
    }
}

BENCH(alloc_free_order0)
{
    for (unsigned i = 0; i < 1023; i++)
        simple_nodes[i].next = &simple_nodes[i + 1];
    simple_head = &simple_nodes[0];
    sim_ram_setup_simple(16);
    double base = bench_best_ns(list_loop, NULL, 5000000, 300);
    double v = bench_best_ns(alloc_free_loop, NULL, 5000000, 300);
    bench_report("alloc_free_order0", v, "ns", base);
    sim_ram_teardown();
}

struct contended {
    void (*loop)(uint64_t, void *);
    uint64_t n;
    unsigned cpu;
};

static void *contended_thread(void *arg)
{
    struct contended *c = arg;
    fake_set_cpu(c->cpu);
    c->loop(c->n, NULL);
    return NULL;
}

static void two_threads(uint64_t n, void *ctx)
{
    pthread_t t[2];
    struct contended c[2];
    for (unsigned i = 0; i < 2; i++) {
        c[i] = (struct contended){(void (*)(uint64_t, void *))ctx, n, i};
        pthread_create(&t[i], NULL, contended_thread, &c[i]);
    }
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}

BENCH(clone_drop_contended)
{
    sim_ram_setup_simple(16);
    int err;
    bench_frame = frame_alloc((struct frame_meta){0}, &err);
    double base = bench_best_ns(two_threads, (void *)bare_loop, 2000000, 500);
    double v = bench_best_ns(two_threads, (void *)clone_drop_loop, 2000000, 500);
    bench_report("clone_drop_contended", v, "ns", base);
    frame_drop(bench_frame);
    sim_ram_teardown();
}
