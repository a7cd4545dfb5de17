/* SPDX-License-Identifier: MIT */
/*
 * Benchmark harness. Every figure is printed next to a baseline measured in
 * the same run, as a ratio:
 *
 *   bench: NAME VALUE UNIT baseline=VALUE ratio=X
 *
 * A benchmark file registers itself with BENCH(name) { ... } and reports with
 * bench_report(). `build/bench/bench [NAME...]` runs all or the named ones.
 * Timings never decide a test: `make bench` only prints.
 */
#ifndef TALLY_BENCH_H
#define TALLY_BENCH_H

#include <stdint.h>

typedef void (*bench_fn)(void);
void bench_register(const char *name, bench_fn fn);

#define BENCH(name)                                                                                \
    static void bench_##name(void);                                                                \
    __attribute__((constructor)) static void register_bench_##name(void)                           \
    {                                                                                              \
        bench_register(#name, bench_##name);                                                       \
    }                                                                                              \
    static void bench_##name(void)

void bench_report(const char *name, double value, const char *unit, double baseline);

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * Run body(n, ctx) for n iterations, repeated until at least `min_ms` have
 * passed in total, and return the best (lowest) ns per iteration seen over
 * the repetitions: the figure least disturbed by the rest of the machine.
 */
double bench_best_ns(void (*body)(uint64_t n, void *ctx), void *ctx, uint64_t n, unsigned min_ms);

/* Keep a value alive past the optimiser. */
#define bench_keep(x) __asm__ volatile("" : : "r"(x) : "memory")

#endif
