// SPDX-License-Identifier: MIT
// Tally's own EL2 stage-1 address space (layout in mmu.h), built with the
// page-table engine of mm/: every table page is a tracked PAGE_PT page, and
// each kernel-stack mapping owns a reference to its page.
#include <tally/errno.h>
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "mmu.h"
#include "percpu.h"
#include "power.h"

_Static_assert(MAIR_EL2_BOOT == TALLY_MAIR_EL2, "head.S's boot map and the engine share MAIR_EL2");
_Static_assert(MAIR_BOOT_IDX_NORMAL == MAIR_IDX_NORMAL_WB &&
                   MAIR_BOOT_IDX_DEVICE == MAIR_IDX_DEVICE_nGnRE,
               "head.S's boot map uses the engine's attribute indices");
_Static_assert(MMU_STACK_STRIDE >= (KSTACK_PAGES + 1) * PAGE_SIZE,
               "stack slot holds guard + stack");

struct aspace hyp_aspace;
static uint64_t mmu_tcr, mmu_sctlr;
static const struct memmap *mmu_memmap; /* the boot memory map, which lives for ever */

static void map_phys(uint64_t a, uint64_t end, unsigned prot, const char *what)
{
    if (end <= a)
        return;
    int err = pt_map_phys(&hyp_aspace, a, pa(a), end - a, prot);
    if (err != ERR_OK)
        panic("mmu: cannot map %s [0x%lx, 0x%lx): %s", what, a, end, tally_strerror(err));
}

static void map_device(uint64_t base, uint64_t size, const char *what)
{
    map_phys(ALIGN_DOWN(base, PAGE_SIZE), ALIGN_UP(base + size, PAGE_SIZE), PT_R | PT_W | PT_DEVICE,
             what);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Map [s, e) of RAM as data, leaving out the image (mapped by section) and
 * every no-map reserved range. */
static void map_ram(const struct memmap *m, uint64_t s, uint64_t e)
{
    uint64_t img_start = (uint64_t)_start, img_end = (uint64_t)_end, cur = s;
    for (unsigned r = 0; r <= m->nr_reserved && cur < e; r++) {
        /* Holes, in address order: the no-map ranges and the image. */
        uint64_t hb = e, he = e;
        if (r < m->nr_reserved) {
            if (!m->reserved[r].nomap)
                continue;
            hb = clamp(pa_val(m->reserved[r].base), s, e);
            he = clamp(hb + m->reserved[r].size, s, e);
        }
        if (img_start < hb && img_end > cur) {
            /* The image lies before this hole: the memmap refuses an image
             * overlapping a reserved range, so it ends before hb. */
            map_phys(cur, clamp(img_start, cur, e), PT_R | PT_W, "RAM");
            cur = clamp(img_end, cur, e);
        }
        map_phys(cur, hb, PT_R | PT_W, "RAM");
        cur = he > cur ? he : cur;
    }
}

bool mmu_is_mapped_ram(uint64_t a)
{
    const struct memmap *m = mmu_memmap;
    bool in_bank = false;
    for (unsigned i = 0; i < m->nr_banks; i++)
        in_bank |= a >= pa_val(m->banks[i].base) && a - pa_val(m->banks[i].base) < m->banks[i].size;
    for (unsigned r = 0; in_bank && r < m->nr_reserved; r++)
        if (m->reserved[r].nomap && a >= pa_val(m->reserved[r].base) &&
            a - pa_val(m->reserved[r].base) < m->reserved[r].size)
            return false;
    return in_bank;
}

/* PA size for TCR_EL2.PS: the CPU's, capped at 48 bits (52 needs LPA2). */
static unsigned pa_range_field(void)
{
    unsigned r = ID_AA64MMFR0_PARANGE(read_sysreg(id_aa64mmfr0_el1));
    return r > 5 ? 5 : r;
}

void mmu_build(const struct memmap *m, const struct dt_gic *gic)
{
    int err = aspace_init(&hyp_aspace, PT_STAGE1_EL2, hyp_platform.va_bits, 0, OWNER_HYP);
    if (err != ERR_OK)
        panic("mmu: cannot create the EL2 address space: %s", tally_strerror(err));

    uint64_t img_start = (uint64_t)_start, img_end = (uint64_t)_end, dev_base, dev_size;
    uint64_t va_end = 1ull << hyp_platform.va_bits;
    mmu_memmap = m;
    for (unsigned i = 0; i < m->nr_banks; i++) {
        uint64_t s = pa_val(m->banks[i].base), e = s + m->banks[i].size;
        if (e > hyp_platform.stack_va_base || e > va_end)
            panic("mmu: RAM bank [0x%lx, 0x%lx) reaches the stack region at 0x%lx", s, e,
                  hyp_platform.stack_va_base);
        /* RAM around the image: data, never code (W^X). */
        map_ram(m, s, e);
    }
    map_phys(img_start, (uint64_t)__text_end, PT_R | PT_X, "image text");
    map_phys((uint64_t)__rodata_start, (uint64_t)__rodata_end, PT_R, "image rodata");
    map_phys((uint64_t)__data_start, img_end, PT_R | PT_W, "image data");
    map_device(console_base(), PAGE_SIZE, "console UART");
    for (unsigned i = 0; i < gic->nr_regs; i++)
        map_device(gic->base[i], gic->size[i], "GIC");
    if (power_device(&dev_base, &dev_size))
        map_device(dev_base, dev_size, "watchdog");

    mmu_tcr = TCR_EL2_RES1 | aspace_tcr_t0sz(&hyp_aspace) | TCR_EL2_IRGN0_WBWA |
              TCR_EL2_ORGN0_WBWA | TCR_EL2_SH0_INNER | TCR_EL2_TG0_4K |
              ((uint64_t)pa_range_field() << TCR_EL2_PS_SHIFT);
    mmu_sctlr =
        SCTLR_EL2_RES1 | SCTLR_EL2_M | SCTLR_EL2_C | SCTLR_EL2_SA | SCTLR_EL2_I | SCTLR_EL2_WXN;
}

static uint64_t stack_bottom(unsigned cpu)
{
    return hyp_platform.stack_va_base + (uint64_t)(cpu + 1) * MMU_STACK_STRIDE -
           KSTACK_PAGES * PAGE_SIZE;
}

/* Undo the first n pages of a stack: unmap (drops the mapping's references
 * after the TLB invalidation), then drop the CPU's own. */
static void stack_release(unsigned cpu, unsigned n)
{
    struct percpu *pc = &hyp_percpu[cpu];
    if (n) {
        int err = pt_unmap(&hyp_aspace, stack_bottom(cpu), n * PAGE_SIZE);
        BUG_ON(err != ERR_OK);
    }
    for (unsigned i = 0; i < n; i++) {
        kstack_drop(pc->stack[i]);
        pc->stack[i].slot = NULL;
    }
    pc->stack_guard_va = 0;
}

int mmu_setup_cpu(unsigned cpu)
{
    struct percpu *pc = &hyp_percpu[cpu];
    uint64_t bottom = stack_bottom(cpu);
    for (unsigned i = 0; i < KSTACK_PAGES; i++) {
        int err;
        pc->stack[i] = kstack_alloc((struct kstack_meta){.cpu = (uint16_t)cpu}, &err);
        if (err == ERR_OK) {
            err = pt_map_frames(&hyp_aspace, bottom + i * PAGE_SIZE, kstack_paddr(pc->stack[i]),
                                PAGE_SIZE, PT_R | PT_W);
            if (err != ERR_OK)
                kstack_drop(pc->stack[i]);
        }
        if (err != ERR_OK) {
            pc->stack[i].slot = NULL;
            stack_release(cpu, i);
            return err;
        }
    }
    pc->stack_guard_va = bottom - PAGE_SIZE;
    pc->sp = bottom + KSTACK_PAGES * PAGE_SIZE;
    pc->sp_emergency = (uint64_t)hyp_emergency_stacks[cpu] + EMERGENCY_STACK_SIZE;
    pc->ttbr0 = pa_val(aspace_root_pa(&hyp_aspace));
    pc->tcr = mmu_tcr;
    pc->mair = TALLY_MAIR_EL2;
    pc->sctlr = mmu_sctlr;
    pc->vbar = (uint64_t)hyp_vectors;
    return ERR_OK;
}

void mmu_free_cpu_stack(unsigned cpu)
{
    stack_release(cpu, KSTACK_PAGES);
}

void mmu_enable(void)
{
    mmu_switch(pa_val(aspace_root_pa(&hyp_aspace)), mmu_tcr, mmu_sctlr);
}
