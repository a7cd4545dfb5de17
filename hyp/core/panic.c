// SPDX-License-Identifier: MIT
// Fatal errors at EL2: panic(), and the halt that ends every fatal report
// (also used by the exception handler). The first CPU to fail reports; any
// other CPU that fails meanwhile parks silently, so reports never interleave,
// and a report that itself fails ends at once.
#include <stdarg.h>
#include <stdio.h>
#include <tally/arch.h>
#include <tally/atomic.h>
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "power.h"
#include "psci.h"

#define NO_CPU 0xffffffffu
static atomic_u32 fatal_cpu = ATOMIC_INIT(NO_CPU);
/* Fatal reports begun on the reporting CPU; only that CPU gets past the CAS
 * below, so a plain variable. More than one: the report itself failed. */
static unsigned fatal_depth;

static __attribute__((noreturn)) void park(void)
{
    for (;;)
        wfe();
}

void hyp_fatal_begin(void)
{
    uint32_t me = arch_cpu_id(), expected = NO_CPU;
    /* Acquire/release: only to decide who reports; pairs with the same CAS
     * on other CPUs. A loser that is not the reporter parks at once. */
    if (!atomic_cas_u32(&fatal_cpu, &expected, me, MO_ACQ_REL) && expected != me)
        park();
    console_enter_fatal();
    if (++fatal_depth == 1)
        return;
    /* A fault or panic while reporting one: say so once (if that faults
     * too, depth 3 goes straight on), then stop without more reporting. */
    if (fatal_depth == 2)
        printf("\ntally: another fatal error on CPU %u while reporting one; halted\n", me);
    if (!hyp_panic_wait)
        power_off();
    park();
}

void hyp_halt(void)
{
    if (hyp_panic_wait) {
        printf("tally: halted (tally.panic=wait); the other CPUs are parked or off\n");
        park();
    }
    printf("tally: halted, powering off\n");
    power_off();
    park();
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    hyp_fatal_begin();
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printf("\ntally: PANIC on CPU %u: %s\n", arch_cpu_id(), buf);
    hyp_halt();
}
