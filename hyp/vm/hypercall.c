// SPDX-License-Identifier: MIT
// Tally's hypercalls: SMCCC fast calls in the vendor-specific hypervisor
// service range (owner 6: 0x86000000-0x8600ffff for SMC32/HVC32 ids,
// 0xc6000000-0xc600ffff for SMC64/HVC64), documented in docs/hypercalls.md.
// Any other function id, in that range or outside every range Tally serves,
// returns SMCCC NOT_SUPPORTED (-1) in x0 and changes nothing else.
#include <tally/page_alloc.h>

#include "core/hyp.h"
#include "vcpu.h"
#include "vm.h"

#define TALLY_HC_VERSION    0x86000000u
#define TALLY_HC_ACCOUNTING 0x86000001u

#define TALLY_ABI_MAJOR 1
#define TALLY_ABI_MINOR 0
#define TALLY_MAGIC     0x54414c4c59ull /* "TALLY" */

#define SMCCC_NOT_SUPPORTED (-1)

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
        break;
    case TALLY_HC_ACCOUNTING:
        x[0] = 0;
        x[1] = vm->ram_size / PAGE_SIZE;
        /* Racy snapshots, as any census read while others run. */
        x[2] = vm->s2.nr_tables;
        x[3] = page_alloc_free_pages();
        break;
    default:
        x[0] = (uint64_t)(int64_t)SMCCC_NOT_SUPPORTED;
        break;
    }
}
