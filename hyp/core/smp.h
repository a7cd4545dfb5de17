/* SPDX-License-Identifier: MIT */
/* Secondary CPUs of the EL2 runtime (hyp/core/smp.c). */
#ifndef TALLY_HYP_SMP_H
#define TALLY_HYP_SMP_H

/* Read /cpus: the boot CPU becomes CPU 0, the others 1.. in DT order. */
/* Find the CPUs in /cpus. cpu_init runs on every CPU as it comes up, the
 * boot CPU first (here), before anything runs at EL1: the EL2 set-up the
 * VMs need (vm/cpufeature.c), which the machine itself does not know. */
void smp_init(const void *fdt, void (*cpu_init)(void));
/* Start every secondary with PSCI CPU_ON, one at a time, each on its own
 * tracked stack; returns the number of CPUs online (boot CPU included). */
unsigned smp_boot_secondaries(void);
/* Tell the secondaries to turn themselves off (PSCI CPU_OFF), wait until
 * PSCI reports each one off, and free its stack. */
void smp_stop_secondaries(void);
/* Run fn on CPU cpu (a secondary that is online) and wait until it returns.
 * ERR_INVAL if cpu is not an online secondary. */
int smp_call(unsigned cpu, void (*fn)(void));
/* The two halves of smp_call: post fn to CPU cpu and return at once; wait
 * until the posted fn has returned. */
int smp_call_async(unsigned cpu, void (*fn)(void));
void smp_call_wait(unsigned cpu);
/* Called by head.S on a secondary CPU, on its own stack. */
__attribute__((noreturn)) void smp_secondary_main(void *percpu);

/* Enable the EL2 timer event stream on this CPU (bounded WFE waits). */
void smp_cpu_event_stream_init(void);

#endif
