// SPDX-License-Identifier: MIT
// The PL031 real-time clock every VM sees at QEMU virt's 0x09010000 (SPI 2),
// read-only: RTCDR is the host's time in seconds, which Tally reads once at
// boot from the host's PL031 and then advances with the physical counter,
// so `date` in a guest is right without the guest reaching the host's RTC.
// A guest cannot set the clock (RTCLR writes are ignored: the time belongs
// to the machine, not to one VM); RTCCR reads 1 (running); the match
// register and the interrupt mask are stored but never fire.
#include <libfdt.h>
#include <tally/errno.h>
#include <tally/sysreg.h>

#include "core/dt.h"
#include "vm.h"
#include "vuart.h"

#define RTCDR   0x00
#define RTCMR   0x04
#define RTCLR   0x08
#define RTCCR   0x0c
#define RTCIMSC 0x10

/* PeriphID0-3, PCellID0-3: an Arm PL031. */
static const uint8_t pl031_id[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

/* Written once by the boot CPU before any VM exists; read-only after. */
static uint64_t host_secs, host_cnt, cnt_freq;

void vrtc_host_init(const void *fdt)
{
    int node = fdt_node_offset_by_compatible(fdt, -1, "arm,pl031");
    uint64_t base, size;
    cnt_freq = read_sysreg(cntfrq_el0);
    host_cnt = read_sysreg(cntpct_el0);
    if (node >= 0 && dt_reg(fdt, node, 0, &base, &size))
        host_secs = *(volatile uint32_t *)base; /* MMU off: a device access */
}

static uint32_t now(void)
{
    uint64_t ticks = read_sysreg(cntpct_el0) - host_cnt;
    return (uint32_t)(host_secs + (cnt_freq ? ticks / cnt_freq : 0));
}

static int vrtc_read(struct vcpu *v, uint64_t off, unsigned size, uint64_t *val, void *ctx)
{
    struct vm *vm = ctx;
    uint32_t r;
    (void)v;
    if (size != 4 || (off & 3))
        return ERR_INVAL;
    switch (off) {
    case RTCDR:
        r = now();
        break;
    case RTCMR:
        r = vm->rtc_match;
        break;
    case RTCLR:
        r = (uint32_t)host_secs;
        break;
    case RTCCR:
        r = 1;
        break;
    case RTCIMSC:
        r = vm->rtc_imsc;
        break;
    default:
        r = off >= 0xfe0 && off <= 0xffc ? pl031_id[(off - 0xfe0) / 4] : 0;
        break;
    }
    *val = r;
    return ERR_OK;
}

static int vrtc_write(struct vcpu *v, uint64_t off, unsigned size, uint64_t val, void *ctx)
{
    struct vm *vm = ctx;
    (void)v;
    if (size != 4 || (off & 3))
        return ERR_INVAL;
    if (off == RTCMR)
        vm->rtc_match = (uint32_t)val;
    else if (off == RTCIMSC)
        vm->rtc_imsc = (uint32_t)val & 1;
    return ERR_OK;
}

int vrtc_vm_init(struct vm *vm)
{
    struct mmio_region r = {.base = VM_RTC_IPA,
                            .size = VM_RTC_SIZE,
                            .read = vrtc_read,
                            .write = vrtc_write,
                            .ctx = vm,
                            .name = "PL031"};
    return vm_add_mmio(vm, &r);
}
