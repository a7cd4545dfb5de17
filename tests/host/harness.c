// SPDX-License-Identifier: MIT
// Host test harness: suite registry, simulated RAM, seeds.
#include "harness.h"

#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include <tally/page_alloc.h>
#include <tally/panic.h>

/* --- simulated RAM ------------------------------------------------------ */

static struct {
    uint64_t base, size;
    uint8_t *host;
} sim_banks[META_MAX_BANKS];
static unsigned sim_nr_banks;
static void *sim_slots;

void *arch_phys_to_virt(paddr_t p)
{
    uint64_t a = pa_val(p);
    for (unsigned i = 0; i < sim_nr_banks; i++)
        if (a >= sim_banks[i].base && a - sim_banks[i].base < sim_banks[i].size)
            return sim_banks[i].host + (a - sim_banks[i].base);
    panic("sim: physical address %#" PRIx64 " is not simulated RAM", a);
}

void sim_ram_setup(const struct mem_bank *banks, unsigned n, uint64_t reserve_pages)
{
    sim_ram_teardown();
    for (unsigned i = 0; i < n; i++) {
        void *m = mmap(NULL, banks[i].size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            abort();
        sim_banks[i].base = pa_val(banks[i].base);
        sim_banks[i].size = banks[i].size;
        sim_banks[i].host = m;
    }
    sim_nr_banks = n;
    size_t bytes = meta_bytes_needed(banks, n);
    sim_slots = aligned_alloc(64, ALIGN_UP(bytes, 64));
    if (!sim_slots || meta_init(banks, n, sim_slots) != 0)
        abort();
    page_alloc_init();
    for (unsigned i = 0; i < n; i++) {
        uint64_t skip = i == 0 ? reserve_pages : 0;
        page_alloc_add(pa_add(banks[i].base, skip * PAGE_SIZE), banks[i].size / PAGE_SIZE - skip);
    }
}

void sim_ram_setup_simple(uint64_t mib)
{
    struct mem_bank b = {pa(0x40000000), mib << 20};
    sim_ram_setup(&b, 1, 0);
}

void sim_ram_teardown(void)
{
    for (unsigned i = 0; i < sim_nr_banks; i++)
        munmap(sim_banks[i].host, sim_banks[i].size);
    sim_nr_banks = 0;
    free(sim_slots);
    sim_slots = NULL;
}

/* --- randomness ----------------------------------------------------------- */

uint64_t test_seed(const char *what)
{
    const char *s = getenv("TALLY_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    if (!seed)
        seed = 1;
    printf("%s: seed %" PRIu64 " (rerun with TALLY_SEED=%" PRIu64 ")\n", what, seed, seed);
    fflush(stdout);
    return seed;
}

uint64_t test_iterations(const char *env, uint64_t dflt)
{
    const char *s = getenv(env);
    return s ? strtoull(s, NULL, 0) : dflt;
}

/* --- panics --------------------------------------------------------------- */

const char *expect_panic_(void (*fn)(void *), void *arg, const char *const *needles,
                          const char *file, int line)
{
    static char msg[4096];
    int fds[2];
    ck_assert_msg(pipe(fds) == 0, "%s:%d: pipe", file, line);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0); /* no panic: the parent reports it */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], msg + len, sizeof(msg) - 1 - len)) > 0)
        len += (size_t)n;
    msg[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "%s:%d: expected a panic, child %s (output: %s)", file, line,
                  WIFEXITED(status) ? "returned normally" : "died otherwise", msg);
    ck_assert_msg(strstr(msg, "panic: ") != NULL, "%s:%d: no panic message in: %s", file, line,
                  msg);
    for (const char *const *nd = needles; *nd; nd++)
        ck_assert_msg(strstr(msg, *nd) != NULL, "%s:%d: panic message lacks \"%s\": %s", file, line,
                      *nd, msg);
    return msg;
}

/* --- checks in worker threads --------------------------------------------- */

static atomic_u32 thread_failures;
static char thread_failure[256]; /* the first failure, written by its winner */

void thread_check_failed(const char *what, const char *file, int line)
{
    /* Relaxed: the join in the main thread orders the message write. */
    if (atomic_fetch_add_u32(&thread_failures, 1, MO_RELAXED) == 0)
        snprintf(thread_failure, sizeof(thread_failure), "%s:%d: %s", file, line, what);
}

void thread_checks_reset(void)
{
    atomic_store_u32(&thread_failures, 0, MO_RELAXED);
    thread_failure[0] = 0;
}

void thread_checks_passed(void)
{
    uint32_t n = atomic_load_u32(&thread_failures, MO_RELAXED);
    ck_assert_msg(n == 0, "%u check(s) failed in worker threads, first: %s", n, thread_failure);
}

/* --- device-tree blobs ----------------------------------------------------- */

void *harness_load_dtb(const char *name, size_t *size)
{
    const char *dir = getenv("TALLY_DT_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.dtb", dir && *dir ? dir : "build/dt", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s (make dt-blobs builds it)", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_gt(n, 0);
    rewind(f);
    void *blob = malloc((size_t)n);
    ck_assert_ptr_nonnull(blob);
    ck_assert_uint_eq(fread(blob, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    if (size)
        *size = (size_t)n;
    return blob;
}

void *harness_load_dtb_editable(const char *name, size_t extra)
{
    size_t n;
    void *blob = harness_load_dtb(name, &n);
    void *b = malloc(n + extra);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fdt_open_into(blob, b, (int)(n + extra)), 0);
    free(blob);
    return b;
}
