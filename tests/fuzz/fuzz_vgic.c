// SPDX-License-Identifier: MIT
// libFuzzer target: bytes as guest accesses to the portable vGIC model
// (hyp/irq/vgic_dist.c), GICv2 and GICv3, interleaved with injections, SGIs,
// list-register flush / guest progress / fold, and vCPU release.
//
// Input: one byte of set-up (bit 0: GICv3, bits 1-3: vCPUs - 1, bits 4-7:
// list registers - 1; the virtual timer PPI 27 of every vCPU and SPI 33 are
// hardware-linked, as hyp/irq/vgic.c does), then operations of 12 bytes:
//   u8 kind, u8 vcpu, u16 offset/INTID, u64 value
// kinds: GICD read / write, GICR read / write (GICv3; the GICD on GICv2),
// inject, SGI (ICC_SGI1R_EL1 or GICD_SGIR), enter / exit a vCPU, pending
// query and release. A vCPU "runs" between enter (vgic_dist_flush) and exit:
// the guest then moves each of its list registers on (acknowledge,
// deactivate, both; two bits of the value per list register) and
// vgic_dist_fold reads them back. Other vCPUs' accesses may happen while
// it runs, as on hardware; its own happen only after it exited (a trap is an
// exit), so a vCPU's accesses never see its own list registers live.
//
// Invariants after every operation (vgic_dist.h): every used list register
// holds an INTID of the model whose irq->lr/owner name that register, and
// every irq->lr >= 0 is such a register (a bijection: no interrupt in two
// list registers); unused list registers are 0; priorities keep 5 bits;
// SGIs stay edge; SPI targets name a vCPU or none; GICv2 SGI sources and
// ITARGETSR bytes name existing vCPUs; underflow only with 2+ list
// registers. After a flush, no deliverable interrupt waits while a list
// register is free, and none waiting has a higher priority than one placed.
// vgic_dist_vcpu_pending agrees with the state. Reads return the access
// size's bits; a rejected access changes nothing; kicks and hardware
// enables name existing vCPUs, and the physical enables (and the SPI's
// routing) follow the guest's; simple registers read back what was written.
// At the end every vCPU is run, completing everything it is given, until
// nothing is pending for it: no deliverable interrupt is ever stranded.
#include "fuzz_common.h"

#include <string.h>

#include <tally/errno.h>

#include "irq/vgic_dist.h"

#define PPI_VTIMER 27
#define SPI_UART   33

static struct vgic_dist D;
static struct vgic_cpu_state C[VGIC_MAX_VCPUS];
static bool running[VGIC_MAX_VCPUS];
static unsigned kicks;

static void on_kick(struct vgic_dist *d, unsigned vcpu)
{
    FUZZ_CHECK(d == &D && vcpu < D.nr_vcpus, "kick of vCPU %u (%u vCPUs)", vcpu, D.nr_vcpus);
    kicks++;
}

/* What the physical GIC was told: the vtimer PPI of each vCPU, the UART SPI
 * and where it is routed. */
static bool hw_ppi_on[VGIC_MAX_VCPUS], hw_spi_on;
static unsigned hw_spi_target;

static void on_hw_enable(struct vgic_dist *d, uint32_t hw_intid, bool enable, unsigned target)
{
    FUZZ_CHECK(d == &D && target < D.nr_vcpus && (hw_intid == PPI_VTIMER || hw_intid == SPI_UART),
               "hw_enable(%u, %d, target %u)", hw_intid, enable, target);
    if (hw_intid == PPI_VTIMER) {
        hw_ppi_on[target] = enable;
    } else {
        hw_spi_on = enable;
        hw_spi_target = target;
    }
}

/* The physical side follows the guest's enables and SPI routing. */
static void check_hw(void)
{
    for (unsigned v = 0; v < D.nr_vcpus; v++)
        FUZZ_CHECK(hw_ppi_on[v] == !!(C[v].priv[PPI_VTIMER].flags & VGIC_IRQ_ENABLED),
                   "vCPU %u: vtimer PPI enabled %d, physical %d", v,
                   !!(C[v].priv[PPI_VTIMER].flags & VGIC_IRQ_ENABLED), hw_ppi_on[v]);
    const struct vgic_irq *u = &D.spi[SPI_UART - VGIC_NR_PRIVATE];
    FUZZ_CHECK(hw_spi_on == !!(u->flags & VGIC_IRQ_ENABLED), "UART SPI enabled %d, physical %d",
               !!(u->flags & VGIC_IRQ_ENABLED), hw_spi_on);
    unsigned t = u->target < D.nr_vcpus ? u->target : 0;
    FUZZ_CHECK(!hw_spi_on || hw_spi_target == t, "UART SPI routed to %u, target %u", hw_spi_target,
               u->target);
}

static const struct vgic_dist_ops ops = {.kick = on_kick, .hw_enable = on_hw_enable};

static struct vgic_irq *irq_of(unsigned vcpu, uint32_t intid)
{
    return intid < VGIC_NR_PRIVATE ? &C[vcpu].priv[intid] : &D.spi[intid - VGIC_NR_PRIVATE];
}

static uint32_t lr_intid(uint64_t lr)
{
    return D.version == 3 ? (uint32_t)lr : (uint32_t)lr & 0x3ff;
}

/* Latched, in no list register, enabled, its group enabled, and for vCPU v. */
static bool waiting_for(unsigned v, uint32_t intid)
{
    const struct vgic_irq *irq = irq_of(v, intid);
    unsigned grp = (irq->flags & VGIC_IRQ_GROUP1) ? 2 : 1;
    return (irq->flags & VGIC_IRQ_LATCH) && irq->lr < 0 && (irq->flags & VGIC_IRQ_ENABLED) &&
           (D.ctlr & grp) && (intid < VGIC_NR_PRIVATE || irq->target == v);
}

static void check_irq(unsigned v, uint32_t intid)
{
    const struct vgic_irq *irq = irq_of(v, intid);
    FUZZ_CHECK(!(irq->flags & ~0x3fu), "INTID %u: flags %#x", intid, irq->flags);
    FUZZ_CHECK(!(irq->priority & ~0xf8u), "INTID %u: priority %#x", intid, irq->priority);
    if (intid < VGIC_NR_SGIS)
        FUZZ_CHECK(irq->flags & VGIC_IRQ_EDGE, "SGI %u of vCPU %u not edge", intid, v);
    if (intid >= VGIC_NR_PRIVATE) {
        FUZZ_CHECK(irq->target == 0xff || irq->target < D.nr_vcpus, "SPI %u: target %u", intid,
                   irq->target);
        FUZZ_CHECK(!(irq->targets2 & ~((1u << D.nr_vcpus) - 1)), "SPI %u: ITARGETSR %#x", intid,
                   irq->targets2);
    }
    if (irq->lr < 0)
        return;
    unsigned o = irq->owner;
    FUZZ_CHECK(irq->lr < (int)D.nr_lrs && o < D.nr_vcpus && (intid >= VGIC_NR_PRIVATE || o == v),
               "INTID %u of vCPU %u: lr %d owner %u", intid, v, irq->lr, o);
    FUZZ_CHECK((C[o].lr_used & (1u << irq->lr)) && C[o].lr_intid[irq->lr] == intid,
               "INTID %u: names list register %d of vCPU %u, which holds %s%u", intid, irq->lr, o,
               (C[o].lr_used & (1u << irq->lr)) ? "" : "nothing, last ", C[o].lr_intid[irq->lr]);
}

static void check_model(void)
{
    for (unsigned v = 0; v < D.nr_vcpus; v++) {
        struct vgic_cpu_state *c = &C[v];
        FUZZ_CHECK(!(c->lr_used & ~((1u << D.nr_lrs) - 1)), "vCPU %u: lr_used %#x, %u LRs", v,
                   c->lr_used, D.nr_lrs);
        FUZZ_CHECK(!c->underflow || D.nr_lrs >= 2, "vCPU %u: underflow with %u LR", v, D.nr_lrs);
        for (unsigned n = 0; n < VGIC_MAX_LRS; n++) {
            if (!(c->lr_used & (1u << n))) {
                FUZZ_CHECK(c->lr[n] == 0, "vCPU %u: unused LR %u is %#llx", v, n,
                           (unsigned long long)c->lr[n]);
                continue;
            }
            uint32_t intid = c->lr_intid[n];
            FUZZ_CHECK(intid < VGIC_NR_IRQS && lr_intid(c->lr[n]) == intid,
                       "vCPU %u: LR %u holds INTID %u, encodes %u", v, n, intid,
                       lr_intid(c->lr[n]));
            const struct vgic_irq *irq = irq_of(v, intid);
            FUZZ_CHECK(irq->lr == (int)n && irq->owner == v,
                       "vCPU %u LR %u: INTID %u says lr %d owner %u", v, n, intid, irq->lr,
                       irq->owner);
        }
        if (D.version == 2)
            for (unsigned i = 0; i < VGIC_NR_SGIS; i++)
                FUZZ_CHECK(!(c->sgi_sources[i] & ~((1u << D.nr_vcpus) - 1)),
                           "vCPU %u SGI %u: sources %#x", v, i, c->sgi_sources[i]);
        for (uint32_t i = 0; i < VGIC_NR_PRIVATE; i++)
            check_irq(v, i);
    }
    for (uint32_t i = VGIC_NR_PRIVATE; i < VGIC_NR_IRQS; i++)
        check_irq(0, i);
    check_hw();
}

/* vgic_dist_vcpu_pending, computed from the state. */
static bool pending_for(unsigned v)
{
    for (unsigned n = 0; n < D.nr_lrs; n++)
        if ((C[v].lr_used & (1u << n)) && (vgic_lr_state(D.version, C[v].lr[n]) & VGIC_LR_PENDING))
            return true;
    for (uint32_t i = 0; i < VGIC_NR_IRQS; i++)
        if (waiting_for(v, i))
            return true;
    return false;
}

static void enter(unsigned v)
{
    uint32_t before = C[v].lr_used;
    vgic_dist_flush(&D, v);
    uint32_t placed = C[v].lr_used & ~before;
    unsigned worst = 0; /* lowest priority (highest value) placed */
    for (unsigned n = 0; n < D.nr_lrs; n++)
        if (placed & (1u << n)) {
            unsigned p = irq_of(v, C[v].lr_intid[n])->priority;
            worst = p > worst ? p : worst;
        }
    for (uint32_t i = 0; i < VGIC_NR_IRQS; i++) {
        if (!waiting_for(v, i))
            continue;
        FUZZ_CHECK(C[v].lr_used == (1u << D.nr_lrs) - 1,
                   "vCPU %u: INTID %u waits with a free list register (used %#x)", v, i,
                   C[v].lr_used);
        FUZZ_CHECK(!placed || irq_of(v, i)->priority >= worst,
                   "vCPU %u: INTID %u (priority %u) waits, priority %u was placed", v, i,
                   irq_of(v, i)->priority, worst);
    }
    running[v] = true;
}

/* The guest moves each list register on: bits 2n..2n+1 of progress say
 * nothing, acknowledge, deactivate, or both. */
static void leave(unsigned v, uint64_t progress)
{
    struct vgic_cpu_state *c = &C[v];
    for (unsigned n = 0; n < D.nr_lrs; n++) {
        if (!(c->lr_used & (1u << n)))
            continue;
        unsigned st = vgic_lr_state(D.version, c->lr[n]), act = (progress >> (2 * n)) & 3;
        if ((act & 1) && st == VGIC_LR_PENDING)
            st = VGIC_LR_ACTIVE;
        if ((act & 2) && (st & VGIC_LR_ACTIVE))
            st &= ~VGIC_LR_ACTIVE;
        c->lr[n] = vgic_lr_with_state(D.version, c->lr[n], st);
    }
    vgic_dist_fold(&D, v);
    running[v] = false;
    for (unsigned n = 0; n < D.nr_lrs; n++)
        if (c->lr_used & (1u << n))
            FUZZ_CHECK(vgic_lr_state(D.version, c->lr[n]) != 0,
                       "vCPU %u: folded LR %u kept invalid", v, n);
}

static void exit_if_running(unsigned v, uint64_t progress)
{
    if (running[v])
        leave(v, progress);
}

/* A rejected access changes nothing: the whole model, byte for byte. */
struct snapshot {
    struct vgic_dist d;
    struct vgic_cpu_state c[VGIC_MAX_VCPUS];
    unsigned kicks;
};
static struct snapshot snap_before;

static void take_snapshot(void)
{
    snap_before.d = D;
    memcpy(snap_before.c, C, sizeof(C));
    snap_before.kicks = kicks;
}

static void check_unchanged(const char *what, uint64_t off, unsigned size)
{
    FUZZ_CHECK(!memcmp(&snap_before.d, &D, sizeof(D)) && !memcmp(snap_before.c, C, sizeof(C)) &&
                   snap_before.kicks == kicks,
               "rejected %s at %#llx size %u changed the model", what, (unsigned long long)off,
               size);
}

static void mmio(bool write, bool rdist, unsigned v, uint64_t off, unsigned size, uint64_t val)
{
    exit_if_running(v, val);
    uint64_t got = 0xdead;
    int err;
    /* ISENABLER/ICENABLER writes: the enable bits before, to check after. */
    uint64_t en_off = 0, en_before = 0, blk = rdist ? off % VGIC_V3_GICR_STRIDE - 0x10000 : off;
    bool en = write && size == 4 && off % 4 == 0 && blk >= 0x100 && blk < 0x200 &&
              (rdist ? off % VGIC_V3_GICR_STRIDE >= 0x10000 && blk % 0x80 == 0 : true);
    if (en) {
        en_off = off - (blk >= 0x180 ? 0x80 : 0);
        en = (rdist ? vgic_rdist_read(&D, v, en_off, 4, &en_before)
                    : vgic_dist_read(&D, v, en_off, 4, &en_before)) == ERR_OK;
    }
    take_snapshot();
    if (write)
        err = rdist ? vgic_rdist_write(&D, v, off, size, val)
                    : vgic_dist_write(&D, v, off, size, val);
    else
        err = rdist ? vgic_rdist_read(&D, v, off, size, &got)
                    : vgic_dist_read(&D, v, off, size, &got);
    const char *what =
        write ? (rdist ? "GICR write" : "GICD write") : (rdist ? "GICR read" : "GICD read");
    FUZZ_CHECK(err == ERR_OK || err == ERR_INVAL, "%s at %#llx size %u: %d", what,
               (unsigned long long)off, size, err);
    if (err) {
        check_unchanged(what, off, size);
        FUZZ_CHECK(write || got == 0, "failed %s at %#llx returned %#llx", what,
                   (unsigned long long)off, (unsigned long long)got);
        return;
    }
    if (!write) {
        FUZZ_CHECK(size == 8 || got < (1ull << (8 * size)), "%s at %#llx size %u returned %#llx",
                   what, (unsigned long long)off, size, (unsigned long long)got);
        return;
    }
    /* Read back what simple registers must now hold. */
    uint64_t r = 0;
    if (en) {
        /* The INTIDs this register covers that exist (and, GICv3 GICD, are
         * not private: those read as zero there). */
        uint64_t first = rdist ? 0 : (blk - 0x100) % 0x80 * 8;
        uint32_t mask = 0;
        for (unsigned i = 0; i < 32; i++)
            if (first + i < VGIC_NR_IRQS && !(D.version == 3 && !rdist && first < VGIC_NR_PRIVATE))
                mask |= 1u << i;
        uint32_t want = blk >= 0x180 ? (uint32_t)en_before & ~(uint32_t)val
                                     : ((uint32_t)en_before | (uint32_t)val) & mask;
        int e =
            rdist ? vgic_rdist_read(&D, v, en_off, 4, &r) : vgic_dist_read(&D, v, en_off, 4, &r);
        FUZZ_CHECK(e == ERR_OK && r == want,
                   "%s at %#llx of %#llx: enables %#llx -> %#llx, want %#x", what,
                   (unsigned long long)off, (unsigned long long)val, (unsigned long long)en_before,
                   (unsigned long long)r, want);
    }
    if (rdist && off % VGIC_V3_GICR_STRIDE == 0x14 && size == 4) {
        FUZZ_CHECK(vgic_rdist_read(&D, v, off, 4, &r) == ERR_OK && r == ((val & 2) ? 6 : 0),
                   "GICR_WAKER wrote %#llx, reads %#llx", (unsigned long long)val,
                   (unsigned long long)r);
    }
    if (!rdist && off == 0 && size == 4) {
        FUZZ_CHECK(vgic_dist_read(&D, v, 0, 4, &r) == ERR_OK &&
                       r == ((val & 3) | (D.version == 3 ? 0x50 : 0)),
                   "GICD_CTLR wrote %#llx, reads %#llx", (unsigned long long)val,
                   (unsigned long long)r);
    }
    if (!rdist && off >= 0x400 && off < 0x800 && size == 1 &&
        !(D.version == 3 && off - 0x400 < VGIC_NR_PRIVATE)) {
        uint64_t want = off - 0x400 < VGIC_NR_IRQS ? (val & 0xf8) : 0;
        FUZZ_CHECK(vgic_dist_read(&D, v, off, 1, &r) == ERR_OK && r == want,
                   "IPRIORITYR byte %#llx wrote %#llx, reads %#llx", (unsigned long long)off,
                   (unsigned long long)val, (unsigned long long)r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t setup = fuzz_u8(&in);
    unsigned version = (setup & 1) ? 3 : 2;
    unsigned nr_vcpus = 1 + ((setup >> 1) & 7), nr_lrs = 1 + (setup >> 4);
    vgic_dist_init(&D, version, nr_vcpus, nr_lrs, &ops, NULL);
    for (unsigned v = 0; v < nr_vcpus; v++) {
        vgic_cpu_state_init(&C[v], v);
        vgic_dist_attach(&D, &C[v]);
        FUZZ_CHECK(vgic_dist_set_hw(&D, v, PPI_VTIMER, PPI_VTIMER) == ERR_OK, "set_hw PPI");
        running[v] = false;
        hw_ppi_on[v] = false;
    }
    hw_spi_on = false;
    FUZZ_CHECK(vgic_dist_set_hw(&D, 0, SPI_UART, SPI_UART) == ERR_OK, "set_hw SPI");
    FUZZ_CHECK(vgic_dist_set_hw(&D, 0, 3, 3) == ERR_INVAL, "set_hw of an SGI");
    kicks = 0;
    check_model();

    static const unsigned sizes[] = {4, 1, 8, 2};
    while (in.left) {
        uint8_t kind = fuzz_u8(&in);
        unsigned v = fuzz_u8(&in) % nr_vcpus;
        uint16_t a = fuzz_u16(&in);
        uint64_t val = fuzz_u64(&in);
        unsigned sz = sizes[(kind >> 4) & 3];
        bool v3 = version == 3;
        switch (kind & 15) {
        case 0:
        case 1:
            mmio(false, false, v, a, sz, val);
            break;
        case 2:
        case 3:
            mmio(true, false, v, a, sz, val);
            break;
        case 4:
        case 5:
            /* Every vCPU's redistributor frames, and one frame past them. */
            mmio(kind & 1, v3, v,
                 v3 ? (uint64_t)(a % (nr_vcpus + 1)) * VGIC_V3_GICR_STRIDE +
                          ((uint64_t)(kind >> 6 & 1) << 16) + (val >> 48)
                    : a,
                 sz, val);
            break;
        case 6:
        case 7: {
            uint32_t intid = a % 128;
            int err = vgic_dist_inject(&D, v, intid);
            FUZZ_CHECK(err == (intid < VGIC_NR_IRQS ? ERR_OK : ERR_INVAL), "inject %u: %d", intid,
                       err);
            break;
        }
        case 8:
            exit_if_running(v, val);
            if (v3)
                vgic_dist_sgi1r(&D, v, val);
            else
                mmio(true, false, v, 0xf00, 4, (uint32_t)val);
            break;
        case 9:
        case 10:
        case 11:
            if (running[v])
                leave(v, val);
            else
                enter(v);
            break;
        case 12:
            exit_if_running(v, val);
            FUZZ_CHECK(vgic_dist_vcpu_pending(&D, v) == pending_for(v),
                       "vCPU %u: vcpu_pending %d, state says %d", v, !pending_for(v),
                       pending_for(v));
            break;
        case 13: {
            exit_if_running(v, val);
            uint32_t hw[VGIC_MAX_LRS + VGIC_NR_PRIVATE];
            unsigned n = vgic_dist_vcpu_release(&D, v, hw, (unsigned)(val % (ARRAY_SIZE(hw) + 1)));
            FUZZ_CHECK(n <= val % (ARRAY_SIZE(hw) + 1), "release wrote %u", n);
            for (unsigned i = 0; i < n; i++)
                FUZZ_CHECK(hw[i] == PPI_VTIMER || hw[i] == SPI_UART, "release: hw INTID %u", hw[i]);
            FUZZ_CHECK(C[v].lr_used == 0 && !C[v].underflow, "vCPU %u keeps LRs after release", v);
            for (uint32_t i = 0; i < VGIC_NR_PRIVATE; i++)
                FUZZ_CHECK(!(C[v].priv[i].flags & (VGIC_IRQ_LATCH | VGIC_IRQ_ACTIVE)),
                           "vCPU %u: INTID %u latched or active after release", v, i);
            break;
        }
        default: {
            /* Read-only registers read as specified. */
            exit_if_running(v, val);
            uint64_t r;
            FUZZ_CHECK(
                vgic_dist_read(&D, v, 4, 4, &r) == ERR_OK &&
                    r == ((VGIC_NR_IRQS / 32 - 1) | ((nr_vcpus - 1) << 5) | (v3 ? 9u << 19 : 0)),
                "GICD_TYPER %#llx", (unsigned long long)r);
            if (v3)
                FUZZ_CHECK(vgic_rdist_read(&D, v, (uint64_t)v * VGIC_V3_GICR_STRIDE + 8, 8, &r) ==
                                   ERR_OK &&
                               r == (((uint64_t)v << 32) | ((uint64_t)v << 8) |
                                     (v == nr_vcpus - 1 ? 1u << 4 : 0)),
                           "GICR_TYPER of vCPU %u: %#llx", v, (unsigned long long)r);
            break;
        }
        }
        check_model();
    }
    for (unsigned v = 0; v < nr_vcpus; v++)
        exit_if_running(v, 0);
    check_model();
    /* Nothing is lost: a guest that completes everything it is given sees
     * every deliverable pending interrupt within a bounded number of entries
     * (each entry fills the list registers; GICv2 SGIs come once per
     * source). */
    for (unsigned v = 0; v < nr_vcpus; v++) {
        unsigned rounds = 0;
        for (; pending_for(v) && rounds < VGIC_NR_IRQS * VGIC_MAX_VCPUS + 2; rounds++) {
            enter(v);
            leave(v, ~0ull);
            check_model();
        }
        FUZZ_CHECK(!pending_for(v), "vCPU %u: still pending after %u entries completing everything",
                   v, rounds);
    }
    return 0;
}
