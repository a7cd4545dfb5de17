// SPDX-License-Identifier: MIT
// insn_count: a minimal QEMU TCG plugin that counts the guest instructions
// executed on all vCPUs and prints `insns: N` when QEMU exits. Used by
// scripts/bench-boot.sh under `-icount shift=0,sleep=off`, where the count is
// bit-exact from run to run.
//
//   -plugin build/plugin/libinsn_count.so
//
// Each translation block gets one execution callback whose user data is the
// block's instruction count; the callback adds it to a global total. A block
// left part-way (an exception or an I/O exit in its middle) still counts
// whole, deterministically. The inline per-vCPU scoreboard API would be
// cheaper, but QEMU 10.0 aborts ("arm_mmu_idx_el: code should not be
// reached") when a scoreboard grows as a second vCPU first runs under
// single-threaded TCG, which -icount forces; the callback path avoids that.
//
// Debian ships no qemu-plugin.h, so the few types and functions used are
// declared here, as QEMU 10.0's include/qemu/qemu-plugin.h defines them
// (plugin API version 4; QEMU accepts a plugin whose version lies between
// its minimum and current ones).

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
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

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_API_VERSION;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv);

/* Instructions executed, all vCPUs. Relaxed atomic adds from the vCPU
 * threads (with multi-threaded TCG several run at once); read once at exit,
 * after QEMU has stopped every vCPU thread. */
static uint64_t total;

static void tb_exec(unsigned int vcpu_index, void *userdata)
{
    __atomic_fetch_add(&total, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uintptr_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)n);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    char line[64];
    snprintf(line, sizeof(line), "insns: %" PRIu64 "\n", __atomic_load_n(&total, __ATOMIC_RELAXED));
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    if (argc != 0) {
        fprintf(stderr, "insn_count: takes no options, got '%s'\n", argv[0]);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
