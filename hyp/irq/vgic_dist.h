/* SPDX-License-Identifier: MIT */
/*
 * The portable half of the vGIC (hyp/irq/vgic_dist.c): the model of a VM's
 * virtual interrupts, the emulated distributor (GICv2 and GICv3 register
 * maps) and GICv3 redistributors, the list-register encodings and the
 * choice of what goes into the list registers. No system register and no
 * device access: it builds for the host and is unit-tested there
 * (tests/unit/test_vgic.c). hyp/irq/vgic.c glues it to VMs, vCPUs and the
 * hardware (vgic_v3.c: ICH_* registers, vgic_v2.c: GICH MMIO).
 *
 * The model, per interrupt (struct vgic_irq): enabled, group, priority,
 * edge/level configuration, target (SPIs), and two pieces of state:
 *   - the pending latch: pending and not yet in a list register;
 *   - lr: the list register of its vCPU that holds it, or -1.
 * Once an interrupt is placed in a list register it stays there until the
 * hardware reports that list register invalid (the guest acknowledged and
 * deactivated it); while it is there the list register's state is the truth
 * about pending/active, and a new injection sets the latch again (so an SGI
 * sent twice is delivered twice). Interrupts with a latch but no free list
 * register wait in the model: that is the per-vCPU queue beyond the list
 * registers, and the underflow maintenance interrupt (ICH_HCR.UIE /
 * GICH_HCR.UIE) brings the vCPU back to refill them.
 *
 * Locking: one spinlock per VM (struct vgic_dist.lock) guards the whole
 * model, every vCPU's private interrupts and list-register shadows included.
 * A VM has at most a few vCPUs, and each of them takes it once per exit.
 */
#ifndef TALLY_HYP_VGIC_DIST_H
#define TALLY_HYP_VGIC_DIST_H

#include <tally/spinlock.h>
#include <tally/types.h>

#define VGIC_MAX_VCPUS  8
#define VGIC_NR_PRIVATE 32
#define VGIC_NR_SPIS    64 /* the guest sees INTIDs 32..95 (ITLinesNumber 2) */
#define VGIC_NR_IRQS    (VGIC_NR_PRIVATE + VGIC_NR_SPIS)
#define VGIC_MAX_LRS    16
#define VGIC_NR_SGIS    16

/* GICv3 redistributor frames, as QEMU virt lays them out. */
#define VGIC_V3_GICR_STRIDE 0x20000 /* RD_base + SGI_base per vCPU */

/* struct vgic_irq.flags */
#define VGIC_IRQ_ENABLED 0x01
#define VGIC_IRQ_LATCH   0x02 /* pending, not (again) in a list register */
#define VGIC_IRQ_ACTIVE  0x04 /* active, as the last fold saw its list register */
#define VGIC_IRQ_GROUP1  0x08
#define VGIC_IRQ_EDGE    0x10 /* ICFGR: edge-triggered */
#define VGIC_IRQ_HW      0x20 /* linked to physical INTID hw_intid */

struct vgic_irq {
    uint8_t flags;
    uint8_t priority;
    int8_t lr;         /* list register of the owning vCPU, or -1 */
    uint8_t owner;     /* vCPU whose list register holds it (when lr >= 0) */
    uint8_t target;    /* SPIs: vCPU it is delivered to, 0xff if none */
    uint8_t targets2;  /* GICv2 ITARGETSR byte */
    uint16_t hw_intid; /* physical INTID when VGIC_IRQ_HW */
    uint64_t irouter;  /* GICv3 IROUTER as written */
};

/* List register state, [63:62] in GICv3 encoding, [29:28] in GICv2. */
#define VGIC_LR_PENDING 1u
#define VGIC_LR_ACTIVE  2u

/* Per vCPU: embedded in struct vcpu (VM-core's hyp/vm/vcpu.h) as `vgic`. */
struct vgic_cpu_state {
    unsigned id;
    struct vgic_irq priv[VGIC_NR_PRIVATE];
    uint8_t sgi_sources[VGIC_NR_SGIS]; /* GICv2: source vCPUs of a latched SGI */
    /* Shadows of the list registers and the interface state, loaded into the
     * hardware by vgic_flush and read back by vgic_sync. */
    uint64_t lr[VGIC_MAX_LRS];
    uint16_t lr_intid[VGIC_MAX_LRS];
    uint32_t lr_used; /* bit n: lr[n] holds lr_intid[n] */
    uint32_t vmcr;
    /* Active priorities: GICv3 ICH_AP0R<n>_EL2 / ICH_AP1R<n>_EL2 (as many
     * as ICH_VTR_EL2.PREbits needs), GICv2 GICH_APR in ap1r[0]. */
    uint32_t ap0r[4], ap1r[4];
    bool underflow; /* more interrupts waiting than free list registers */
    /* While this vCPU runs on its pCPU, between its first load and its put,
     * VMCR and the active priorities stay in the hardware (nothing else
     * writes them there: the pCPU runs no other vCPU meanwhile), so an exit
     * neither reads nor rewrites them; vmcr/ap*r above are only current
     * after the put. */
    bool hw_live;
    uint32_t latched_priv; /* bit i: priv[i] has VGIC_IRQ_LATCH */
    /* GICv3 redistributor */
    uint32_t rd_ctlr;
    uint32_t rd_waker;
};

struct vgic_dist;
struct vgic_dist_ops {
    /* vCPU vcpu has new work: make it re-run vgic_flush (an IPI if it runs
     * on another pCPU). Called with the lock held. */
    void (*kick)(struct vgic_dist *d, unsigned vcpu);
    /* The guest enabled or disabled a hardware-linked interrupt; target is
     * the vCPU it goes to (for an SPI: where to route the physical one). */
    void (*hw_enable)(struct vgic_dist *d, uint32_t hw_intid, bool enable, unsigned target);
};

struct vgic_dist {
    struct spinlock lock;
    unsigned version; /* 2 or 3 */
    unsigned nr_vcpus;
    unsigned nr_lrs;      /* list registers per CPU interface */
    uint32_t ctlr;        /* EnableGrp0 (bit 0), EnableGrp1 (bit 1) */
    unsigned nr_latched;  /* interrupts with VGIC_IRQ_LATCH, every vCPU's included */
    uint64_t latched_spi; /* bit i: spi[i] has VGIC_IRQ_LATCH (a flush visits only these) */
    struct vgic_irq spi[VGIC_NR_SPIS];
    struct vgic_cpu_state *cpu[VGIC_MAX_VCPUS];
    const struct vgic_dist_ops *ops;
    void *owner; /* hyp/irq/vgic.c: the struct vm */
};

/* A fresh model: every interrupt disabled, inactive, priority 0, group 0
 * (GICv2) or group 1 (GICv3), SGIs edge, PPIs and SPIs level. */
void vgic_dist_init(struct vgic_dist *d, unsigned version, unsigned nr_vcpus, unsigned nr_lrs,
                    const struct vgic_dist_ops *ops, void *owner);
void vgic_cpu_state_init(struct vgic_cpu_state *c, unsigned id);
/* Attach vCPU state c (c->id < nr_vcpus). */
void vgic_dist_attach(struct vgic_dist *d, struct vgic_cpu_state *c);
/* Make intid of vCPU vcpu (private) or of the VM (SPI) hardware-linked. */
int vgic_dist_set_hw(struct vgic_dist *d, unsigned vcpu, uint32_t intid, uint32_t hw_intid);

/* Guest accesses. vcpu is the accessing vCPU; off the offset in the frame
 * (GICD: 64 KiB; GICv3 redistributors: all vCPUs' 128 KiB frames in a row).
 * 0 on success, ERR_INVAL for a size or alignment the GIC does not allow
 * (the caller injects an abort). Caller holds the lock. */
int vgic_dist_read(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t *val);
int vgic_dist_write(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t val);
int vgic_rdist_read(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t *val);
int vgic_rdist_write(struct vgic_dist *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t val);
/* A GICv3 guest's ICC_SGI1R_EL1 write from vCPU vcpu (vCPU i has MPIDR
 * Aff0 = i, Aff1..3 = 0). */
void vgic_dist_sgi1r(struct vgic_dist *d, unsigned vcpu, uint64_t val);

/* Make intid pending. vcpu names the vCPU for a private interrupt (ignored
 * for an SPI). Kicks the target. ERR_INVAL for an INTID outside the model.
 * Caller holds the lock. */
int vgic_dist_inject(struct vgic_dist *d, unsigned vcpu, uint32_t intid);

/* Before entry: fill vCPU vcpu's free list-register shadows with the
 * highest-priority deliverable interrupts; set c->underflow if some remain.
 * Caller holds the lock. */
void vgic_dist_flush(struct vgic_dist *d, unsigned vcpu);
/* After exit, with c->lr[] read back from the hardware: free the list
 * registers the guest finished with. Caller holds the lock. */
void vgic_dist_fold(struct vgic_dist *d, unsigned vcpu);
/* True if vCPU vcpu has an interrupt in a list register still pending, or a
 * deliverable one waiting (for WFI). Caller holds the lock. */
bool vgic_dist_vcpu_pending(struct vgic_dist *d, unsigned vcpu);

/* Hardware-linked private interrupt intid of vCPU vcpu is pending and not
 * active: latched, or in a list register in the pending state only. */
bool vgic_dist_hw_pending(struct vgic_dist *d, unsigned vcpu, uint32_t intid);
/* Its line dropped before the guest took it: latch and list register
 * cleared (the list register is freed). True if there was something to
 * retract; the caller then deactivates the physical interrupt, which Tally
 * left active when it took it. Caller holds the lock, after the fold. */
bool vgic_dist_hw_retract(struct vgic_dist *d, unsigned vcpu, uint32_t intid);

/* vCPU vcpu leaves for good: its list registers and latched private
 * interrupts are dropped. Writes the physical INTIDs of hardware-linked
 * interrupts it held in a list register or latched (their physical
 * interrupt is still active and must be deactivated) into hw[0..max) and
 * returns how many. Caller holds the lock. */
unsigned vgic_dist_vcpu_release(struct vgic_dist *d, unsigned vcpu, uint32_t *hw, unsigned max);

/* List-register encodings (version 2 or 3). */
uint64_t vgic_lr_encode(unsigned version, uint32_t intid, uint8_t priority, bool group1,
                        unsigned state, bool hw, uint32_t hw_intid, unsigned sgi_source);
unsigned vgic_lr_state(unsigned version, uint64_t lr);
uint64_t vgic_lr_with_state(unsigned version, uint64_t lr, unsigned state);

#endif
