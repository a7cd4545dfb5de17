// SPDX-License-Identifier: MIT
// Static shared regions (vm.h, docs/vm-binding.md): RAM mapped read-write
// into the stage-2 of every member VM at the same IPA, from VM_SHMEM_IPA up,
// each region 2 MiB aligned. Built once at boot from the binding and kept
// across VM resets (a rebuilt member finds what the others wrote).
//
// References: every page is a frame owned by Tally (OWNER_HYP); the region
// holds one reference to each page from boot until the machine powers off,
// and each member's stage-2 entry holds one more while the member exists
// (pt_map_frames, dropped by the member's teardown). So a page's count is
// 1 + the live members, and it returns to the allocator exactly when the
// region lets go at power-off after every member is gone.
#include <stdio.h>
#include <tally/errno.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>

#include "core/accounting.h"
#include "core/hyp.h"
#include "vm.h"

#define SZ_2M        (2ull << 20)
#define SHMEM_BLOCKS 16

struct shmem_region {
    uint64_t ipa, size;
    uint32_t members;
    struct vm_ram_block block[SHMEM_BLOCKS]; /* ipa: offset in the region */
    unsigned nr_blocks;
};

/* Written by the boot CPU before any VM exists and at power-off after the
 * last is gone; read-only in between. */
static struct shmem_region regions[VM_MAX_SHMEM];
static unsigned nr_regions;

unsigned shmem_count(void)
{
    return nr_regions;
}

void shmem_region(unsigned k, uint64_t *ipa, uint64_t *size)
{
    *ipa = regions[k].ipa;
    *size = regions[k].size;
}

static void drop_block(const struct vm_ram_block *b)
{
    for (uint64_t off = 0; off < b->size; off += PAGE_SIZE)
        frame_drop((struct frame){meta_slot(pa_add(b->pa, off))});
}

static int alloc_region(struct shmem_region *r)
{
    struct frame_meta fm = {.owner_vm = OWNER_HYP};
    unsigned order = PAGE_MAX_ORDER;
    uint64_t got = 0;
    while (got < r->size) {
        while (order && (PAGE_SIZE << order) > r->size - got)
            order--;
        paddr_t p;
        if (page_alloc(order, &p) != ERR_OK) {
            if (!order)
                return ERR_NOMEM;
            order--;
            continue;
        }
        uint64_t size = PAGE_SIZE << order;
        if (r->nr_blocks == SHMEM_BLOCKS) {
            page_free(p, order);
            return ERR_NOMEM;
        }
        for (uint64_t off = 0; off < size; off += PAGE_SIZE)
            frame_from_unused(pa_add(p, off), fm);
        if (!cpu_has_s2fwb())
            cache_clean_range(arch_phys_to_virt(p), size);
        r->block[r->nr_blocks++] = (struct vm_ram_block){.ipa = got, .pa = p, .size = size};
        got += size;
    }
    return ERR_OK;
}

int shmem_create(const struct vm_setup *s, char *msg, size_t len)
{
    uint64_t ipa = VM_SHMEM_IPA;
    for (unsigned k = 0; k < s->nr_shmem; k++) {
        struct shmem_region *r = &regions[k];
        r->size = s->shmem[k].size;
        r->members = s->shmem[k].members;
        r->ipa = ipa;
        if (r->size > VM_SHMEM_END - ipa) {
            snprintf(msg, len,
                     "shared regions: %lu MiB more than the %lu MiB of IPA space for them",
                     (uint64_t)(r->size - (VM_SHMEM_END - ipa)) >> 20,
                     (uint64_t)(VM_SHMEM_END - VM_SHMEM_IPA) >> 20);
            shmem_release();
            return ERR_RANGE;
        }
        nr_regions = k + 1;
        if (alloc_region(r) != ERR_OK) {
            snprintf(msg, len, "shared region %u: no memory for %lu KiB", k, r->size >> 10);
            shmem_release();
            return ERR_NOMEM;
        }
        ipa += (r->size + SZ_2M - 1) & ~(SZ_2M - 1);
    }
    return ERR_OK;
}

int shmem_map(struct vm *vm, uint32_t which)
{
    for (unsigned k = 0; k < nr_regions; k++) {
        const struct shmem_region *r = &regions[k];
        if (!(which & (1u << k)))
            continue;
        for (unsigned i = 0; i < r->nr_blocks; i++) {
            const struct vm_ram_block *b = &r->block[i];
            int err = pt_map_frames(&vm->s2, r->ipa + b->ipa, b->pa, b->size, PT_R | PT_W);
            if (err != ERR_OK)
                return err; /* what is mapped goes with the stage-2 */
        }
        vm->shmem_mapped |= 1u << k;
        vm->shmem[k] = (struct vm_ram_block){.ipa = r->ipa, .pa = r->block[0].pa, .size = r->size};
    }
    return ERR_OK;
}

void shmem_release(void)
{
    for (unsigned k = 0; k < nr_regions; k++) {
        for (unsigned i = 0; i < regions[k].nr_blocks; i++)
            drop_block(&regions[k].block[i]);
        regions[k].nr_blocks = 0;
    }
    nr_regions = 0;
}

/* Live VMs whose stage-2 maps region k. Caller holds vm_mm_lock. */
static uint32_t mappers(unsigned k)
{
    uint32_t n = 0;
    for (unsigned id = 0; id < VM_MAX_VMS; id++) {
        struct vm *vm = vm_get_by_id(id);
        if (!vm)
            continue;
        n += (vm->shmem_mapped >> k) & 1;
        vm_put(vm);
    }
    return n;
}

bool shmem_contains(paddr_t p)
{
    for (unsigned k = 0; k < nr_regions; k++) {
        const struct shmem_region *r = &regions[k];
        for (unsigned i = 0; i < r->nr_blocks; i++)
            if (pa_val(p) - pa_val(r->block[i].pa) < r->block[i].size)
                return true;
    }
    return false;
}

void shmem_account(struct acct_reach *reach)
{
    for (unsigned k = 0; k < nr_regions; k++) {
        const struct shmem_region *r = &regions[k];
        uint32_t expected = 1 + mappers(k);
        for (unsigned i = 0; i < r->nr_blocks; i++)
            accounting_reach_pages(reach, r->block[i].pa, r->block[i].size / PAGE_SIZE, expected);
    }
}
