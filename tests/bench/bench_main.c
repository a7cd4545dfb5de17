// SPDX-License-Identifier: MIT
// Benchmark runner: runs every registered benchmark, or those named in argv.
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BENCHES 64
static struct {
    const char *name;
    bench_fn fn;
} benches[MAX_BENCHES];
static unsigned nr_benches;

void bench_register(const char *name, bench_fn fn)
{
    if (nr_benches == MAX_BENCHES)
        abort();
    benches[nr_benches].name = name;
    benches[nr_benches].fn = fn;
    nr_benches++;
}

void bench_report(const char *name, double value, const char *unit, double baseline)
{
    printf("bench: %s %.2f %s baseline=%.2f ratio=%.2f\n", name, value, unit, baseline,
           baseline > 0 ? value / baseline : 0.0);
    fflush(stdout);
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bench_best_ns(void (*body)(uint64_t n, void *ctx), void *ctx, uint64_t n, unsigned min_ms)
{
    double best = 1e300;
    uint64_t total = 0;
    unsigned reps = 0;
    body(n / 10 + 1, ctx); /* warm caches and the branch predictor */
    while (reps < 3 || total < (uint64_t)min_ms * 1000000ull) {
        uint64_t t0 = bench_now_ns();
        body(n, ctx);
        uint64_t dt = bench_now_ns() - t0;
        total += dt;
        reps++;
        if ((double)dt / (double)n < best)
            best = (double)dt / (double)n;
    }
    return best;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    /* Registration order depends on the linker; print in a stable order. */
    qsort(benches, nr_benches, sizeof(benches[0]), by_name);
    for (unsigned i = 0; i < nr_benches; i++) {
        int run = argc < 2;
        for (int a = 1; a < argc; a++)
            run |= !strcmp(argv[a], benches[i].name);
        if (run)
            benches[i].fn();
    }
    return 0;
}
