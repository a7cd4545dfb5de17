// SPDX-License-Identifier: MIT
// MMIO emulation: each VM has a small table of IPA regions (the vGIC's
// distributor and redistributors, ...) registered while the VM is built and
// only read afterwards. A stage-2 data abort whose IPA falls in a region and
// whose syndrome is valid (ISV: a single load or store of one general
// register, no writeback) is decoded and handed to the region's callback;
// the guest's PC then moves past the instruction. Everything else is left to
// the caller, which injects an abort into the guest.
#include <tally/errno.h>
#include <tally/sysreg.h>

#include "mmio.h"
#include "vcpu.h"
#include "vm.h"

/* Data abort ISS with ISV = 1 (Arm ARM D17.2.40). */
#define ISS_ISV         (1ull << 24)
#define ISS_SAS(esr)    (((esr) >> 22) & 3)
#define ISS_SSE         (1ull << 21)
#define ISS_SRT(esr)    (((esr) >> 16) & 0x1f)
#define ISS_SF          (1ull << 15)

int vm_add_mmio(struct vm *vm, const struct mmio_region *r)
{
    if (!r->size || r->base + r->size < r->base || !r->read || !r->write)
        return ERR_INVAL;
    for (unsigned i = 0; i < vm->nr_mmio; i++) {
        const struct mmio_region *o = &vm->mmio[i];
        if (r->base < o->base + o->size && o->base < r->base + r->size)
            return ERR_EXIST;
    }
    if (vm->nr_mmio == VM_MAX_MMIO)
        return ERR_NOMEM;
    vm->mmio[vm->nr_mmio++] = *r;
    return ERR_OK;
}

static const struct mmio_region *find(const struct vm *vm, uint64_t ipa)
{
    for (unsigned i = 0; i < vm->nr_mmio; i++) {
        const struct mmio_region *r = &vm->mmio[i];
        if (ipa - r->base < r->size)
            return r;
    }
    return NULL;
}

bool mmio_handle_abort(struct vcpu *v, uint64_t esr, uint64_t ipa)
{
    const struct mmio_region *r = find(v->vm, ipa);
    if (!r || !(esr & ISS_ISV))
        return false;
    unsigned size = 1u << ISS_SAS(esr), rt = (unsigned)ISS_SRT(esr);
    uint64_t off = ipa - r->base;
    if (off + size > r->size)
        return false;
    if (esr & ESR_WNR) {
        uint64_t val = rt == 31 ? 0 : v->ctx.x[rt];
        if (size < 8)
            val &= (1ull << (size * 8)) - 1;
        if (r->write(v, off, size, val, r->ctx) != 0)
            return false;
    } else {
        uint64_t val = 0;
        if (r->read(v, off, size, &val, r->ctx) != 0)
            return false;
        if (size < 8) {
            val &= (1ull << (size * 8)) - 1;
            if ((esr & ISS_SSE) && (val >> (size * 8 - 1)))
                val |= ~0ull << (size * 8);
        }
        if (!(esr & ISS_SF))
            val &= 0xffffffffull;
        if (rt != 31)
            v->ctx.x[rt] = val;
    }
    vcpu_skip_insn(v);
    return true;
}
