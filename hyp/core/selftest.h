/* SPDX-License-Identifier: MIT */
/* The tally.test=NAME switch (hyp/core/selftest.c, docs/boot.md). */
#ifndef TALLY_HYP_SELFTEST_H
#define TALLY_HYP_SELFTEST_H

/* Run the test called name on CPU cpu (0: the boot CPU, which calls this);
 * an unknown name is reported and ignored. Some tests never return (they end
 * in a fatal report). */
void selftest_run(const char *name, unsigned cpu);

#endif
