// SPDX-License-Identifier: MIT
// Fake architecture for host builds: CPU ids per thread, recorded TLB
// maintenance, and panic() that prints and aborts.
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tally/atomic.h>
#include <tally/panic.h>

static _Thread_local unsigned this_cpu;

void fake_set_cpu(unsigned cpu)
{
    if (cpu >= TALLY_MAX_CPUS)
        abort();
    this_cpu = cpu;
}

unsigned arch_cpu_id(void)
{
    return this_cpu;
}

#define MAX_EVENTS 4096
static struct fake_event events[MAX_EVENTS];
static atomic_u32 nr_events;
static atomic_u64 seq;
void (*fake_event_hook)(const struct fake_event *ev);

uint64_t fake_seq(void)
{
    return atomic_fetch_add_u64(&seq, 1, MO_RELAXED);
}

bool fake_events_off;

static void record_pages(enum fake_event_kind k, uint64_t addr, uint16_t vmid, uint64_t pages)
{
    if (fake_events_off)
        return;
    struct fake_event ev = {k, addr, vmid, fake_seq(), pages};
    uint32_t i = atomic_fetch_add_u32(&nr_events, 1, MO_RELAXED);
    /* Past the buffer only the count goes on: tests that need the log keep
     * their scenarios small; big ones only count. */
    if (i < MAX_EVENTS)
        events[i] = ev;
    if (fake_event_hook)
        fake_event_hook(&ev);
}

static void record(enum fake_event_kind k, uint64_t addr, uint16_t vmid)
{
    record_pages(k, addr, vmid, 0);
}

void fake_events_reset(void)
{
    atomic_store_u32(&nr_events, 0, MO_RELAXED);
}

unsigned fake_events_count(void)
{
    return atomic_load_u32(&nr_events, MO_RELAXED);
}

const struct fake_event *fake_event(unsigned i)
{
    return i < MAX_EVENTS && i < fake_events_count() ? &events[i] : NULL;
}

unsigned fake_events_of(enum fake_event_kind k)
{
    unsigned n = 0, total = fake_events_count();
    for (unsigned i = 0; i < total && i < MAX_EVENTS; i++)
        n += events[i].kind == k;
    return n;
}

void arch_tlbi_el2_va(vaddr_t v)
{
    record(EV_TLBI_EL2_VA, va_val(v), 0);
}

void arch_tlbi_el2_all(void)
{
    record(EV_TLBI_EL2_ALL, 0, 0);
}

bool fake_tlbi_range;

/* As the real one: every address of the runs (or one range per run), then
 * one VMALLE1IS for the batch. */
void arch_tlbi_ipa_runs(uint16_t vmid, const struct tlbi_run *runs, unsigned n)
{
    for (unsigned r = 0; r < n; r++) {
        if (fake_tlbi_range && runs[r].n > 1) {
            record_pages(EV_TLBI_IPA_RANGE, runs[r].ia, vmid,
                         runs[r].n * (runs[r].step >> PAGE_SHIFT));
            continue;
        }
        for (unsigned i = 0; i < runs[r].n; i++)
            record(EV_TLBI_IPA, runs[r].ia + i * runs[r].step, vmid);
    }
    record(EV_TLBI_VMALLE1, 0, vmid);
}

void arch_tlbi_vmid(uint16_t vmid)
{
    record(EV_TLBI_VMID, 0, vmid);
}

static atomic_u64 pages_zeroed;

uint64_t fake_pages_zeroed(void)
{
    return atomic_load_u64(&pages_zeroed, MO_RELAXED);
}

void arch_page_zero(paddr_t p, uint64_t npages)
{
    atomic_fetch_add_u64(&pages_zeroed, npages, MO_RELAXED);
    memset(arch_phys_to_virt(p), 0, npages * PAGE_SIZE);
}

void arch_pte_sync(void)
{
    record(EV_PTE_SYNC, 0, 0);
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "panic: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}
