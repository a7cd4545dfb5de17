// SPDX-License-Identifier: MIT
// Tally's hypercalls: SMCCC fast calls in the vendor-specific hypervisor
// service range (owner 6: 0x86000000-0x8600ffff for SMC32/HVC32 ids,
// 0xc6000000-0xc600ffff for SMC64/HVC64; version, accounting and features
// are 32-bit ids, the sharing calls 64-bit), documented in docs/hypercalls.md.
// Any other function id, in that range or outside every range Tally serves,
// returns SMCCC NOT_SUPPORTED (-1) in x0 and changes nothing else.
//
// The sharing calls hand their arguments to the sharing core (mm/share.c),
// which checks every page before changing any; the other VM is named by id
// and held with vm_get_by_id() for the call. Their result is x0 only: 0 or a negative
// Tally error code (include/tally/errno.h), each with one meaning.
#include <tally/errno.h>
#include <tally/share.h>

#include "core/hyp.h"
#include "vcpu.h"
#include "vm.h"

#define TALLY_HC_VERSION    0x86000000u
#define TALLY_HC_ACCOUNTING 0x86000001u
#define TALLY_HC_FEATURES   0x86000002u
/* The sharing calls take 64-bit IPAs: SMC64/HVC64 ids (SMCCC's 32-bit
 * convention passes arguments in w1-w7 only). */
#define TALLY_HC_SHARE       0xc6000003u
#define TALLY_HC_UNSHARE     0xc6000004u
#define TALLY_HC_LEND        0xc6000005u
#define TALLY_HC_RECLAIM     0xc6000006u
#define TALLY_HC_DONATE      0xc6000007u
#define TALLY_HC_RELINQUISH  0xc6000008u
#define TALLY_HC_SHARE_HYP   0xc6000009u
#define TALLY_HC_UNSHARE_HYP 0xc600000au

#define TALLY_ABI_MAJOR 1
#define TALLY_ABI_MINOR 1
#define TALLY_MAGIC     0x54414c4c59ull /* "TALLY" */

#define SMCCC_NOT_SUPPORTED (-1)

/* One sharing call for vm, with the other VM (x3) as the sharing core sees
 * it: NULL if the call names none or no live VM has that id. */
static int sharing_call(uint32_t fid, struct share_vm *me, const uint64_t *x,
                        struct share_vm *other)
{
    switch (fid) {
    case TALLY_HC_SHARE:
        return share_share(me, x[1], x[2], other, x[4], x[5]);
    case TALLY_HC_UNSHARE:
        return share_unshare(me, x[1], x[2], other, x[4]);
    case TALLY_HC_LEND:
        return share_lend(me, x[1], x[2], other, x[4]);
    case TALLY_HC_RECLAIM:
        return share_reclaim(me, x[1], x[2], other, x[4]);
    case TALLY_HC_DONATE:
        return share_donate(me, x[1], x[2], other, x[4]);
    case TALLY_HC_RELINQUISH:
        return share_relinquish(me, x[1], x[2]);
    case TALLY_HC_SHARE_HYP:
        return share_with_hyp(me, x[1], x[2]);
    default: /* TALLY_HC_UNSHARE_HYP */
        return share_unshare_hyp(me, x[1], x[2]);
    }
}

/* Sharing calls change two VMs' stage-2 tables (or Tally's stage-1): under
 * vm_mm_lock, so that the accounting never sees half a change and the other
 * VM is either live for the whole call or already gone (its teardown takes
 * the same lock). The other VM is held by a reference meanwhile. */
static int sharing_locked(uint32_t fid, struct vm *vm, const uint64_t *x)
{
    bool names_vm = fid >= TALLY_HC_SHARE && fid <= TALLY_HC_DONATE;
    vm_mm_lock();
    struct vm *other = names_vm && x[3] <= 0xffffffffu ? vm_get_by_id((unsigned)x[3]) : NULL;
    /* The sharing core finds frames through the stage-2: untouched RAM in
     * the range is touched first (zeroed and mapped, as a guest access
     * would), whatever the call's outcome; the guest sees the same zeros. */
    int err = ERR_OK;
    if (x[2] && x[2] < (1ull << 40))
        err = vm_touch_locked(vm, x[1], x[2] << PAGE_SHIFT);
    if (err == ERR_OK)
        err = sharing_call(fid, &vm->share, x, other ? &other->share : NULL);
    /* Nothing is mapped at an emulated device's IPAs (every access traps):
     * say what is there. */
    if (err == ERR_NOENT && x[2] && x[2] < (1ull << 40) &&
        mmio_overlaps(vm, x[1], x[2] << PAGE_SHIFT))
        err = ERR_DEVICE;
    if (other)
        vm_put(other);
    vm_mm_unlock();
    return err;
}

static void accounting(struct vm *vm, uint64_t *x)
{
    struct share_counts c;
    share_vm_counts(&vm->share, &c);
    x[0] = 0;
    x[1] = c.owned;
    /* A racy snapshot: another vCPU of the VM may be sharing meanwhile. */
    x[2] = vm->s2.nr_tables;
    x[3] = c.shared;
    x[4] = c.lent;
    x[5] = c.borrowed;
    x[6] = c.hyp_shared;
}

void hypercall_handle(struct vcpu *v, uint32_t fid)
{
    uint64_t *x = v->ctx.x;
    struct vm *vm = v->vm;
    switch (fid) {
    case TALLY_HC_VERSION:
        x[0] = (TALLY_ABI_MAJOR << 16) | TALLY_ABI_MINOR;
        x[1] = TALLY_MAGIC;
        x[2] = vm->id;
        x[3] = vm->nr_vcpus;
        return;
    case TALLY_HC_ACCOUNTING:
        accounting(vm, x);
        return;
    case TALLY_HC_FEATURES:
        x[0] = (x[1] >= TALLY_HC_VERSION && x[1] <= TALLY_HC_FEATURES) ||
                       (x[1] >= TALLY_HC_SHARE && x[1] <= TALLY_HC_UNSHARE_HYP)
                   ? 0
                   : (uint64_t)SMCCC_NOT_SUPPORTED;
        return;
    case TALLY_HC_SHARE ... TALLY_HC_UNSHARE_HYP:
        x[0] = (uint64_t)(int64_t)sharing_locked(fid, vm, x);
        return;
    default:
        x[0] = (uint64_t)(int64_t)SMCCC_NOT_SUPPORTED;
        return;
    }
}
