/* SPDX-License-Identifier: MIT */
/*
 * Host test harness: suites register themselves (no shared list to edit),
 * a simulated physical memory backs the page tracker, and the fake
 * architecture records TLB maintenance for tests to assert.
 */
#ifndef TALLY_TESTS_HARNESS_H
#define TALLY_TESTS_HARNESS_H

#include <check.h>
#include <signal.h>
#include <tally/arch.h>
#include <tally/meta.h>

typedef Suite *(*suite_fn)(void);
void harness_register_suite(const char *name, suite_fn fn);

/* In a test file: TALLY_SUITE(meta) registers Suite *meta_suite(void). */
#define TALLY_SUITE(name)                                                                          \
    Suite *name##_suite(void);                                                                     \
    __attribute__((constructor)) static void register_##name##_suite(void)                         \
    {                                                                                              \
        harness_register_suite(#name, name##_suite);                                               \
    }

/*
 * Simulated RAM: host memory standing in for physical banks. sim_ram_setup()
 * maps the banks, builds the slot array (in separate host memory), and gives
 * every page to the allocator except `reserve_pages` at the start of bank 0
 * (left PAGE_RESERVED). sim_ram_teardown() unmaps everything.
 */
void sim_ram_setup(const struct mem_bank *banks, unsigned n, uint64_t reserve_pages);
/* One bank of `mib` MiB at 0x40000000, nothing reserved. */
void sim_ram_setup_simple(uint64_t mib);
void sim_ram_teardown(void);

/* Fake architecture: the calling thread's CPU id (default 0). */
void fake_set_cpu(unsigned cpu);

/* A recorded maintenance event. */
enum fake_event_kind {
    EV_TLBI_EL2_VA,
    EV_TLBI_EL2_ALL,
    EV_TLBI_IPA,       /* TLBI IPAS2E1IS of one address */
    EV_TLBI_IPA_RANGE, /* range TLBI: `pages` pages from addr (fake_tlbi_range) */
    EV_TLBI_VMALLE1,   /* TLBI VMALLE1IS: the VMID's stage-1 entries, once per batch */
    EV_TLBI_VMID,
    EV_PTE_SYNC,
};
struct fake_event {
    enum fake_event_kind kind;
    uint64_t addr; /* VA or IPA */
    uint16_t vmid;
    uint64_t seq;   /* global sequence number, shared with fake_seq() */
    uint64_t pages; /* EV_TLBI_IPA_RANGE only */
};
/* Whether the fake CPU has FEAT_TLBIRANGE (default false): runs of more than
 * one entry are then recorded as one EV_TLBI_IPA_RANGE each. */
extern bool fake_tlbi_range;
/* Benchmarks set this: nothing is recorded (two atomics and a store per
 * event would be timed as the engine's cost). Tests leave it false. */
extern bool fake_events_off;
/* Recording is per process; tests read and reset it single-threaded. */
void fake_events_reset(void);
unsigned fake_events_count(void);
const struct fake_event *fake_event(unsigned i);
/* Number of recorded events of one kind. */
unsigned fake_events_of(enum fake_event_kind k);
/* Next global sequence number: lets a test stamp its own steps (e.g. "entry
 * written") and compare order with recorded invalidations. */
uint64_t fake_seq(void);
/* Pages arch_page_zero() has zeroed since the process started. */
uint64_t fake_pages_zeroed(void);
/* Called by the fake arch on every event if set (e.g. to snapshot a PTE). */
extern void (*fake_event_hook)(const struct fake_event *ev);

/*
 * Read build/dt/NAME.dtb (or $TALLY_DT_DIR/NAME.dtb; make dt-blobs builds
 * them) into a malloc'd buffer of exactly its size, asserting on any error.
 * The caller frees it.
 */
void *harness_load_dtb(const char *name, size_t *size);
/* The same blob opened into a buffer `extra` bytes larger (fdt_open_into),
 * so a test can edit it with fdt_setprop and friends. */
void *harness_load_dtb_editable(const char *name, size_t extra);

/* Seed for randomised tests: $TALLY_SEED if set, else time-based; printed. */
uint64_t test_seed(const char *what);
/* Iterations for randomised tests: $name if set, else dflt. */
uint64_t test_iterations(const char *env, uint64_t dflt);
/* xorshift64* */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif

/*
 * Run fn(arg) in a child process and assert that it panics with a message
 * containing every string in `needles` (NULL-terminated). Returns the
 * panic message for further checks (static buffer).
 */
const char *expect_panic_(void (*fn)(void *), void *arg, const char *const *needles,
                          const char *file, int line);
#define expect_panic(fn, arg, ...)                                                                 \
    expect_panic_(fn, arg, (const char *const[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)

/*
 * check's ck_assert is not thread-safe (it records the last checkpoint in a
 * global), so worker threads use thread_check() and the test's main thread
 * asserts thread_checks_passed() after joining them.
 */
#define thread_check(cond)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            thread_check_failed(#cond, __FILE__, __LINE__);                                        \
    } while (0)
void thread_check_failed(const char *what, const char *file, int line);
void thread_checks_reset(void);
/* Asserts (in the calling thread) that no thread_check() failed. */
void thread_checks_passed(void);
