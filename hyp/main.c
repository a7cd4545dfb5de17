// SPDX-License-Identifier: MIT
// The boot CPU's path through Tally, from head.S to power-off.
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/atomic.h>
#include <tally/sysreg.h>

#include "dt.h"
#include "hyp.h"

void hyp_main(uint64_t fdt_pa);
void hyp_main(uint64_t fdt_pa)
{
    console_init(hyp_platform.early_uart);
    atomics_init();
    stack_chk_init();
    const void *fdt = (const void *)fdt_pa;
    printf("\ntally: EL%lu, image at 0x%lx, DTB at 0x%lx\n", CURRENTEL_EL(read_sysreg(CurrentEL)),
           (uint64_t)_start, fdt_pa);
    uint64_t base, size;
    if (fdt_check_header(fdt) == 0 && dt_stdout_pl011(fdt, &base, &size))
        printf("tally: console pl011 at 0x%lx\n", base);
    printf("tally: atomics %s\n", atomics_backend_name());
    hyp_halt();
}

bool hyp_panic_wait;
bool bootarg_get(const char *name, char *buf, size_t len)
{
    (void)name; (void)buf; (void)len;
    return false;
}
void smp_secondary_main(void);
void smp_secondary_main(void) {}
struct percpu { uint64_t x[16]; } hyp_percpu[8];
