/* SPDX-License-Identifier: MIT */
/*
 * Test guest: the pieces shared by its files. The guest is a bare-metal EL1
 * program, MMU off, that checks from the inside what a hypervisor gives a
 * guest (PSCI, SGIs, the virtual timer, aborts for unmapped IPA space, Tally's
 * hypercalls) and prints one line per check; docs/guests.md describes it.
 */
#ifndef TESTGUEST_H
#define TESTGUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint8_t u8;

/* Register frame saved by the vectors in head.S (offsets fixed there). */
struct tg_frame {
    u64 x[31];
    u64 elr;
    u64 spsr;
    u64 pad;
};
_Static_assert(sizeof(struct tg_frame) == 272, "head.S saves 272 bytes");

/* head.S */
long tg_smccc(int conduit_hvc, u64 fid, u64 a1, u64 a2, u64 a3, u64 out[4]);
void tg_secondary_entry(void);
void tg_probe_load(u64 addr);
void tg_probe_store(u64 addr);
void tg_exception(struct tg_frame *f, u64 kind);
void tg_main(const void *fdt);
void tg_secondary_main(u64 context);
extern char _text[], _end[];

/* MMIO with the MMU off: plain 32-bit single-copy-atomic accesses. */
static inline u32 mmio_read32(u64 addr)
{
    return *(volatile u32 *)addr;
}
static inline void mmio_write32(u64 addr, u32 v)
{
    *(volatile u32 *)addr = v;
}

#define sysreg_read(name)                                                                          \
    ({                                                                                             \
        u64 v_;                                                                                    \
        __asm__ volatile("mrs %0, " #name : "=r"(v_));                                             \
        v_;                                                                                        \
    })
#define sysreg_write(name, v) __asm__ volatile("msr " #name ", %0" ::"r"((u64)(v)))
#define isb()                 __asm__ volatile("isb" ::: "memory")
#define dsb_sy()              __asm__ volatile("dsb sy" ::: "memory")

/* main.c: one line per check. */
void tg_pass(const char *name);
void tg_fail(const char *name, const char *detail, long value);
void tg_skip(const char *name, const char *reason);
/* main.c's exception handler: while armed, an UNDEF (EC 0) taken at EL1 is
 * counted and stepped over instead of failing the run. */
extern bool tg_undef_armed;
extern u32 tg_undefs;

/* main.c: the end of a run (the counts, then SYSTEM_OFF or RESET, as asked);
 * the first address past RAM; one caught load or store (aborts taken). */
void tg_finish(void) __attribute__((noreturn));
extern bool tg_reset_at_end; /* tg_finish resets rather than powers off */
u64 tg_ram_end(void);
u32 tg_probe(bool store, u64 addr, u64 *esr, u64 *far);
/* CPU_ON of the second CPU, which runs job (then WFI forever); PSCI's answer. */
long tg_start_cpu1(void (*job)(void));

/* share.c: the two-VM sharing test (testguest.share=owner|peer). */
void share_test(bool owner, bool orphan);
/* VM-to-VM SHARE+UNSHARE cost per page (0: no peer), and the peer's side. */
u64 share_bench_pages(void);
void share_bench_peer(u32 timer_intid) __attribute__((noreturn));

/* cpu.c: the CPU as the guest sees it. */
void cpu_check_idregs(u64 ram_end);
void cpu_check_mops(long (*exit_call)(void));
void cpu_check_sve(long (*exit_call)(void));
void cpu_check_clean_start(void);
void cpu_dirty_for_reset(void);

/* console.c: PL011 output. */
void con_init(u64 pl011_base);
void con_puts(const char *s);
void con_putu(u64 v);
void con_puthex(u64 v);

/* dt.c: a minimal flattened-device-tree reader. Node handles are offsets of
 * FDT_BEGIN_NODE tokens in the structure block; negative means not found. */
int dt_init(const void *fdt);
int dt_path(const char *path);
int dt_find_compatible(int after, const char *compat);
int dt_next_child(int parent, int prev);
const void *dt_prop(int node, const char *name, int *len);
bool dt_prop_has_string(int node, const char *name, const char *s);
u32 dt_prop_u32(int node, const char *name, u32 dflt);
/* Cell `index` (and the one after it when cells == 2) of property `name`. */
bool dt_prop_cells(int node, const char *name, int index, int cells, u64 *out);
/* reg entry `index` of a direct child of the root. */
bool dt_reg(int node, int index, u64 *addr, u64 *size);
/* Entry `index` of the /memreserve/ block; false past the end. */
bool dt_memreserve(int index, u64 *addr, u64 *size);
/* Size of the whole blob (header totalsize). */
u32 dt_total_size(void);
u32 be32(const void *p);

/* gic.c: the GIC seen by an EL1 guest, v2 or v3 as the device tree says. */
int gic_init(void);
void gic_cpu_init(void);
int gic_version(void);
void gic_enable_ppi_sgi(u32 intid);
void gic_send_sgi(u32 intid, u64 target_mpidr, u32 target_cpu_index);
/* This CPU's SGI or PPI intid reads pending (ISPENDR0). */
bool gic_ppi_sgi_pending(u32 intid);
/* Acknowledge: the INTID (>= GIC_SPURIOUS: none); *token is what gic_eoi wants. */
#define GIC_SPURIOUS 1020
u32 gic_ack(u32 *token);
void gic_eoi(u32 token);

/* Time from the virtual counter. */
static inline u64 cntvct(void)
{
    isb();
    return sysreg_read(cntvct_el0);
}
static inline u64 cntpct(void)
{
    isb();
    return sysreg_read(cntpct_el0);
}
static inline u64 cntfrq(void)
{
    return sysreg_read(cntfrq_el0);
}

/* SMCCC / PSCI / Tally function identifiers and results. */
#define PSCI_VERSION               0x84000000UL
#define PSCI_CPU_SUSPEND_64        0xc4000001UL
#define PSCI_POWER_STATE_POWERDOWN (1UL << 16) /* StateType 1, level 0, StateID 0 */
#define PSCI_CPU_OFF               0x84000002UL
#define PSCI_CPU_ON_64             0xc4000003UL
#define PSCI_AFFINITY_INFO_64      0xc4000004UL
#define PSCI_MIGRATE_INFO_TYPE     0x84000006UL
#define PSCI_SYSTEM_OFF            0x84000008UL
#define PSCI_SYSTEM_RESET          0x84000009UL
#define PSCI_FEATURES              0x8400000aUL
#define PSCI_RESERVED_FID          0x8400001fUL /* no PSCI function has this id */
#define SMCCC_VERSION              0x80000000UL
#define SMCCC_ARCH_FEATURES        0x80000001UL
#define SMCCC_WORKAROUND_1         0x80008000UL
#define SMCCC_WORKAROUND_2         0x80007fffUL
#define SMCCC_WORKAROUND_3         0x80003fffUL

#define PSCI_SUCCESS       0
#define PSCI_NOT_SUPPORTED (-1)
#define PSCI_ALREADY_ON    (-4)
#define PSCI_AFF_ON        0
#define PSCI_AFF_OFF       1

/* Tally's hypercalls (docs/guests.md): SMCCC fast calls, 64-bit,
 * vendor-specific hypervisor service range (owner 6). */
#define TALLY_HC_VERSION     0x86000000UL
#define TALLY_HC_SHARE_HYP   0xc6000009UL
#define TALLY_HC_UNSHARE_HYP 0xc600000aUL
#define TALLY_HC_UNDEFINED   0x8600ffffUL /* reserved: never defined */
#define TALLY_ABI_MAJOR      1
#define TALLY_MAGIC          0x54414c4c59UL /* "TALLY" */

#endif
