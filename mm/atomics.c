// SPDX-License-Identifier: MIT
// State of the AArch64 atomics back-end selection (see <tally/atomic.h> and
// <tally/arch/aarch64/atomic.h>); the operations themselves are all inline.
#include <tally/atomic.h>

#if defined(__aarch64__) && defined(TALLY_ATOMICS_RUNTIME_SELECT)
/*
 * true: the LSE back end runs; false: LL/SC. Written once by atomics_init()
 * on the boot CPU before any other CPU or thread starts, never again, so
 * every reader uses a plain load: starting a CPU or thread orders this write
 * before everything it runs. Until atomics_init() it is false, and LL/SC
 * works on every AArch64 CPU.
 */
bool atomics_have_lse;
#endif
