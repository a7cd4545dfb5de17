/* SPDX-License-Identifier: MIT */
/*
 * MMIO emulation for guests (hyp/vm/mmio.c). A stage-2 data abort on an IPA
 * that no mapping covers is matched against the VM's regions; the access is
 * decoded from the ESR's instruction syndrome (ISV = 1: size, register,
 * sign extension, write) and handed to the region's callback. No region, an
 * access without a valid syndrome, or a callback that returns non-zero: a
 * synchronous external abort is injected into the guest instead (inject.c).
 * Tally itself is never harmed by what a guest accesses.
 */
#ifndef TALLY_HYP_MMIO_H
#define TALLY_HYP_MMIO_H

#include <tally/types.h>

struct vcpu;
struct vm;

/* off is relative to the region's base; size is 1, 2, 4 or 8 bytes. A
 * read callback fills *val (zero-extended to 64 bits). Non-zero return:
 * the access becomes an abort injected into the guest. */
typedef int (*mmio_read_fn)(struct vcpu *v, uint64_t off, unsigned size, uint64_t *val, void *ctx);
typedef int (*mmio_write_fn)(struct vcpu *v, uint64_t off, unsigned size, uint64_t val, void *ctx);

struct mmio_region {
    uint64_t base, size; /* IPA range [base, base + size) */
    mmio_read_fn read;
    mmio_write_fn write;
    void *ctx;
    const char *name;
};

#define VM_MAX_MMIO 16

/* Register a region (copied). ERR_INVAL (size 0 or wraps), ERR_EXIST
 * (overlaps a region already registered), ERR_NOMEM (table full). */
int vm_add_mmio(struct vm *vm, const struct mmio_region *r);

/* A stage-2 data abort at ipa from v: emulate it (true) or leave it to the
 * caller to inject an abort (false). Advances the guest PC on success. */
bool mmio_handle_abort(struct vcpu *v, uint64_t esr, uint64_t ipa);

/* True if [ipa, ipa + size) touches one of the VM's emulated regions. */
bool mmio_overlaps(const struct vm *vm, uint64_t ipa, uint64_t size);

#endif
