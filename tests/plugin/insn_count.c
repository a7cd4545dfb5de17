// SPDX-License-Identifier: MIT
// insn_count: a minimal QEMU TCG plugin that counts the guest instructions
// executed on all vCPUs and prints `insns: N` when QEMU exits. Used by
// scripts/bench-boot.sh under `-icount shift=0,sleep=off`, where the count is
// bit-exact from run to run.
//
//   -plugin build/plugin/libinsn_count.so[,stop=hvc|stop=smc][,range=LO-HI][,profile=K]
//
// stop=hvc / stop=smc: stop counting at the first `HVC #0` / `SMC #0` executed
// with x0 = PSCI SYSTEM_OFF (the instruction itself counted). QEMU powers the
// machine off asynchronously, from its main loop; this pins the end of the
// count to the call itself rather than to when the vCPUs are stopped (for
// Linux on QEMU both give the same count today). The conduit is the one that
// reaches QEMU's own PSCI: HVC from a kernel at EL1 with no EL2, SMC from a
// hypervisor at EL2 (a guest's HVC is then the hypervisor's business).
//
// Each translation block gets one execution callback whose user data is the
// block's instruction count; the callback adds it to a global total. A block
// left part-way (an exception or an I/O exit in its middle) still counts
// whole, deterministically. The inline per-vCPU scoreboard API would be
// cheaper, but QEMU 10.0 aborts ("arm_mmu_idx_el: code should not be
// reached") when a scoreboard grows as a second vCPU first runs under
// single-threaded TCG, which -icount forces; the callback path avoids that.
//
// range=LO-HI (hex virtual addresses): also count, separately, the blocks
// that start in [LO, HI), printed as `insns_in_range: N` (with stop=, up to
// the same point). A diagnostic: e.g. Tally's identity-mapped text, to split
// a guest boot into hypervisor and guest instructions. It goes by address
// only, so a guest running with its MMU off at the same addresses (an arm64
// kernel's first instructions) counts too.
//
// profile=K: also print the K block start addresses that executed the most
// instructions (`profile: 0xVADDR N`, up to the stop= point), to find where a
// count goes; map guest kernel addresses with the guest's /proc/kallsyms.
//
// Debian ships no qemu-plugin.h, so the few types and functions used are
// declared here, as QEMU 10.0's include/qemu/qemu-plugin.h defines them
// (plugin API version 4; QEMU accepts a plugin whose version lies between
// its minimum and current ones).

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT      __attribute__((visibility("default")))
#define QEMU_PLUGIN_API_VERSION 4

typedef uint64_t qemu_plugin_id_t;

typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_register;

/* glib's public array types (QEMU links glib; the plugin uses its symbols). */
typedef struct {
    char *data;
    unsigned int len;
} GArray;
typedef struct {
    uint8_t *data;
    unsigned int len;
} GByteArray;
GByteArray *g_byte_array_new(void);
uint8_t *g_byte_array_free(GByteArray *array, int free_segment);
char *g_array_free(GArray *array, int free_segment);

typedef struct {
    struct qemu_plugin_register *handle;
    const char *name;
    const char *feature;
} qemu_plugin_reg_descriptor;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_simple_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_init_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
GArray *qemu_plugin_get_registers(void);
int qemu_plugin_read_register(struct qemu_plugin_register *handle, GByteArray *buf);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_API_VERSION;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv);

#define PSCI_SYSTEM_OFF 0x84000008U
#define INSN_HVC0       0xd4000002U
#define INSN_SMC0       0xd4000003U

/* Instructions executed, all vCPUs. Relaxed atomic adds from the vCPU
 * threads (with multi-threaded TCG several run at once); read once at exit,
 * after QEMU has stopped every vCPU thread. */
static uint64_t total;
/* Set once, at the SYSTEM_OFF call (stop=...): the count to report. */
static uint64_t stopped_total;
/* range=: the same, for blocks starting in [range_lo, range_hi). */
static uint64_t range_total, range_stopped_total;
static uint64_t range_lo, range_hi;
static bool stopped;
static uint32_t stop_insn; /* 0: count until QEMU exits */
static struct qemu_plugin_register *x0_handle;

/* profile=: one record per translated block, kept for the report. */
struct tb_stat {
    uint64_t vaddr;
    uint64_t n;     /* instructions in the block */
    uint64_t execs; /* relaxed atomic increments by the vCPU threads */
};
static unsigned profile_top;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the array */
static struct tb_stat **stats;
static size_t nstats, stats_cap;

static void tb_exec(unsigned int vcpu_index, void *userdata)
{
    __atomic_fetch_add(&total, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void tb_exec_in_range(unsigned int vcpu_index, void *userdata)
{
    __atomic_fetch_add(&total, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
    __atomic_fetch_add(&range_total, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void tb_exec_profiled(unsigned int vcpu_index, void *userdata)
{
    struct tb_stat *st = userdata;
    bool in_range = st->vaddr >= range_lo && st->vaddr < range_hi;
    tb_exec(vcpu_index, (void *)(uintptr_t)st->n);
    if (in_range)
        __atomic_fetch_add(&range_total, st->n, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&stopped, __ATOMIC_RELAXED))
        __atomic_fetch_add(&st->execs, 1, __ATOMIC_RELAXED);
}

static struct tb_stat *stat_new(uint64_t vaddr, uint64_t n)
{
    struct tb_stat *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->vaddr = vaddr;
    st->n = n;
    pthread_mutex_lock(&stats_lock);
    if (nstats == stats_cap) {
        size_t cap = stats_cap ? 2 * stats_cap : 4096;
        struct tb_stat **grown = realloc(stats, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&stats_lock);
            free(st);
            return NULL;
        }
        stats = grown;
        stats_cap = cap;
    }
    stats[nstats++] = st;
    pthread_mutex_unlock(&stats_lock);
    return st;
}

static int by_vaddr(const void *a, const void *b)
{
    const struct tb_stat *x = *(struct tb_stat *const *)a, *y = *(struct tb_stat *const *)b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int by_insns_desc(const void *a, const void *b)
{
    const struct tb_stat *x = *(struct tb_stat *const *)a, *y = *(struct tb_stat *const *)b;
    return x->execs < y->execs ? 1 : x->execs > y->execs ? -1 : 0;
}

/* Merges the records of one address (retranslations) into instructions
 * executed per address, then prints the top profile_top. */
static void profile_report(void)
{
    size_t m = 0;
    char line[96];
    qsort(stats, nstats, sizeof(*stats), by_vaddr);
    for (size_t i = 0; i < nstats; i++) {
        uint64_t insns = stats[i]->execs * stats[i]->n;
        if (m > 0 && stats[m - 1]->vaddr == stats[i]->vaddr) {
            stats[m - 1]->execs += insns;
            continue;
        }
        stats[m] = stats[i];
        stats[m++]->execs = insns; /* from here on: instructions */
    }
    qsort(stats, m, sizeof(*stats), by_insns_desc);
    for (size_t i = 0; i < m && i < profile_top; i++) {
        snprintf(line, sizeof(line), "profile: 0x%016" PRIx64 " %" PRIu64 "\n", stats[i]->vaddr,
                 stats[i]->execs);
        qemu_plugin_outs(line);
    }
}

/* Runs before the HVC/SMC executes; its block, which the call ends, is
 * already in `total`. */
static void conduit_exec(unsigned int vcpu_index, void *userdata)
{
    GByteArray *buf = g_byte_array_new();
    uint64_t x0 = 0;
    if (x0_handle && qemu_plugin_read_register(x0_handle, buf) == 8) {
        for (int i = 7; i >= 0; i--) /* little-endian target */
            x0 = x0 << 8 | buf->data[i];
    }
    g_byte_array_free(buf, 1);
    bool was = false;
    /* Relaxed CAS: only the first SYSTEM_OFF (of any vCPU thread) records the
     * totals; at_exit reads them after QEMU has joined the vCPU threads. */
    if (x0 == PSCI_SYSTEM_OFF && __atomic_compare_exchange_n(&stopped, &was, true, false,
                                                             __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        stopped_total = __atomic_load_n(&total, __ATOMIC_RELAXED);
        range_stopped_total = __atomic_load_n(&range_total, __ATOMIC_RELAXED);
    }
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uintptr_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t va = qemu_plugin_tb_vaddr(tb);
    bool in_range = va >= range_lo && va < range_hi;
    struct tb_stat *st = profile_top ? stat_new(va, n) : NULL;
    if (st)
        qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec_profiled, QEMU_PLUGIN_CB_NO_REGS, st);
    else
        qemu_plugin_register_vcpu_tb_exec_cb(tb, in_range ? tb_exec_in_range : tb_exec,
                                             QEMU_PLUGIN_CB_NO_REGS, (void *)n);
    if (stop_insn && n > 0) {
        /* An exception-generating instruction ends its block: look at the last. */
        struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
        uint32_t word = 0;
        if (qemu_plugin_insn_data(last, &word, sizeof(word)) == sizeof(word) && word == stop_insn)
            qemu_plugin_register_vcpu_insn_exec_cb(last, conduit_exec, QEMU_PLUGIN_CB_R_REGS, NULL);
    }
}

/* Register handles are the same for every vCPU of one CPU type. */
static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    if (x0_handle)
        return;
    GArray *regs = qemu_plugin_get_registers();
    qemu_plugin_reg_descriptor *d = (qemu_plugin_reg_descriptor *)regs->data;
    for (unsigned int i = 0; i < regs->len; i++)
        if (d[i].name[0] == 'x' && d[i].name[1] == '0' && d[i].name[2] == 0)
            x0_handle = d[i].handle;
    g_array_free(regs, 1);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    char line[96];
    if (stop_insn && __atomic_load_n(&stopped, __ATOMIC_RELAXED))
        snprintf(line, sizeof(line), "insns: %" PRIu64 "\n", stopped_total);
    else if (stop_insn)
        snprintf(line, sizeof(line), "insns: no SYSTEM_OFF call seen (%" PRIu64 " in all)\n",
                 __atomic_load_n(&total, __ATOMIC_RELAXED));
    else
        snprintf(line, sizeof(line), "insns: %" PRIu64 "\n",
                 __atomic_load_n(&total, __ATOMIC_RELAXED));
    qemu_plugin_outs(line);
    if (range_hi > range_lo) {
        bool at_stop = stop_insn && __atomic_load_n(&stopped, __ATOMIC_RELAXED);
        snprintf(line, sizeof(line), "insns_in_range: %" PRIu64 "\n",
                 at_stop ? range_stopped_total : __atomic_load_n(&range_total, __ATOMIC_RELAXED));
        qemu_plugin_outs(line);
    }
    if (profile_top)
        profile_report();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "stop=hvc") == 0) {
            stop_insn = INSN_HVC0;
        } else if (strcmp(argv[i], "stop=smc") == 0) {
            stop_insn = INSN_SMC0;
        } else if (sscanf(argv[i], "profile=%u", &profile_top) == 1 && profile_top > 0) {
            continue;
        } else if (sscanf(argv[i], "range=%" SCNx64 "-%" SCNx64, &range_lo, &range_hi) == 2 &&
                   range_lo < range_hi) {
            continue;
        } else {
            fprintf(stderr,
                    "insn_count: unknown option '%s' (stop=hvc|stop=smc, range=LO-HI, profile=K)\n",
                    argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
