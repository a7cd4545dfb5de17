// SPDX-License-Identifier: MIT
// The boot CPU's path through Tally, from head.S to power-off:
//
//   console (platform default PL011) -> atomics back end -> device tree:
//   console from /chosen/stdout-path, boot arguments, memory map -> slot
//   array, reserved/hypervisor/metadata pages, allocator -> PSCI, CPUs, GIC
//   -> EL2 address space (tracked tables) replaces the boot map -> the boot
//   CPU moves onto its tracked stack -> secondaries online -> banner and
//   accounting -> (test switch, or VM 0 from the boot modules: vm.c)
//   -> secondaries off, stacks freed ->
//   accounting -> PSCI SYSTEM_OFF.
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tally/errno.h>
#include <tally/memmap.h>
#include <tally/page.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "vm/vuart.h"
#include "accounting.h"
#include "bootargs.h"
#include "dt.h"
#include "hyp.h"
#include "mmu.h"
#include "percpu.h"
#include "power.h"
#include "psci.h"
#include "selftest.h"
#include "smp.h"
#include "vm/cpufeature.h"
#include "vm/vm.h"

bool hyp_panic_wait;

static struct memmap boot_memmap;
static struct dt_gic boot_gic;
static const void *boot_fdt; /* stays reserved and mapped: read by vm.c */

static void read_bootargs(const void *fdt)
{
    char v[16];
    bootargs_set(dt_bootargs(fdt));
    hyp_panic_wait = bootarg_get("tally.panic", v, sizeof(v)) && !strcmp(v, "wait");
}

/* Slot array, fixed usages, allocator: every RAM page accounted for. */
static void pages_init(struct memmap *m)
{
    paddr_t meta_pa;
    size_t meta_bytes = meta_bytes_needed(m->banks, m->nr_banks);
    int err = memmap_carve(m, meta_bytes, PAGE_SIZE, PAGE_META, "page metadata", &meta_pa);
    if (err != ERR_OK)
        panic("no room for the page metadata (%lu bytes): %s", (uint64_t)meta_bytes,
              tally_strerror(err));
    err = meta_init(m->banks, m->nr_banks, arch_phys_to_virt(meta_pa));
    if (err != ERR_OK)
        panic("meta_init: %s", tally_strerror(err));
    for (unsigned i = 0; i < m->nr_reserved; i++)
        meta_mark_fixed(m->reserved[i].base, m->reserved[i].size / PAGE_SIZE, m->reserved[i].usage);
    page_alloc_init();
    struct mem_bank free[META_MAX_BANKS + MEMMAP_MAX_RESERVED];
    unsigned nr = memmap_free_ranges(m, free, ARRAY_SIZE(free));
    BUG_ON(nr > ARRAY_SIZE(free));
    /* The pages go in dirty: each is zeroed when first typed
     * (<tally/page_alloc.h>), so what firmware or a boot loader left in RAM
     * never reaches a guest. */
    for (unsigned i = 0; i < nr; i++)
        page_alloc_add(free[i].base, free[i].size / PAGE_SIZE);
}

/* The console /chosen/stdout-path names (the early PL011 stays if it names
 * none Tally drives). Guests never reach it: each gets an emulated PL011. */
static void console_from_fdt(const void *fdt)
{
    struct dt_uart u;
    if (dt_stdout_uart(fdt, &u))
        console_init(u.kind == DT_UART_MINI ? CONSOLE_MINI_UART : CONSOLE_PL011, u.base);
}

static uint64_t ram_mib(const struct memmap *m)
{
    uint64_t b = 0;
    for (unsigned i = 0; i < m->nr_banks; i++)
        b += m->banks[i].size;
    return b >> 20;
}

static __attribute__((noreturn)) void hyp_main_on_stack(void)
{
    struct accounting a;
    uint64_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    printf("tally: CPU 0 online (MPIDR 0x%lx), stack 0x%lx, guard page 0x%lx\n", this_cpu()->mpidr,
           sp, this_cpu()->stack_guard_va);
    /* Release, as for the secondaries (smp_secondary_main); nobody waits on
     * CPU 0, but accounting and debuggers read the flag. */
    atomic_store_u32(&this_cpu()->online, 1, MO_RELEASE);
    unsigned online = smp_boot_secondaries();

    char gic[8] = " none";
    if (boot_gic.version)
        snprintf(gic, sizeof(gic), "v%u", boot_gic.version);
    printf("tally: Tally %s on %s: %u CPU%s online, atomics %s, GIC%s, RAM %lu MiB, slot %u "
           "bytes\n",
           TALLY_VERSION, hyp_platform.name, online, online == 1 ? "" : "s",
           !strcmp(atomics_backend_name(), "lse") ? "LSE" : "LL/SC", gic, ram_mib(&boot_memmap),
           (unsigned)sizeof(struct meta_slot));
    page_alloc_drain();
    accounting_take(&a);
    accounting_print(&a);

    char test[32], cpu[8];
    if (bootarg_get("tally.test", test, sizeof(test)))
        selftest_run(test, bootarg_get("tally.test.cpu", cpu, sizeof(cpu))
                               ? (unsigned)strtoul(cpu, NULL, 10)
                               : 0);
    else
        vm_boot_from_fdt(boot_fdt);

    smp_stop_secondaries();
    page_alloc_drain();
    accounting_take(&a);
    accounting_print(&a);
    /* PSCI is the norm (and what the virt tests match); others are named. */
    if (psci_available())
        printf("tally: powering off\n");
    else
        printf("tally: powering off (%s)\n", power_method());
    power_off();
    panic("power-off (%s) returned", power_method());
}

void hyp_main(uint64_t fdt_pa);
void hyp_main(uint64_t fdt_pa)
{
    const void *fdt = (const void *)fdt_pa;
    char msg[160];

    console_init(CONSOLE_PL011, hyp_platform.early_uart);
    atomics_init();
    stack_chk_init();
    if (fdt_check_header(fdt) == 0) {
        console_from_fdt(fdt);
        read_bootargs(fdt);
        psci_init(fdt);
        power_init(fdt);
        vrtc_host_init(fdt); /* MMU still off: reads the host RTC directly */
    } else if (hyp_platform.psci_smc_default) {
        psci_init_default();
    }
    printf("\ntally: Tally %s at EL2, image 0x%lx-0x%lx, DTB at 0x%lx, console %s at 0x%lx\n",
           TALLY_VERSION, (uint64_t)_start, (uint64_t)_end, fdt_pa, console_name(), console_base());
    if (fdt_check_header(fdt) == 0 &&
        fdt_node_check_compatible(fdt, 0, hyp_platform.compatible) != 0)
        printf("tally: warning: this image is for %s (\"%s\"), the DT's root is not compatible\n",
               hyp_platform.name, hyp_platform.compatible);

    int err = memmap_from_fdt(fdt, pa((uint64_t)_start), pa((uint64_t)_end), &boot_memmap, msg,
                              sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: boot stopped: %s\n", msg);
        hyp_halt();
    }
    pages_init(&boot_memmap);
    boot_fdt = fdt;
    smp_init(fdt, cpufeature_el2_init);
    dt_gic(fdt, &boot_gic);

    mmu_build(&boot_memmap, &boot_gic);
    err = mmu_setup_cpu(0);
    if (err != ERR_OK)
        panic("no kernel stack for the boot CPU: %s", tally_strerror(err));
    mmu_enable();
    call_on_stack(hyp_percpu[0].sp, hyp_main_on_stack);
}
