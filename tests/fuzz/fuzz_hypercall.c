// SPDX-License-Identifier: MIT
// libFuzzer target: the guest-facing HVC/SMC ABI. Bytes become calls from a
// VM's vCPUs, dispatched as hyp/vm/traps.c does (PSCI first, hyp/vm/vpsci.c, then
// Tally's calls, hyp/vm/hypercall.c), and every result is compared with a model
// written from docs/hypercalls.md and the PSCI specification (DEN0022).
//
// Input: one byte of set-up (bits 0-2: vCPUs - 1; bits 3-4: VM id; bits
// 5-7: initial power state of vCPUs 1.. -- vCPU 0 is ON), u32 RAM pages,
// u16 stage-2 table count, then calls of 30 bytes:
//   u8 caller, u8 function-id choice, u32 raw id, u64 x1, u64 x2, u64 x3
// (id choice < 0x80: one of the ids below, a neighbour of one, or an SMC64
// twin; otherwise the raw u32). The caller is the chosen vCPU if it is ON,
// else the first ON one; when no vCPU is ON, the call instead lets a
// pending vCPU's pCPU bring it ON (what vcpu.c does on CPU_ON's IPI).
//
// Checked after every call: x0..x3 exactly as the model says (PSCI writes
// x0 only, and nothing for CPU_OFF, SYSTEM_OFF and SYSTEM_RESET; Tally's
// calls x0..x3; anything else x0 = -1), x4..x30 untouched; vCPU power states,
// CPU_ON's entry and context; the IPIs sent (one to the target's pCPU per
// successful CPU_ON, no other) and the VM stop requests (SYSTEM_OFF/RESET).
#include "../host/harness.h"
#include "fuzz_common.h"

#include <string.h>

#include <tally/page_alloc.h>
#include <tally/share.h>

#include "irq/gic.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

/* --- the hypervisor around the dispatchers ------------------------------------ */

static unsigned ipis[TALLY_MAX_CPUS], stops[VM_STOP_ALL_OFF + 1];

void gic_send_ipi(unsigned pcpu)
{
    FUZZ_CHECK(pcpu < TALLY_MAX_CPUS, "IPI to pCPU %u", pcpu);
    ipis[pcpu]++;
}

bool vm_request_stop(struct vm *vm, enum vm_stop why)
{
    FUZZ_CHECK(why == VM_STOP_OFF || why == VM_STOP_RESET || why == VM_STOP_ALL_OFF,
               "stop request %d", why);
    stops[why]++;
    uint32_t expected = VM_RUNNING;
    /* Relaxed: single-threaded here; vm.c's own CAS orders for real. */
    return atomic_cas_u32(&vm->stop, &expected, why, MO_RELAXED);
}

/* vcpu.c's waits and warm boots (CPU_SUSPEND): an early wake-up is
 * architecturally allowed, and a warm boot is recorded for the model. */
static unsigned warm_boots[TALLY_MAX_CPUS];
static uint64_t warm_entry[TALLY_MAX_CPUS], warm_context[TALLY_MAX_CPUS];

void vcpu_wait_for_interrupt(struct vcpu *v)
{
}

void vcpu_warm_boot(struct vcpu *v, uint64_t entry, uint64_t context)
{
    warm_boots[v->id]++;
    warm_entry[v->id] = entry;
    warm_context[v->id] = context;
}

/* The VM's stage-2 as the sharing core sees it: a real, empty one (the
 * fuzzed VM has no RAM mapped), so every sharing call ends in an argument
 * or ownership error the model can name. vm.s2 itself only carries the
 * table count ACCOUNTING reports. */
/* The fuzzed VM's IPA size, as a 44-bit-PARange CPU gives it. */
#define FUZZ_IPA_BITS 40
static struct aspace share_s2;
static struct vm vm;

/* vm/vm.c's registry, for the one fuzzed VM. */
struct vm *vm_get_by_id(unsigned id)
{
    return id == vm.id ? &vm : NULL;
}

void vm_put(struct vm *v)
{
}

void vm_mm_lock(void)
{
}

/* The fuzzed VM's RAM is never mapped (its stage-2 is empty): first touch
 * (vm/vm.c, EL2-only) has nothing to map, as for RAM already touched. */
int vm_touch_locked(struct vm *v, uint64_t ipa, uint64_t len)
{
    return ERR_OK;
}

/* The fuzzed VM has no emulated device (vm/mmio.c is EL2-only). */
bool mmio_overlaps(const struct vm *v, uint64_t ipa, uint64_t size)
{
    return false;
}

void vm_mm_unlock(void)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    atomics_init();
    sim_ram_setup_simple(64);
    if (aspace_init(&share_s2, PT_STAGE2, FUZZ_IPA_BITS, 1, 0) != ERR_OK)
        abort();
    return 0;
}

/* --- the model ------------------------------------------------------------------ */

#define PSCI_FN64 0x40000000u

static const uint32_t known_ids[] = {
    0x84000000, /* PSCI_VERSION */
    0x84000001, /* CPU_SUSPEND */
    0x84000002, /* CPU_OFF */
    0x84000003, /* CPU_ON */
    0x84000004, /* AFFINITY_INFO */
    0x84000006, /* MIGRATE_INFO_TYPE */
    0x84000008, /* SYSTEM_OFF */
    0x84000009, /* SYSTEM_RESET */
    0x8400000a, /* PSCI_FEATURES */
    0x8400001f, /* last of PSCI's range */
    0x84000020, /* first past it */
    0x86000000, /* TALLY_HC_VERSION */
    0x86000001, /* TALLY_HC_ACCOUNTING */
    0x86000002, /* TALLY_HC_FEATURES */
    0xc6000003, /* TALLY_HC_SHARE (SMC64 id; its SMC32 twin is undefined) */
    0xc6000004, /* TALLY_HC_UNSHARE */
    0xc6000005, /* TALLY_HC_LEND */
    0xc6000006, /* TALLY_HC_RECLAIM */
    0xc6000007, /* TALLY_HC_DONATE */
    0xc6000008, /* TALLY_HC_RELINQUISH */
    0xc6000009, /* TALLY_HC_SHARE_HYP */
    0xc600000a, /* TALLY_HC_UNSHARE_HYP */
    0x86000003, /* first unassigned SMC32 id */
    0xc600000b, /* first unassigned SMC64 id */
    0x8600ffff, /* reserved */
    0x80000000, /* SMCCC_VERSION: hyp/vm/spectre.c, not linked here: -1 */
    0x80000001, /* SMCCC_ARCH_FEATURES: likewise */
    0x00000000, 0xffffffff,
};

static struct vcpu vcpus[TALLY_MAX_CPUS];

/* vCPU whose MPIDR matches (Aff3..Aff0), or -1. */
static int by_mpidr(uint64_t mpidr)
{
    for (unsigned i = 0; i < vm.nr_vcpus; i++)
        if ((vcpus[i].mpidr & 0xff00ffffffull) == (mpidr & 0xff00ffffffull))
            return (int)i;
    return -1;
}

static unsigned power(unsigned i)
{
    return atomic_load_u32(&vcpus[i].power, MO_RELAXED);
}

static bool psci_supported(uint32_t fid)
{
    switch (fid) {
    case 0x84000000:
    case 0x84000001:
    case 0x84000001 | PSCI_FN64:
    case 0x84000002:
    case 0x84000003:
    case 0x84000003 | PSCI_FN64:
    case 0x84000004:
    case 0x84000004 | PSCI_FN64:
    case 0x84000006:
    case 0x84000008:
    case 0x84000009:
    case 0x8400000a:
    case 0x80000000: /* SMCCC_VERSION, discovered through PSCI_FEATURES */
        return true;
    default:
        return false;
    }
}

/* An entry point a vCPU may start at: 4-byte aligned, in the VM's RAM. */
static bool entry_ok(uint64_t entry)
{
    return !(entry & 3) && entry >= VM_RAM_IPA && entry - VM_RAM_IPA < vm.ram_size;
}

/*
 * docs/hypercalls.md's checking order for a VM with no RAM mapped (every
 * page of any range is unmapped) and no window for Tally: page count,
 * alignment and range of the caller's IPA, flags; then the other VM (by id:
 * missing, self); then the pages (ERR_NOENT).
 */
static int share_model(uint32_t fid, const uint64_t *x)
{
    uint64_t ipa = x[1], nr = x[2], id = x[3], lim = 1ull << FUZZ_IPA_BITS;
    if (nr == 0)
        return ERR_INVAL;
    if (nr > SHARE_MAX_PAGES)
        return ERR_TOOBIG;
    if (ipa & 0xfff)
        return ERR_ALIGN;
    if (ipa >= lim || nr > (lim - ipa) >> PAGE_SHIFT)
        return ERR_RANGE;
    if (fid == 0xc6000003 && (x[5] & ~(uint64_t)SHARE_RO))
        return ERR_INVAL;
    if (fid == 0xc6000009 || fid == 0xc600000a)
        return ERR_NOTSUP;
    if (fid == 0xc6000008)
        return ERR_NOENT;
    bool self = id == vm.id;
    if (fid == 0xc6000006 && !self)
        return ERR_NOENT; /* reclaim: no borrower named is allowed */
    if (!self)
        return ERR_NOVM;
    return ERR_SELF;
}

struct expect_power {
    unsigned power[TALLY_MAX_CPUS];
};

struct expect {
    uint64_t x[7];
    struct expect_power p;
    uint64_t on_entry[TALLY_MAX_CPUS], on_context[TALLY_MAX_CPUS];
    unsigned ipis[TALLY_MAX_CPUS], stops[VM_STOP_ALL_OFF + 1];
    unsigned warm_boots[TALLY_MAX_CPUS];
    uint64_t warm_entry[TALLY_MAX_CPUS], warm_context[TALLY_MAX_CPUS];
};

/* AFFINITY_INFO over the vCPUs whose affinity matches at and above level. */
static int64_t affinity_model(const struct expect_power *p, uint64_t mpidr, uint64_t level)
{
    static const uint64_t below[] = {0, 0xff, 0xffff, 0xffffff};
    if (level > 3)
        return -2;
    uint64_t mask = 0xff00ffffffull & ~below[level];
    bool any = false, on = false, pending = false;
    for (unsigned i = 0; i < vm.nr_vcpus; i++) {
        if ((vcpus[i].mpidr & mask) != (mpidr & mask))
            continue;
        any = true;
        on |= p->power[i] == VCPU_ON;
        pending |= p->power[i] == VCPU_ON_PENDING;
    }
    return !any ? -2 : on ? 0 : pending ? 2 : 1;
}

/* What the call (fid, x1..x3) from vCPU c must leave behind. */
static void model(unsigned c, uint32_t fid, struct expect *e)
{
    struct vcpu *v = &vcpus[c];
    memcpy(e->x, v->ctx.x, sizeof(e->x));
    for (unsigned i = 0; i < vm.nr_vcpus; i++) {
        e->p.power[i] = power(i);
        e->on_entry[i] = vcpus[i].on_entry;
        e->on_context[i] = vcpus[i].on_context;
    }
    memcpy(e->ipis, ipis, sizeof(ipis));
    memcpy(e->stops, stops, sizeof(stops));
    memcpy(e->warm_boots, warm_boots, sizeof(warm_boots));
    memcpy(e->warm_entry, warm_entry, sizeof(warm_entry));
    memcpy(e->warm_context, warm_context, sizeof(warm_context));

    if ((fid & ~(PSCI_FN64 | 0x1fu)) == 0x84000000u) {
        bool w32 = !(fid & PSCI_FN64);
        uint64_t a1 = w32 ? (uint32_t)v->ctx.x[1] : v->ctx.x[1];
        uint64_t a2 = w32 ? (uint32_t)v->ctx.x[2] : v->ctx.x[2];
        uint64_t a3 = w32 ? (uint32_t)v->ctx.x[3] : v->ctx.x[3];
        int64_t r;
        int t;
        switch (fid) {
        case 0x84000000:
            r = 0x10000; /* PSCI 1.0 */
            break;
        case 0x8400000a:
            r = psci_supported((uint32_t)a1) ? 0 : -1;
            break;
        case 0x84000003:
        case 0x84000003 | PSCI_FN64:
            t = by_mpidr(a1);
            if (t < 0) {
                r = -2; /* INVALID_PARAMETERS */
            } else if (!entry_ok(a2)) {
                r = -9; /* INVALID_ADDRESS */
            } else if (e->p.power[t] != VCPU_OFF) {
                r = -4; /* ALREADY_ON, for a pending vCPU too (as KVM) */
            } else {
                r = 0;
                e->p.power[t] = VCPU_ON_PENDING;
                e->on_entry[t] = a2;
                e->on_context[t] = a3;
                e->ipis[vcpus[t].pcpu]++;
            }
            break;
        case 0x84000001:
        case 0x84000001 | PSCI_FN64: {
            /* Original format: StateID [15:0] must be 0, StateType [16],
             * level [25:24]: 0 for standby, 0-1 for power-down. */
            bool down = a1 & (1u << 16);
            unsigned level = (a1 >> 24) & 3;
            if ((a1 & ~0x301ffffull) || (a1 & 0xffff) || level > (down ? 1u : 0u)) {
                r = -2;
            } else if (down && !entry_ok(a2)) {
                r = -9;
            } else if (down) {
                e->warm_boots[c]++;
                e->warm_entry[c] = a2;
                e->warm_context[c] = a3;
                return; /* resumes at the entry point: x0 is not a result */
            } else {
                r = 0;
            }
            break;
        }
        case 0x84000002: {
            e->p.power[c] = VCPU_OFF;
            bool all_off = true;
            for (unsigned i = 0; i < vm.nr_vcpus; i++)
                all_off &= e->p.power[i] == VCPU_OFF;
            if (all_off)
                e->stops[VM_STOP_ALL_OFF]++; /* the last one on ends the VM */
            return;                          /* does not return to the caller: x0 untouched */
        }
        case 0x84000004:
        case 0x84000004 | PSCI_FN64:
            r = affinity_model(&e->p, a1, a2);
            break;
        case 0x84000006:
            r = 2; /* MIGRATE_NOT_REQUIRED */
            break;
        case 0x84000008:
            e->stops[VM_STOP_OFF]++;
            return;
        case 0x84000009:
            e->stops[VM_STOP_RESET]++;
            return;
        default:
            r = -1;
            break;
        }
        e->x[0] = (uint64_t)r;
        return;
    }
    switch (fid) {
    case 0x86000000:
        e->x[0] = 0x10001;
        e->x[1] = 0x54414c4c59ull;
        e->x[2] = vm.id;
        e->x[3] = vm.nr_vcpus;
        break;
    case 0x86000001:
        e->x[0] = 0;
        e->x[1] = vm.ram_size / PAGE_SIZE; /* owned: its RAM, nothing shared */
        e->x[2] = vm.s2.nr_tables;
        e->x[3] = e->x[4] = e->x[5] = e->x[6] = 0;
        break;
    case 0x86000002:
        e->x[0] = (v->ctx.x[1] >= 0x86000000u && v->ctx.x[1] <= 0x86000002u) ||
                          (v->ctx.x[1] >= 0xc6000003u && v->ctx.x[1] <= 0xc600000au)
                      ? 0
                      : (uint64_t)-1;
        break;
    case 0xc6000003 ... 0xc600000a:
        e->x[0] = (uint64_t)(int64_t)share_model(fid, v->ctx.x);
        break;
    default:
        e->x[0] = (uint64_t)-1; /* SMCCC NOT_SUPPORTED */
        break;
    }
}

static void check(unsigned c, uint32_t fid, const struct expect *e, const uint64_t *saved)
{
    const uint64_t *x = vcpus[c].ctx.x;
    /* ACCOUNTING writes x0-x6, every other call at most x0-x3. */
    unsigned nres = fid == 0x86000001 ? 7 : 4;
    for (unsigned i = 0; i < nres; i++)
        FUZZ_CHECK(x[i] == e->x[i], "vCPU %u fid %#x: x%u = %#llx, model %#llx", c, fid, i,
                   (unsigned long long)x[i], (unsigned long long)e->x[i]);
    for (unsigned i = nres; i < 31; i++)
        FUZZ_CHECK(x[i] == saved[i], "vCPU %u fid %#x: x%u changed", c, fid, i);
    for (unsigned i = 0; i < vm.nr_vcpus; i++) {
        FUZZ_CHECK(power(i) == e->p.power[i], "fid %#x from vCPU %u: vCPU %u power %u, model %u",
                   fid, c, i, power(i), e->p.power[i]);
        FUZZ_CHECK(vcpus[i].on_entry == e->on_entry[i] && vcpus[i].on_context == e->on_context[i],
                   "fid %#x from vCPU %u: vCPU %u CPU_ON entry/context", fid, c, i);
    }
    FUZZ_CHECK(!memcmp(ipis, e->ipis, sizeof(ipis)), "fid %#x from vCPU %u: IPIs differ", fid, c);
    FUZZ_CHECK(!memcmp(stops, e->stops, sizeof(stops)), "fid %#x from vCPU %u: stop requests", fid,
               c);
    FUZZ_CHECK(!memcmp(warm_boots, e->warm_boots, sizeof(warm_boots)) &&
                   !memcmp(warm_entry, e->warm_entry, sizeof(warm_entry)) &&
                   !memcmp(warm_context, e->warm_context, sizeof(warm_context)),
               "fid %#x from vCPU %u: CPU_SUSPEND warm boots differ", fid, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t setup = fuzz_u8(&in);
    memset(&vm, 0, sizeof(vm));
    memset(vcpus, 0, sizeof(vcpus));
    memset(ipis, 0, sizeof(ipis));
    memset(stops, 0, sizeof(stops));
    memset(warm_boots, 0, sizeof(warm_boots));
    memset(warm_entry, 0, sizeof(warm_entry));
    memset(warm_context, 0, sizeof(warm_context));
    vm.nr_vcpus = 1 + (setup & 7);
    vm.id = (setup >> 3) & 3;
    vm.vmid = (uint16_t)(vm.id + 1);
    vm.ram_size = (uint64_t)fuzz_u32(&in) * PAGE_SIZE;
    vm.s2.nr_tables = fuzz_u16(&in);
    share_vm_init(&vm.share, (uint16_t)vm.id, &share_s2, vm.ram_size / PAGE_SIZE,
                  VM_BORROW_IPA(FUZZ_IPA_BITS), VM_BORROW_SIZE(FUZZ_IPA_BITS));
    for (unsigned i = 0; i < vm.nr_vcpus; i++) {
        struct vcpu *v = &vcpus[i];
        v->vm = &vm;
        v->id = i;
        v->pcpu = i;
        v->mpidr = (1ull << 31) | i; /* as vm.c: RES1 bit 31, Aff0 = index */
        unsigned p = i == 0 ? VCPU_ON : ((setup >> 5) >> ((i - 1) % 3)) & 1 ? VCPU_ON : VCPU_OFF;
        atomic_store_u32(&v->power, p, MO_RELAXED);
        vm.vcpus[i] = v;
    }

    while (in.left) {
        unsigned c = fuzz_u8(&in) % vm.nr_vcpus;
        uint8_t choice = fuzz_u8(&in);
        uint32_t raw = fuzz_u32(&in);
        uint64_t a[3] = {fuzz_u64(&in), fuzz_u64(&in), fuzz_u64(&in)};
        uint32_t fid = raw;
        if (choice < 0x80) {
            fid = known_ids[choice % ARRAY_SIZE(known_ids)];
            if (choice & 0x40)
                fid |= PSCI_FN64; /* the SMC64 twin */
            if ((choice & 0x20) && fid != 0xffffffff)
                fid += raw & 3 ? 1 : 0; /* a neighbour */
        }
        /* The caller must be running: the first ON vCPU from c on. */
        unsigned k = 0;
        while (k < vm.nr_vcpus && power((c + k) % vm.nr_vcpus) != VCPU_ON)
            k++;
        if (k == vm.nr_vcpus) {
            /* Nobody runs: a pending vCPU's pCPU takes it up (vcpu.c). */
            for (unsigned i = 0; i < vm.nr_vcpus; i++)
                if (power(i) == VCPU_ON_PENDING) {
                    atomic_store_u32(&vcpus[i].power, VCPU_ON, MO_RELAXED);
                    break;
                }
            continue;
        }
        c = (c + k) % vm.nr_vcpus;
        if (raw & 0x80000000u) /* sometimes a pending vCPU comes up first */
            for (unsigned i = 0; i < vm.nr_vcpus; i++)
                if (power(i) == VCPU_ON_PENDING) {
                    atomic_store_u32(&vcpus[i].power, VCPU_ON, MO_RELAXED);
                    break;
                }
        struct vcpu *v = &vcpus[c];
        uint64_t saved[31];
        for (unsigned i = 0; i < 31; i++)
            v->ctx.x[i] = 0x5a5a000000000000ull | ((uint64_t)i << 32) | raw;
        /* w0 is the id; SMCCC ignores x0's upper half. */
        v->ctx.x[0] = ((uint64_t)raw << 32) | fid;
        v->ctx.x[1] = a[0];
        v->ctx.x[2] = a[1];
        v->ctx.x[3] = a[2];
        memcpy(saved, v->ctx.x, sizeof(saved));
        struct expect e;
        model(c, fid, &e);
        /* hyp/vm/traps.c's HVC/SMC exit. */
        if (!vpsci_handle(v, (uint32_t)v->ctx.x[0]))
            hypercall_handle(v, (uint32_t)v->ctx.x[0]);
        check(c, fid, &e, saved);
    }
    share_vm_teardown(&vm.share);
    return 0;
}
