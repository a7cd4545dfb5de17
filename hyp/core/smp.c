// SPDX-License-Identifier: MIT
// Secondary CPUs: found in /cpus, started one at a time (so their "online"
// lines come in order) with PSCI CPU_ON or, where firmware has no PSCI (a
// Raspberry Pi 4), by spin-table: the CPU waits in firmware's loop reading
// its cpu-release-addr with its MMU off; Tally writes the entry address
// there, cleans it to the point of coherency and sends an event. Each runs
// on a tracked kernel stack in the EL2 address space, waits in WFE for a
// function to run (smp_call) or the order to stop; at shutdown a PSCI CPU
// turns itself off with CPU_OFF, a spin-table CPU (which cannot be turned
// off) parks in a loop that touches no memory, and the boot CPU frees their
// stacks once each is off or parked.
#include <libfdt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>
#include <tally/page_alloc.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "mmu.h"
#include "percpu.h"
#include "psci.h"
#include "smp.h"

_Static_assert(offsetof(struct percpu, ttbr0) == PERCPU_TTBR0, "head.S offset");
_Static_assert(offsetof(struct percpu, tcr) == PERCPU_TCR, "head.S offset");
_Static_assert(offsetof(struct percpu, mair) == PERCPU_MAIR, "head.S offset");
_Static_assert(offsetof(struct percpu, sctlr) == PERCPU_SCTLR, "head.S offset");
_Static_assert(offsetof(struct percpu, vbar) == PERCPU_VBAR, "head.S offset");
_Static_assert(offsetof(struct percpu, sp) == PERCPU_SP, "head.S offset");
_Static_assert(offsetof(struct percpu, sp_emergency) == PERCPU_SP_EMRG, "head.S offset");

struct percpu hyp_percpu[TALLY_MAX_CPUS];
unsigned hyp_nr_cpus = 1;

/* Set by the boot CPU at shutdown. Store-release / load-acquire pair: a
 * secondary that sees it also sees everything the boot CPU did before. */
static atomic_u32 smp_stop;

/* The struct percpu of the spin-table CPU being started: spin_table_entry
 * (head.S) reads it with its MMU off. One at a time: the boot CPU waits for
 * each CPU to come online before it writes the next. */
uint64_t spin_table_context;

/* A CPU's enable-method: PSCI, or spin-table with its release address. */
static int cpu_method(const void *fdt, int node, struct percpu *pc)
{
    int len;
    const char *method = fdt_getprop(fdt, node, "enable-method", &len);
    if (method && !strcmp(method, "psci")) {
        pc->release_addr = 0;
        return ERR_OK;
    }
    if (!method || strcmp(method, "spin-table") != 0) {
        printf("tally: CPU with MPIDR 0x%lx has enable-method \"%s\", not psci or spin-table: "
               "not used\n",
               pc->mpidr, method ? method : "(none)");
        return ERR_INVAL;
    }
    const fdt32_t *rel = fdt_getprop(fdt, node, "cpu-release-addr", &len);
    if (!rel || (len != 4 && len != 8)) {
        printf("tally: CPU with MPIDR 0x%lx uses spin-table but has no 4- or 8-byte "
               "cpu-release-addr: not used\n",
               pc->mpidr);
        return ERR_INVAL;
    }
    pc->release_addr = fdt32_to_cpu(rel[0]);
    if (len == 8)
        pc->release_addr = (pc->release_addr << 32) | fdt32_to_cpu(rel[1]);
    if (!pc->release_addr || (pc->release_addr & 7)) {
        printf("tally: CPU with MPIDR 0x%lx: cpu-release-addr 0x%lx is not 8-byte aligned: not "
               "used\n",
               pc->mpidr, pc->release_addr);
        return ERR_INVAL;
    }
    return ERR_OK;
}

/* Written once by smp_init on the boot CPU before any secondary starts. */
static void (*per_cpu_init)(void);

void smp_init(const void *fdt, void (*cpu_init)(void))
{
    per_cpu_init = cpu_init;
    smp_cpu_event_stream_init();
    per_cpu_init();
    hyp_percpu[0].id = 0;
    hyp_percpu[0].mpidr = read_sysreg(mpidr_el1) & MPIDR_AFF_MASK;
    int cpus = fdt_path_offset(fdt, "/cpus");
    if (cpus < 0)
        return;
    int ac = fdt_address_cells(fdt, cpus), node;
    unsigned n = 1;
    fdt_for_each_subnode(node, fdt, cpus)
    {
        int len;
        const char *type = fdt_getprop(fdt, node, "device_type", &len);
        const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);
        if (!type || strcmp(type, "cpu") != 0 || !reg || ac < 1 || ac > 2 || len < ac * 4)
            continue;
        uint64_t mpidr = fdt32_to_cpu(reg[0]);
        if (ac == 2)
            mpidr = (mpidr << 32) | fdt32_to_cpu(reg[1]);
        if (mpidr == hyp_percpu[0].mpidr)
            continue;
        if (n == TALLY_MAX_CPUS) {
            printf("tally: the DT has more than %u CPUs; Tally uses the first %u\n", TALLY_MAX_CPUS,
                   TALLY_MAX_CPUS);
            break;
        }
        hyp_percpu[n].mpidr = mpidr;
        if (cpu_method(fdt, node, &hyp_percpu[n]) != ERR_OK)
            continue;
        hyp_percpu[n].id = n;
        n++;
    }
    hyp_nr_cpus = n;
}

/* Wait until cond(pc) holds or timeout_ms passes (generic timer). */
/*
 * The timer event stream wakes a WFE at least every 2^(EVNTI+1) counter ticks
 * (16 us at 62.5 MHz), so a wait may sleep in WFE even for a condition nobody
 * signals with SEV (a CPU reaching PSCI OFF). On QEMU a WFE also yields to the
 * other vCPUs: a waiting CPU does not spin through the time slice the CPU it
 * waits for needs (under -icount that spinning showed up as millions of
 * instructions per boot).
 */
#define CNTHCTL_EL1PCTEN (1ull << 0)
#define CNTHCTL_EVNTEN   (1ull << 2)
#define CNTHCTL_EVNTI(n) ((uint64_t)(n) << 4)

/*
 * CNTHCTL_EL2 is written whole, never read-modified-written (its reset value
 * is UNKNOWN): EL1 reads the physical counter (EL1PCTEN), the event stream
 * on, every other control 0 (EL1PCEN: vtimer.c decides per guest; the ECV
 * controls: no offset, no trap).
 */
void smp_cpu_event_stream_init(void)
{
    write_sysreg(cnthctl_el2, CNTHCTL_EL1PCTEN | CNTHCTL_EVNTEN | CNTHCTL_EVNTI(9));
    isb();
}

static bool wait_for(bool (*cond)(struct percpu *), struct percpu *pc, unsigned timeout_ms)
{
    uint64_t freq = read_sysreg(cntfrq_el0);
    uint64_t end = read_sysreg(cntpct_el0) + freq * timeout_ms / 1000;
    while (!cond(pc)) {
        if (read_sysreg(cntpct_el0) > end)
            return false;
        wfe();
    }
    return true;
}

static bool is_online(struct percpu *pc)
{
    /* Acquire: pairs with the release store in smp_secondary_main(), so the
     * CPU's line is printed before the next one starts. */
    return atomic_load_u32(&pc->online, MO_ACQUIRE) != 0;
}

static bool is_off(struct percpu *pc)
{
    /* Acquire: pairs with the store-release in smp_park(); after it the CPU
     * touches no memory, its stack included. */
    if (pc->release_addr)
        return atomic_load_u32(&pc->parked, MO_ACQUIRE) != 0;
    return psci_affinity_info(pc->mpidr) == PSCI_AFFINITY_OFF;
}

/* Release a CPU from firmware's spin loop (MMU off: everything it reads
 * first is cleaned to the point of coherency). The release address is RAM
 * in a /memreserve/ range: mapped, as all reserved RAM but no-map ranges. */
static int spin_table_release(struct percpu *pc)
{
    if (!mmu_is_mapped_ram(pc->release_addr)) {
        printf("tally: CPU %u (MPIDR 0x%lx): cpu-release-addr 0x%lx is not mapped RAM\n", pc->id,
               pc->mpidr, pc->release_addr);
        return ERR_RANGE;
    }
    spin_table_context = (uint64_t)pc;
    cache_clean_range(&spin_table_context, sizeof(spin_table_context));
    volatile uint64_t *rel = (volatile uint64_t *)pc->release_addr;
    *rel = (uint64_t)spin_table_entry;
    cache_clean_range((const void *)rel, sizeof(*rel));
    sev();
    return ERR_OK;
}

static int cpu_start(struct percpu *pc)
{
    if (pc->release_addr)
        return spin_table_release(pc);
    if (!psci_available())
        return ERR_NOENT;
    int64_t r = psci_cpu_on(pc->mpidr, (uint64_t)secondary_entry, (uint64_t)pc);
    if (r != PSCI_RET_SUCCESS) {
        printf("tally: CPU %u (MPIDR 0x%lx): PSCI CPU_ON failed (%ld)\n", pc->id, pc->mpidr, r);
        return ERR_INVAL;
    }
    return ERR_OK;
}

unsigned smp_boot_secondaries(void)
{
    unsigned online = 1;
    for (unsigned id = 1; id < hyp_nr_cpus; id++) {
        struct percpu *pc = &hyp_percpu[id];
        int err = mmu_setup_cpu(id);
        if (err != ERR_OK) {
            printf("tally: CPU %u: no stack (%s), not started\n", id, tally_strerror(err));
            continue;
        }
        /* secondary_entry reads the entry with its MMU and caches off. */
        cache_clean_range(pc, sizeof(*pc));
        if (cpu_start(pc) != ERR_OK) {
            mmu_free_cpu_stack(id);
            continue;
        }
        if (!wait_for(is_online, pc, 1000)) {
            /* It may still be running on its stack: keep the stack, report. */
            printf("tally: CPU %u (MPIDR 0x%lx) did not come online within 1 s\n", id, pc->mpidr);
            continue;
        }
        online++;
    }
    return online;
}

void smp_stop_secondaries(void)
{
    atomic_store_u32(&smp_stop, 1, MO_RELEASE);
    sev();
    for (unsigned id = 1; id < hyp_nr_cpus; id++) {
        struct percpu *pc = &hyp_percpu[id];
        if (!is_online(pc))
            continue;
        if (!wait_for(is_off, pc, 1000)) {
            printf("tally: CPU %u did not turn off within 1 s; its stack stays\n", id);
            continue;
        }
        mmu_free_cpu_stack(id);
        atomic_store_u32(&pc->online, 0, MO_RELAXED);
    }
}

int smp_call_async(unsigned cpu, void (*fn)(void))
{
    if (cpu == 0 || cpu >= hyp_nr_cpus || !is_online(&hyp_percpu[cpu]))
        return ERR_INVAL;
    struct percpu *pc = &hyp_percpu[cpu];
    /* Release: what the caller set up is visible to fn. Pairs with the
     * load-acquire of `call` in smp_secondary_main(). */
    atomic_store_u64(&pc->call, (uint64_t)(uintptr_t)fn, MO_RELEASE);
    sev();
    return ERR_OK;
}

void smp_call_wait(unsigned cpu)
{
    struct percpu *pc = &hyp_percpu[cpu];
    /* Acquire: pairs with the release store of 0 after fn returned, so the
     * caller sees what fn did. */
    while (atomic_load_u64(&pc->call, MO_ACQUIRE) != 0)
        wfe();
}

int smp_call(unsigned cpu, void (*fn)(void))
{
    int err = smp_call_async(cpu, fn);
    if (err == ERR_OK)
        smp_call_wait(cpu);
    return err;
}

void smp_secondary_main(void *percpu)
{
    struct percpu *pc = percpu;
    uint64_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    smp_cpu_event_stream_init();
    per_cpu_init();
    printf("tally: CPU %u online (MPIDR 0x%lx), stack 0x%lx, guard page 0x%lx\n", pc->id, pc->mpidr,
           sp, pc->stack_guard_va);
    /* Release: the line above and all set-up happen before the boot CPU,
     * which load-acquires `online`, goes on. */
    atomic_store_u32(&pc->online, 1, MO_RELEASE);
    sev();
    /* Acquire: pairs with the release store in smp_stop_secondaries(). */
    while (!atomic_load_u32(&smp_stop, MO_ACQUIRE)) {
        /* Acquire/release: pairs with smp_call()'s store and load of `call`. */
        uint64_t fn = atomic_load_u64(&pc->call, MO_ACQUIRE);
        if (!fn) {
            wfe();
            continue;
        }
        ((void (*)(void))(uintptr_t)fn)();
        /* Pages this CPU freed wait in its own page cache, which only it may
         * touch: give them back before the caller counts or merges. */
        page_alloc_drain();
        atomic_store_u64(&pc->call, 0, MO_RELEASE);
        sev();
    }
    page_alloc_drain();
    if (pc->release_addr)
        smp_park(&pc->parked);
    psci_cpu_off();
    panic("CPU %u: PSCI CPU_OFF returned", pc->id);
}
