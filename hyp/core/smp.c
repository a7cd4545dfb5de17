// SPDX-License-Identifier: MIT
// Secondary CPUs: found in /cpus, started with PSCI CPU_ON one at a time
// (so their "online" lines come in order), each on a tracked kernel stack in
// the EL2 address space. Until a later issue gives them vCPUs to run, they
// wait in WFE for a function to run (smp_call) or the order to stop; at
// shutdown they turn themselves off with PSCI CPU_OFF and the boot CPU frees
// their stacks once PSCI says they are off.
#include <libfdt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "mmu.h"
#include "percpu.h"
#include "psci.h"
#include "smp.h"
#include "vm/cpufeature.h"

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

void smp_init(const void *fdt)
{
    smp_cpu_event_stream_init();
    cpufeature_el2_init();
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
        const char *method = fdt_getprop(fdt, node, "enable-method", &len);
        if (!method || strcmp(method, "psci") != 0) {
            printf("tally: CPU with MPIDR 0x%lx has enable-method \"%s\", not psci: not used\n",
                   mpidr, method ? method : "(none)");
            continue;
        }
        hyp_percpu[n].id = n;
        hyp_percpu[n].mpidr = mpidr;
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
    return psci_affinity_info(pc->mpidr) == PSCI_AFFINITY_OFF;
}

unsigned smp_boot_secondaries(void)
{
    unsigned online = 1;
    if (!psci_available())
        return online;
    for (unsigned id = 1; id < hyp_nr_cpus; id++) {
        struct percpu *pc = &hyp_percpu[id];
        int err = mmu_setup_cpu(id);
        if (err != ERR_OK) {
            printf("tally: CPU %u: no stack (%s), not started\n", id, tally_strerror(err));
            continue;
        }
        /* secondary_entry reads the entry with its MMU and caches off. */
        cache_clean_range(pc, sizeof(*pc));
        int64_t r = psci_cpu_on(pc->mpidr, (uint64_t)secondary_entry, (uint64_t)pc);
        if (r != PSCI_RET_SUCCESS) {
            printf("tally: CPU %u (MPIDR 0x%lx): PSCI CPU_ON failed (%ld)\n", id, pc->mpidr, r);
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
    cpufeature_el2_init();
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
        atomic_store_u64(&pc->call, 0, MO_RELEASE);
        sev();
    }
    psci_cpu_off();
    panic("CPU %u: PSCI CPU_OFF returned", pc->id);
}
