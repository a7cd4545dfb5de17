// SPDX-License-Identifier: MIT
// MMIO emulation: each VM has a small table of IPA regions (the vGIC's
// distributor and redistributors, ...) registered while the VM is built and
// only read afterwards. A stage-2 data abort whose IPA falls in a region and
// whose syndrome is valid (ISV: a single load or store of one general
// register, no writeback) is decoded and handed to the region's callback;
// the guest's PC then moves past the instruction. A load or store with base
// writeback (ISV = 0; compilers emit `str w1, [x0], #4` for MMIO loops) is
// decoded from the instruction itself. Everything else is left to the
// caller, which injects an abort into the guest.
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/pgtable.h>
#include <tally/sysreg.h>

#include "core/hyp.h"
#include "mmio.h"
#include "vcpu.h"
#include "vm.h"

/* Data abort ISS with ISV = 1 (Arm ARM D17.2.40). */
#define ISS_ISV      (1ull << 24)
#define ISS_SAS(esr) (((esr) >> 22) & 3)
#define ISS_SSE      (1ull << 21)
#define ISS_SRT(esr) (((esr) >> 16) & 0x1f)
#define ISS_SF       (1ull << 15)

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

bool mmio_overlaps(const struct vm *vm, uint64_t ipa, uint64_t size)
{
    for (unsigned i = 0; i < vm->nr_mmio; i++) {
        const struct mmio_region *r = &vm->mmio[i];
        if (ipa < r->base + r->size && r->base < ipa + size)
            return true;
    }
    return false;
}

/* The instruction at the guest's PC, read through its stage 1 (AT, with
 * the guest's PAR_EL1 kept, under HCR_EL2.PTW so a walk into Device memory
 * faults instead of reading it) and Tally's stage 2. False if it is not in
 * the guest's RAM or the walk fails. */
static bool fetch_insn(struct vcpu *v, uint32_t *insn)
{
    uint64_t pc = v->ctx.pc, ipa = pc;
    if (read_sysreg(sctlr_el1) & 1) {
        /* A walk that faults (stage 1, stage 2 on the walk, or an external
         * abort the fix-up turns into PAR.F) means no instruction. */
        uint64_t r = hyp_at_s1(pc, (v->ctx.pstate & 0xf) == 0);
        if (r & 1)
            return false;
        ipa = (r & 0xfffffffff000ull) | (pc & 0xfff);
    }
    paddr_t p;
    bool owned;
    if ((pc & 3) || pt_lookup(&v->vm->s2, ipa, &p, NULL, NULL, &owned) != ERR_OK || !owned)
        return false;
    *insn = *(const volatile uint32_t *)arch_phys_to_virt(p);
    return true;
}

/*
 * A load/store that gives no syndrome (ISV = 0) because it writes its base
 * register back: LDR/STR (immediate) pre- or post-indexed, one general
 * register, base not SP. Decoded from the instruction into an ISS with
 * ISV = 1, plus the base register and its new value. False for anything
 * else (pairs, SIMD registers, exclusives...): the guest gets an abort.
 */
static bool decode_writeback(struct vcpu *v, uint64_t esr, uint64_t ipa, uint64_t *iss,
                             unsigned *rn, uint64_t *rn_val)
{
    uint32_t insn;
    /* Only A64 is decoded: an AArch32 EL0 task's access gets an abort. */
    if (v->ctx.pstate & (1u << 4))
        return false;
    if (!fetch_insn(v, &insn) || (insn & 0x3f200400u) != 0x38000400u)
        return false;
    unsigned size = insn >> 30, opc = (insn >> 22) & 3, n = (insn >> 5) & 31, t = insn & 31;
    if (n == 31 || (size == 3 && opc >= 2) || (size == 2 && opc == 3))
        return false;
    bool load = opc != 0, pre = insn & (1u << 11);
    if (load != !(esr & ESR_WNR) || (load && n == t))
        return false;
    int64_t imm = (int64_t)((uint64_t)((insn >> 12) & 0x1ff) << 55) >> 55;
    uint64_t base = v->ctx.x[n];
    uint64_t addr = pre ? base + (uint64_t)imm : base;
    /* The base register must have pointed at the faulting address. */
    if ((addr & 0xfff) != (ipa & 0xfff))
        return false;
    *iss = ISS_ISV | ((uint64_t)size << 22) | ((uint64_t)t << 16) | (load ? 0 : ESR_WNR) |
           (opc >= 2 ? ISS_SSE : 0) | (opc == 2 || (opc == 1 && size == 3) ? ISS_SF : 0);
    if (opc == 0)
        *iss |= ISS_SF;
    *rn = n;
    *rn_val = base + (uint64_t)imm;
    return true;
}

bool mmio_handle_abort(struct vcpu *v, uint64_t esr, uint64_t ipa)
{
    const struct mmio_region *r = find(v->vm, ipa);
    if (!r)
        return false;
    unsigned wb_reg = 31;
    uint64_t wb_val = 0;
    if (!(esr & ISS_ISV)) {
        uint64_t iss;
        if (!decode_writeback(v, esr, ipa, &iss, &wb_reg, &wb_val))
            return false;
        esr = iss;
    }
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
    if (wb_reg != 31)
        v->ctx.x[wb_reg] = wb_val;
    vcpu_skip_insn(v, esr);
    return true;
}
