// SPDX-License-Identifier: MIT
// Stack-protector support for Debian's libfdt.a, which was built with
// -fstack-protector-strong (Tally's own code is built without it). The guard
// gets a boot-time value from the counter before libfdt first runs; a
// smashed libfdt frame is a panic.
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "core/hyp.h"

uintptr_t __stack_chk_guard = 0x5a11ab1e0ddba11ull;

__attribute__((noreturn)) void __stack_chk_fail(void);
__attribute__((noreturn)) void __stack_chk_fail(void)
{
    panic("stack protector: a libfdt stack frame was overwritten");
}

/* Call before the first libfdt call: changing the guard under a live
 * protected frame would fail its check. Mixes the counter into the default
 * so it is not a constant; the low byte is zero, as glibc's is, so string
 * overflows stop at it. */
void stack_chk_init(void)
{
    uint64_t t = read_sysreg(cntpct_el0);
    __stack_chk_guard = (__stack_chk_guard ^ (t * 0x9e3779b97f4a7c15ull)) & ~0xffull;
}
