// SPDX-License-Identifier: MIT
// PSCI 1.0 for guests, over HVC (what the guest's device tree says) or SMC
// (trapped by HCR_EL2.TSC; handled the same way). Function ids and return
// codes are the PSCI specification's (DEN0022). CPU_ON and CPU_OFF change a
// vCPU's power state (vcpu.h); the vCPU's own pCPU does the rest in its run
// loop. SYSTEM_OFF and SYSTEM_RESET stop the whole VM (vm_request_stop), and
// so does the CPU_OFF that leaves no vCPU on (VM_STOP_ALL_OFF).
//
// CPU_ON of a vCPU already on or on its way (another CPU_ON won) answers
// ALREADY_ON, as KVM does: exactly one of concurrent callers gets SUCCESS.
// An entry point outside the VM's RAM is INVALID_ADDRESS. CPU_SUSPEND takes
// the original power_state format: StateType 0 (standby) at level 0 waits
// for an interrupt as WFI does and returns SUCCESS; StateType 1 (power-down)
// at level 0 or 1 waits the same way and then resumes at the given entry
// point with the context id in x0, as a CPU_ON would (the vCPU's EL1 state
// is lost, as the power-down allows). AFFINITY_INFO answers for levels 0-3:
// vCPU i is MPIDR Aff0 = i with Aff1-3 = 0, so levels 1-3 are the one node
// holding every vCPU (ON if any is ON, else ON_PENDING if any is, else OFF).
#include <tally/spinlock.h>
#include <tally/sysreg.h>

#include "irq/gic.h"

#include "vcpu.h"
#include "vm.h"

#define PSCI_VERSION           0x84000000u
#define PSCI_CPU_SUSPEND       0x84000001u
#define PSCI_CPU_OFF           0x84000002u
#define PSCI_CPU_ON            0x84000003u
#define PSCI_AFFINITY_INFO     0x84000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF        0x84000008u
#define PSCI_SYSTEM_RESET      0x84000009u
#define PSCI_FEATURES          0x8400000au
#define PSCI_FN64              0x40000000u /* SMC64 variant of a function id */
#define SMCCC_VERSION          0x80000000u

#define PSCI_SUCCESS            0
#define PSCI_NOT_SUPPORTED      (-1)
#define PSCI_INVALID_PARAMETERS (-2)
#define PSCI_ALREADY_ON         (-4)
#define PSCI_INVALID_ADDRESS    (-9)

#define PSCI_AFF_ON         0
#define PSCI_AFF_OFF        1
#define PSCI_AFF_ON_PENDING 2

#define MIGRATE_NOT_REQUIRED 2 /* no trusted OS to migrate */

/* Serialises CPU_ON against CPU_ON (two vCPUs starting the same one). */
static struct spinlock psci_lock;

static struct vcpu *vcpu_by_mpidr(struct vm *vm, uint64_t mpidr)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (vm->vcpus[i] && (vm->vcpus[i]->mpidr & 0xff00ffffffull) == (mpidr & 0xff00ffffffull))
            return vm->vcpus[i];
    }
    return NULL;
}

/* An entry point the vCPU can execute from: 4-byte aligned, in its RAM. */
static bool entry_ok(const struct vm *vm, uint64_t entry)
{
    return !(entry & 3) && entry >= VM_RAM_IPA && entry - VM_RAM_IPA < vm->ram_size;
}

static int64_t cpu_on(struct vcpu *v, uint64_t mpidr, uint64_t entry, uint64_t context)
{
    struct vcpu *t = vcpu_by_mpidr(v->vm, mpidr);
    if (!t)
        return PSCI_INVALID_PARAMETERS;
    if (!entry_ok(v->vm, entry))
        return PSCI_INVALID_ADDRESS;
    int64_t r;
    spin_lock(&psci_lock);
    /* Acquire: pairs with the target's release stores of ON and OFF. */
    unsigned p = atomic_load_u32(&t->power, MO_ACQUIRE);
    if (p == VCPU_ON || p == VCPU_ON_PENDING) {
        r = PSCI_ALREADY_ON;
    } else {
        t->on_entry = entry;
        t->on_context = context;
        /* Release: entry and context are visible to the target's pCPU,
         * which load-acquires the state (vcpu.c power_of). */
        atomic_store_u32(&t->power, VCPU_ON_PENDING, MO_RELEASE);
        r = PSCI_SUCCESS;
    }
    spin_unlock(&psci_lock);
    if (r == PSCI_SUCCESS)
        gic_send_ipi(t->pcpu); /* its pCPU sleeps in WFI (vcpu.c) */
    return r;
}

static int64_t aff_state(unsigned power)
{
    return power == VCPU_ON           ? PSCI_AFF_ON
           : power == VCPU_ON_PENDING ? PSCI_AFF_ON_PENDING
                                      : PSCI_AFF_OFF;
}

/* MPIDR affinity fields at and above level: Aff0 [7:0], Aff1 [15:8],
 * Aff2 [23:16], Aff3 [39:32]. */
static uint64_t aff_mask(uint64_t level)
{
    static const uint64_t below[] = {0, 0xff, 0xffff, 0xffffff};
    return 0xff00ffffffull & ~below[level];
}

static int64_t affinity_info(struct vcpu *v, uint64_t mpidr, uint64_t level)
{
    if (level > 3)
        return PSCI_INVALID_PARAMETERS;
    uint64_t mask = aff_mask(level);
    bool any = false;
    unsigned best = VCPU_OFF;
    for (unsigned i = 0; i < v->vm->nr_vcpus; i++) {
        struct vcpu *t = v->vm->vcpus[i];
        if (!t || (t->mpidr & mask) != (mpidr & mask))
            continue;
        any = true;
        /* Acquire: pairs with the target's release stores of its state. */
        unsigned p = atomic_load_u32(&t->power, MO_ACQUIRE);
        if (p == VCPU_ON || (p == VCPU_ON_PENDING && best == VCPU_OFF))
            best = p;
    }
    return any ? aff_state(best) : PSCI_INVALID_PARAMETERS;
}

/* CPU_OFF: the vCPU is off; the last one on ends the VM. Under psci_lock,
 * so a concurrent CPU_ON either sees this vCPU OFF or was counted. */
static void cpu_off(struct vcpu *v)
{
    spin_lock(&psci_lock);
    /* Release: this vCPU's last guest state is saved before another
     * vCPU's AFFINITY_INFO sees OFF. Its pCPU sleeps in vcpu_run. */
    atomic_store_u32(&v->power, VCPU_OFF, MO_RELEASE);
    bool all_off = true;
    for (unsigned i = 0; i < v->vm->nr_vcpus; i++)
        if (v->vm->vcpus[i] && atomic_load_u32(&v->vm->vcpus[i]->power, MO_ACQUIRE) != VCPU_OFF)
            all_off = false;
    spin_unlock(&psci_lock);
    if (all_off)
        vm_request_stop(v->vm, VM_STOP_ALL_OFF);
}

/* CPU_SUSPEND, original power_state format: StateID [15:0], StateType [16],
 * AffinityLevel [25:24]; every other bit must be zero. */
#define PS_TYPE_POWERDOWN (1u << 16)
static int64_t cpu_suspend(struct vcpu *v, uint64_t state, uint64_t entry, uint64_t context)
{
    unsigned level = (state >> 24) & 3;
    bool powerdown = state & PS_TYPE_POWERDOWN;
    if ((state & ~0x301ffffull) || (state & 0xffff) || level > (powerdown ? 1u : 0u))
        return PSCI_INVALID_PARAMETERS;
    if (powerdown && !entry_ok(v->vm, entry))
        return PSCI_INVALID_ADDRESS;
    vcpu_wait_for_interrupt(v);
    if (powerdown) {
        /* Woken: a warm boot at the entry point, as CPU_ON gives. */
        vcpu_warm_boot(v, entry, context);
        return PSCI_SUCCESS; /* not seen: x0 is the context id now */
    }
    return PSCI_SUCCESS;
}

static bool supported(uint32_t fid)
{
    switch (fid) {
    case PSCI_VERSION:
    case PSCI_CPU_SUSPEND:
    case PSCI_CPU_SUSPEND | PSCI_FN64:
    case PSCI_CPU_OFF:
    case PSCI_CPU_ON:
    case PSCI_CPU_ON | PSCI_FN64:
    case PSCI_AFFINITY_INFO:
    case PSCI_AFFINITY_INFO | PSCI_FN64:
    case PSCI_MIGRATE_INFO_TYPE:
    case PSCI_SYSTEM_OFF:
    case PSCI_SYSTEM_RESET:
    case PSCI_FEATURES:
    case SMCCC_VERSION: /* SMCCC 1.1 (spectre.c), discovered through PSCI_FEATURES */
        return true;
    default:
        return false;
    }
}

bool vpsci_handle(struct vcpu *v, uint32_t fid)
{
    uint64_t *x = v->ctx.x;
    int64_t r;
    /* PSCI's range: 0x84000000-0x8400001f and the SMC64 twins. */
    if ((fid & ~(PSCI_FN64 | 0x1fu)) != 0x84000000u)
        return false;
    bool w32 = !(fid & PSCI_FN64);
    uint64_t a1 = w32 ? (uint32_t)x[1] : x[1], a2 = w32 ? (uint32_t)x[2] : x[2],
             a3 = w32 ? (uint32_t)x[3] : x[3];
    switch (fid) {
    case PSCI_VERSION:
        r = 0x10000; /* 1.0 */
        break;
    case PSCI_FEATURES:
        r = supported((uint32_t)a1) ? PSCI_SUCCESS : PSCI_NOT_SUPPORTED;
        break;
    case PSCI_CPU_ON:
    case PSCI_CPU_ON | PSCI_FN64:
        r = cpu_on(v, a1, a2, a3);
        break;
    case PSCI_CPU_SUSPEND:
    case PSCI_CPU_SUSPEND | PSCI_FN64:
        r = cpu_suspend(v, a1, a2, a3);
        if (r == PSCI_SUCCESS && (a1 & PS_TYPE_POWERDOWN))
            return true; /* x0 holds the context id for the entry point */
        break;
    case PSCI_CPU_OFF:
        cpu_off(v);
        return true;
    case PSCI_AFFINITY_INFO:
    case PSCI_AFFINITY_INFO | PSCI_FN64:
        r = affinity_info(v, a1, a2);
        break;
    case PSCI_MIGRATE_INFO_TYPE:
        r = MIGRATE_NOT_REQUIRED;
        break;
    case PSCI_SYSTEM_OFF:
        vm_request_stop(v->vm, VM_STOP_OFF);
        return true;
    case PSCI_SYSTEM_RESET:
        vm_request_stop(v->vm, VM_STOP_RESET);
        return true;
    default:
        r = PSCI_NOT_SUPPORTED;
        break;
    }
    x[0] = (uint64_t)r;
    return true;
}
