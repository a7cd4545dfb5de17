// SPDX-License-Identifier: MIT
// The vGIC of a VM (vgic.h): the portable model (vgic_dist.c) tied to VMs,
// vCPUs, MMIO emulation, stage-2 and the hardware (vgic_v3.c, vgic_v2.c).
//
//   GICv3  GICD and every redistributor emulated (MMIO regions); the CPU
//          interface is the hardware's virtual one (ICC_* at EL1 reach
//          ICV_*), fed by the ICH_LR<n>_EL2 list registers; ICC_SGI1R_EL1
//          writes trap (EC 0x18) to vgic_handle_sysreg.
//   GICv2  GICD emulated (SGIs through GICD_SGIR); the guest's GICC is the
//          host's GICV frame mapped by stage-2, fed by the GICH list
//          registers.
// Distributors come from a static pool: one per VM that can exist at once.
#include <tally/errno.h>
#include <tally/pgtable.h>
#include <tally/sysreg.h>

#include "gic.h"
#include "vm/sysreg.h"
#include "vm/vcpu.h"
#include "vgic.h"
#include "vgic_hw.h"
#include "vm/vm.h"

#define VGIC_MAX_VMS VM_MAX_VMS

/* The emulated UART's and RTC's SPIs (vm.h: QEMU virt's SPIs 1 and 2). */
_Static_assert(VM_UART_INTID >= VGIC_NR_PRIVATE && VM_RTC_INTID < VGIC_NR_IRQS,
               "the guest's device SPIs are in the model");
_Static_assert(VM_GICR_STRIDE == VGIC_V3_GICR_STRIDE, "one redistributor frame pair per vCPU");

static struct vgic_dist pool[VGIC_MAX_VMS];
static bool pool_used[VGIC_MAX_VMS]; /* guarded by pool_lock */
static struct spinlock pool_lock = SPINLOCK_INIT;

static void vgic_kick(struct vgic_dist *d, unsigned vcpu)
{
    struct vm *vm = d->owner;
    struct vcpu *v = vcpu < vm->nr_vcpus ? vm->vcpus[vcpu] : NULL;
    if (!v || v == vcpu_current())
        return;
    gic_send_ipi(v->pcpu);
    /* A pCPU waiting in EL2 with WFE for its vCPU's interrupts. */
    sev();
}

static void vgic_hw_enable(struct vgic_dist *d, uint32_t hw_intid, bool enable, unsigned target)
{
    struct vm *vm = d->owner;
    if (hw_intid < VGIC_NR_PRIVATE)
        return; /* the timer PPI stays enabled on every pCPU */
    if (enable && target < vm->nr_vcpus && vm->vcpus[target])
        gic_irq_route(hw_intid, vm->vcpus[target]->pcpu);
    gic_irq_enable(hw_intid, enable);
}

static const struct vgic_dist_ops vgic_ops = {.kick = vgic_kick, .hw_enable = vgic_hw_enable};

static int gicd_read(struct vcpu *v, uint64_t off, unsigned size, uint64_t *val, void *ctx)
{
    struct vgic_dist *d = ctx;
    spin_lock(&d->lock);
    int r = vgic_dist_read(d, v->id, off, size, val);
    spin_unlock(&d->lock);
    return r;
}

static int gicd_write(struct vcpu *v, uint64_t off, unsigned size, uint64_t val, void *ctx)
{
    struct vgic_dist *d = ctx;
    spin_lock(&d->lock);
    int r = vgic_dist_write(d, v->id, off, size, val);
    spin_unlock(&d->lock);
    return r;
}

static int gicr_read(struct vcpu *v, uint64_t off, unsigned size, uint64_t *val, void *ctx)
{
    struct vgic_dist *d = ctx;
    spin_lock(&d->lock);
    int r = vgic_rdist_read(d, v->id, off, size, val);
    spin_unlock(&d->lock);
    return r;
}

static int gicr_write(struct vcpu *v, uint64_t off, unsigned size, uint64_t val, void *ctx)
{
    struct vgic_dist *d = ctx;
    spin_lock(&d->lock);
    int r = vgic_rdist_write(d, v->id, off, size, val);
    spin_unlock(&d->lock);
    return r;
}

static void pool_put(struct vgic_dist *d)
{
    spin_lock(&pool_lock);
    pool_used[d - pool] = false;
    spin_unlock(&pool_lock);
}

int vgic_vm_init(struct vm *vm)
{
    unsigned version = gic_version(), nr_lrs = gic_nr_lrs();
    if (!version || !nr_lrs || (version == 2 && !gic_v2_gicv_base()))
        return ERR_NOTSUP;
    struct vgic_dist *d = NULL;
    spin_lock(&pool_lock);
    for (unsigned i = 0; i < VGIC_MAX_VMS && !d; i++)
        if (!pool_used[i]) {
            pool_used[i] = true;
            d = &pool[i];
        }
    spin_unlock(&pool_lock);
    if (!d)
        return ERR_NOMEM;
    vgic_dist_init(d, version, vm->nr_vcpus, nr_lrs, &vgic_ops, vm);

    struct mmio_region gicd = {.base = VM_GICD_IPA,
                               .size = VM_GICD_SIZE,
                               .read = gicd_read,
                               .write = gicd_write,
                               .ctx = d,
                               .name = "GICD"};
    int err = vm_add_mmio(vm, &gicd);
    if (err == ERR_OK && version == 3) {
        struct mmio_region gicr = {.base = VM_GICR_IPA,
                                   .size = vm->nr_vcpus * VM_GICR_STRIDE,
                                   .read = gicr_read,
                                   .write = gicr_write,
                                   .ctx = d,
                                   .name = "GICR"};
        err = vm_add_mmio(vm, &gicr);
    }
    if (err == ERR_OK && version == 2)
        err = pt_map_phys(&vm->s2, VM_GICC_IPA, pa(gic_v2_gicv_base()), VM_GICC_SIZE,
                          PT_R | PT_W | PT_DEVICE);
    if (err != ERR_OK) {
        pool_put(d);
        return err;
    }
    vm->vgic = d;
    return ERR_OK;
}

void vgic_vm_destroy(struct vm *vm)
{
    struct vgic_dist *d = vm->vgic;
    if (!d)
        return;
    vm->vgic = NULL;
    pool_put(d);
}

void vgic_vcpu_init(struct vcpu *v)
{
    struct vgic_dist *d = v->vm->vgic;
    vgic_cpu_state_init(&v->vgic, v->id);
    spin_lock(&d->lock);
    vgic_dist_attach(d, &v->vgic);
    vgic_dist_set_hw(d, v->id, GIC_PPI_VTIMER, GIC_PPI_VTIMER);
    vgic_dist_set_hw(d, v->id, GIC_PPI_PTIMER, GIC_PPI_PTIMER);
    spin_unlock(&d->lock);
}

void vgic_inject(struct vm *vm, unsigned vcpu_id, uint32_t intid)
{
    struct vgic_dist *d = vm->vgic;
    if (!d)
        return;
    spin_lock(&d->lock);
    vgic_dist_inject(d, vcpu_id, intid);
    spin_unlock(&d->lock);
}

/* List-register underflow: turn the virtual CPU interface off so the level
 * maintenance interrupt drops; the next vgic_flush refills and turns it on. */
static enum gic_irq_result maint_irq(uint32_t intid)
{
    (void)intid;
    if (gic_version() == 3)
        vgic_v3_quiesce();
    else
        vgic_v2_quiesce();
    return GIC_IRQ_DONE;
}

int vgic_init(void)
{
    return gic_irq_set_handler(GIC_PPI_MAINT, maint_irq);
}

void vgic_flush(struct vcpu *v)
{
    struct vgic_dist *d = v->vm->vgic;
    spin_lock(&d->lock);
    vgic_dist_flush(d, v->id);
    if (d->version == 3)
        vgic_v3_load(&v->vgic, d->nr_lrs);
    else
        vgic_v2_load(&v->vgic, d->nr_lrs);
    spin_unlock(&d->lock);
}

/* The EL1 timers' PPIs: level interrupts whose line the guest can drop
 * without an exit (disable, mask, a later deadline). */
static const uint32_t timer_ppis[] = {GIC_PPI_VTIMER, GIC_PPI_PTIMER};

void vgic_sync(struct vcpu *v)
{
    struct vgic_dist *d = v->vm->vgic;
    uint32_t retracted[ARRAY_SIZE(timer_ppis)];
    unsigned nr = 0;
    spin_lock(&d->lock);
    if (d->version == 3)
        vgic_v3_save(&v->vgic, d->nr_lrs);
    else
        vgic_v2_save(&v->vgic, d->nr_lrs);
    vgic_dist_fold(d, v->id);
    /* A timer interrupt still pending (not taken) whose timer no longer
     * asserts its output is no longer pending: as on hardware. */
    for (unsigned i = 0; i < ARRAY_SIZE(timer_ppis); i++)
        if (vgic_dist_hw_pending(d, v->id, timer_ppis[i]) && !vtimer_asserted(timer_ppis[i]) &&
            vgic_dist_hw_retract(d, v->id, timer_ppis[i]))
            retracted[nr++] = timer_ppis[i];
    spin_unlock(&d->lock);
    /* Its physical twin was left active when Tally took it. */
    for (unsigned i = 0; i < nr; i++)
        gic_irq_deactivate(retracted[i]);
}

bool vgic_handle_sysreg(struct vcpu *v, uint64_t esr)
{
    uint32_t iss = (uint32_t)ESR_ISS(esr), reg = iss & SYSREG_ISS_MASK;
    bool read = iss & 1;
    unsigned rt = (iss >> 5) & 0x1f;
    struct vgic_dist *d = v->vm->vgic;
    if (!d || d->version != 3 || read ||
        (reg != ISS_ICC_SGI1R && reg != ISS_ICC_ASGI1R && reg != ISS_ICC_SGI0R))
        return false;
    uint64_t val = rt == 31 ? 0 : v->ctx.x[rt];
    spin_lock(&d->lock);
    vgic_dist_sgi1r(d, v->id, val);
    spin_unlock(&d->lock);
    return true;
}

bool vgic_vcpu_pending(struct vcpu *v)
{
    struct vgic_dist *d = v->vm->vgic;
    spin_lock(&d->lock);
    bool r = vgic_dist_vcpu_pending(d, v->id);
    spin_unlock(&d->lock);
    return r;
}

void vgic_vcpu_put(struct vcpu *v)
{
    struct vgic_dist *d = v->vm->vgic;
    uint32_t hw[VGIC_MAX_LRS + VGIC_NR_PRIVATE];
    spin_lock(&d->lock);
    if (d->version == 3)
        vgic_v3_put(&v->vgic, d->nr_lrs);
    else
        vgic_v2_put(&v->vgic, d->nr_lrs);
    vgic_dist_fold(d, v->id);
    unsigned nr = vgic_dist_vcpu_release(d, v->id, hw, ARRAY_SIZE(hw));
    if (d->version == 3)
        vgic_v3_reset(d->nr_lrs);
    else
        vgic_v2_reset(d->nr_lrs);
    spin_unlock(&d->lock);
    for (unsigned i = 0; i < nr; i++)
        gic_irq_deactivate(hw[i]);
}
