// SPDX-License-Identifier: MIT
// The vGIC model (hyp/irq/vgic_dist.c) on the host: list-register encodings,
// the GICv2 and GICv3 distributor register maps, the GICv3 redistributors,
// injection and kicks, list-register selection with priorities and the
// underflow request, the fold of finished list registers, SGIs (ICC_SGI1R
// and GICD_SGIR with GICv2 source CPUs), hardware-linked interrupts and
// the release of a vCPU. Callbacks are recorded, so every kick and every
// physical enable is asserted by count.
#include "../host/harness.h"

#include <string.h>
#include <tally/errno.h>

#include "irq/vgic_dist.h"

#define NR_VCPUS 2
#define NR_LRS   4

static struct vgic_dist d;
static struct vgic_cpu_state cpu[NR_VCPUS];
static unsigned kicks[NR_VCPUS];
static unsigned hw_calls;
static uint32_t hw_last_intid;
static bool hw_last_enable;
static unsigned hw_last_target;

static void rec_kick(struct vgic_dist *dist, unsigned vcpu)
{
    ck_assert_ptr_eq(dist, &d);
    ck_assert_uint_lt(vcpu, NR_VCPUS);
    kicks[vcpu]++;
}

static void rec_hw(struct vgic_dist *dist, uint32_t intid, bool enable, unsigned target)
{
    hw_calls++;
    hw_last_intid = intid;
    hw_last_enable = enable;
    hw_last_target = target;
}

static const struct vgic_dist_ops rec_ops = {.kick = rec_kick, .hw_enable = rec_hw};

static void setup_version(unsigned version)
{
    memset(kicks, 0, sizeof(kicks));
    hw_calls = 0;
    vgic_dist_init(&d, version, NR_VCPUS, NR_LRS, &rec_ops, NULL);
    for (unsigned i = 0; i < NR_VCPUS; i++) {
        vgic_cpu_state_init(&cpu[i], i);
        vgic_dist_attach(&d, &cpu[i]);
    }
}

static uint64_t rd(unsigned vcpu, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    ck_assert_int_eq(vgic_dist_read(&d, vcpu, off, size, &v), ERR_OK);
    return v;
}

static void wr(unsigned vcpu, uint64_t off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vgic_dist_write(&d, vcpu, off, size, v), ERR_OK);
}

static uint64_t rrd(unsigned vcpu, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    ck_assert_int_eq(vgic_rdist_read(&d, vcpu, off, size, &v), ERR_OK);
    return v;
}

static void rwr(unsigned vcpu, uint64_t off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vgic_rdist_write(&d, vcpu, off, size, v), ERR_OK);
}

/* GICv3 vCPU t's SGI_base register at off. */
/* The latch bitmaps name exactly the interrupts whose flags say latched. */
static void check_latch_bitmaps(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VGIC_NR_SPIS; i++) {
        bool flag = d.spi[i].flags & VGIC_IRQ_LATCH, bit = (d.latched_spi >> i) & 1;
        ck_assert_msg(flag == bit, "SPI %u: latched %d, bitmap %d", 32 + i, flag, bit);
        n += flag;
    }
    for (unsigned v = 0; v < NR_VCPUS; v++)
        for (unsigned i = 0; i < VGIC_NR_PRIVATE; i++) {
            bool flag = cpu[v].priv[i].flags & VGIC_IRQ_LATCH, bit = (cpu[v].latched_priv >> i) & 1;
            ck_assert_msg(flag == bit, "vCPU %u INTID %u: latched %d, bitmap %d", v, i, flag, bit);
            n += flag;
        }
    ck_assert_uint_eq(n, d.nr_latched);
}

#define SGI(t, off) ((uint64_t)(t)*VGIC_V3_GICR_STRIDE + 0x10000 + (off))

static unsigned lrs_used(unsigned vcpu)
{
    return (unsigned)__builtin_popcount(cpu[vcpu].lr_used);
}

/* The guest finished list register n (acknowledged and deactivated). */
static void guest_done(unsigned vcpu, unsigned n)
{
    cpu[vcpu].lr[n] = vgic_lr_with_state(d.version, cpu[vcpu].lr[n], 0);
}

START_TEST(test_lr_encode_v3_hw_timer_and_sgi)
{
    ck_assert_uint_eq(vgic_lr_encode(3, 27, 0xa0, true, VGIC_LR_PENDING, true, 27, 0),
                      (1ull << 62) | (1ull << 61) | (1ull << 60) | (0xa0ull << 48) | (27ull << 32) |
                          27);
    ck_assert_uint_eq(
        vgic_lr_encode(3, 5, 0x10, false, VGIC_LR_PENDING | VGIC_LR_ACTIVE, false, 0, 3),
        (3ull << 62) | (0x10ull << 48) | 5);
    uint64_t lr = vgic_lr_encode(3, 40, 0, true, VGIC_LR_PENDING, false, 0, 0);
    ck_assert_uint_eq(vgic_lr_state(3, lr), VGIC_LR_PENDING);
    ck_assert_uint_eq(vgic_lr_state(3, vgic_lr_with_state(3, lr, VGIC_LR_ACTIVE)), VGIC_LR_ACTIVE);
    ck_assert_uint_eq(vgic_lr_with_state(3, lr, 0), (1ull << 60) | 40);
}
END_TEST

START_TEST(test_lr_encode_v2_priority_source_and_hw)
{
    /* priority 0xa0 -> 5-bit field 0x14 at [27:23]; SGI 3 from CPU 1 at [12:10] */
    ck_assert_uint_eq(vgic_lr_encode(2, 3, 0xa0, false, VGIC_LR_PENDING, false, 0, 1),
                      (1u << 28) | (0x14u << 23) | (1u << 10) | 3);
    ck_assert_uint_eq(vgic_lr_encode(2, 33, 0, true, VGIC_LR_ACTIVE, true, 33, 0),
                      (1u << 31) | (1u << 30) | (2u << 28) | (33u << 10) | 33);
    ck_assert_uint_eq(vgic_lr_state(2, (3u << 28) | 7), 3);
}
END_TEST

START_TEST(test_v3_gicd_id_registers_and_ctlr)
{
    setup_version(3);
    ck_assert_uint_eq(rd(0, 0x0, 4), 0x50);                       /* ARE | DS */
    ck_assert_uint_eq(rd(0, 0x4, 4), 2 | (1u << 5) | (9u << 19)); /* 96 INTIDs, 2 CPUs */
    ck_assert_uint_eq(rd(0, 0x8, 4), 0x43b);
    ck_assert_uint_eq(rd(0, 0xffe8, 4), 0x3b);
    wr(0, 0x0, 4, 0x13); /* EnableGrp0 | EnableGrp1 | ARE: ARE stays RAO */
    ck_assert_uint_eq(rd(0, 0x0, 4), 0x53);
    ck_assert_uint_eq(kicks[0] + kicks[1], 2); /* newly enabled groups kick every vCPU */
    ck_assert_uint_eq(rd(0, 0x1000, 4), 0);    /* unknown offset: RAZ */
    wr(0, 0x1000, 4, 0xffffffff);              /* ... and WI */
}
END_TEST

START_TEST(test_v3_gicd_private_words_are_raz_wi)
{
    setup_version(3);
    wr(0, 0x100, 4, 0xffffffff); /* ISENABLER0: the redistributor's with ARE */
    ck_assert_uint_eq(rd(0, 0x100, 4), 0);
    ck_assert_uint_eq(cpu[0].priv[27].flags & VGIC_IRQ_ENABLED, 0);
    wr(0, 0x104, 4, 0x3); /* ISENABLER1: SPIs 32, 33 */
    ck_assert_uint_eq(rd(0, 0x104, 4), 3);
    ck_assert_uint_eq(rd(1, 0x184, 4), 3); /* same view from every vCPU */
    wr(0, 0x184, 4, 0x1);
    ck_assert_uint_eq(rd(0, 0x104, 4), 2);
    ck_assert_uint_eq(rd(0, 0x080, 4), 0);          /* IGROUPR0: RAZ */
    ck_assert_uint_eq(rd(0, 0x084, 4), 0xffffffff); /* SPIs default to group 1 */
    ck_assert_uint_eq(rd(0, 0x10c, 4), 0);          /* beyond the model: RAZ */
}
END_TEST

START_TEST(test_v3_gicd_priority_bytes_and_words)
{
    setup_version(3);
    wr(0, 0x400 + 33, 1, 0xff);
    ck_assert_uint_eq(rd(0, 0x400 + 32, 4), 0xf800); /* 5 bits kept */
    wr(0, 0x400 + 36, 4, 0x10203040);
    ck_assert_uint_eq(rd(0, 0x400 + 36, 4), 0x10203040);
    ck_assert_uint_eq(rd(0, 0x400 + 38, 1), 0x20);
    ck_assert_uint_eq(rd(0, 0x400 + 0, 4), 0); /* private: the redistributor's */
}
END_TEST

START_TEST(test_v3_irouter_targets_a_vcpu_by_aff0)
{
    setup_version(3);
    uint64_t r33 = 0x6000 + 8 * 33;
    ck_assert_uint_eq(rd(0, r33, 8), 0);
    wr(0, r33, 8, 1);
    ck_assert_uint_eq(rd(0, r33, 8), 1);
    ck_assert_uint_eq(d.spi[1].target, 1);
    wr(0, r33, 8, 1ull << 8); /* Aff1 = 1: no such vCPU */
    ck_assert_uint_eq(d.spi[1].target, 0xff);
    wr(0, r33, 4, 0x80000000); /* IRM through the low half */
    ck_assert_uint_eq(rd(0, r33, 8), 0x80000000);
    ck_assert_uint_eq(d.spi[1].target, 0);
    ck_assert_uint_eq(rd(0, r33 + 4, 4), 0);
    ck_assert_uint_eq(rd(0, 0x6000 + 8 * 5, 8), 0); /* private INTIDs have none */
}
END_TEST

START_TEST(test_v3_gicd_bad_sizes_are_refused)
{
    setup_version(3);
    uint64_t v;
    ck_assert_int_eq(vgic_dist_read(&d, 0, 0x0, 2, &v), ERR_INVAL);
    ck_assert_int_eq(vgic_dist_read(&d, 0, 0x102, 4, &v), ERR_INVAL);
    ck_assert_int_eq(vgic_dist_write(&d, 0, 0x104, 1, 1), ERR_INVAL);
    ck_assert_int_eq(vgic_dist_read(&d, 0, 0x6004, 8, &v), ERR_INVAL);
    ck_assert_uint_eq(rd(0, 0x104, 4), 0); /* nothing changed */
}
END_TEST

START_TEST(test_v3_rdist_typer_last_and_waker)
{
    setup_version(3);
    ck_assert_uint_eq(rrd(0, 0x8, 8), 0);
    ck_assert_uint_eq(rrd(0, VGIC_V3_GICR_STRIDE + 0x8, 8), (1ull << 32) | (1u << 8) | (1u << 4));
    ck_assert_uint_eq(rrd(0, VGIC_V3_GICR_STRIDE + 0xc, 4), 1);
    ck_assert_uint_eq(rrd(0, 0xffe8, 4), 0x3b);
    ck_assert_uint_eq(rrd(0, 0x14, 4), 2); /* ProcessorSleep */
    rwr(0, 0x14, 4, 0);
    ck_assert_uint_eq(rrd(0, 0x14, 4), 0);
    ck_assert_uint_eq(rrd(1, VGIC_V3_GICR_STRIDE + 0x14, 4), 2); /* vCPU 1 still asleep */
    uint64_t v;
    ck_assert_int_eq(vgic_rdist_read(&d, 0, 2 * VGIC_V3_GICR_STRIDE, 4, &v), ERR_INVAL);
}
END_TEST

START_TEST(test_v3_rdist_sgi_frame_is_per_vcpu)
{
    setup_version(3);
    rwr(0, SGI(1, 0x100), 4, 1u << 27); /* vCPU 0 enables vCPU 1's timer PPI */
    ck_assert_uint_eq(rrd(1, SGI(1, 0x100), 4), 1u << 27);
    ck_assert_uint_eq(rrd(1, SGI(0, 0x100), 4), 0);
    rwr(1, SGI(1, 0x400 + 27), 1, 0xa0);
    ck_assert_uint_eq(rrd(1, SGI(1, 0x418), 4), 0xa0000000);
    ck_assert_uint_eq(rrd(1, SGI(1, 0xc00), 4), 0xaaaaaaaa); /* SGIs edge */
    rwr(1, SGI(1, 0xc00), 4, 0);
    ck_assert_uint_eq(rrd(1, SGI(1, 0xc00), 4), 0xaaaaaaaa); /* ... always */
    rwr(1, SGI(1, 0xc04), 4, 2u << 22);                      /* PPI 27 edge */
    ck_assert_uint_eq(rrd(1, SGI(1, 0xc04), 4), 2u << 22);
    ck_assert_uint_eq(rrd(1, SGI(1, 0x80), 4), 0xffffffff);
}
END_TEST

static void v3_enable_all(void)
{
    wr(0, 0x0, 4, 0x3);
    for (unsigned t = 0; t < NR_VCPUS; t++) {
        rwr(t, SGI(t, 0x100), 4, 0xffffffff);
        rwr(t, (uint64_t)t * VGIC_V3_GICR_STRIDE + 0x14, 4, 0);
    }
    wr(0, 0x104, 4, 0xffffffff);
    wr(0, 0x108, 4, 0xffffffff);
    memset(kicks, 0, sizeof(kicks));
}

START_TEST(test_inject_kicks_the_target_only_when_deliverable)
{
    setup_version(3);
    ck_assert_int_eq(vgic_dist_inject(&d, 1, 20), ERR_OK); /* PPI 20, disabled */
    ck_assert_uint_eq(kicks[1], 0);
    rwr(1, SGI(1, 0x100), 4, 1u << 20); /* enabled, but ... */
    ck_assert_uint_eq(kicks[1], 0);     /* ... its group is still off */
    wr(0, 0x0, 4, 0x2);
    ck_assert_uint_eq(kicks[1], 1); /* CTLR kicks every vCPU once */
    ck_assert_uint_eq(kicks[0], 1);
    ck_assert_int_eq(vgic_dist_inject(&d, 0, 96), ERR_INVAL); /* outside the model */
    wr(0, 0x104, 4, 1u << 1);                                 /* SPI 33 enabled, target 0 */
    memset(kicks, 0, sizeof(kicks));
    ck_assert_int_eq(vgic_dist_inject(&d, 1, 33), ERR_OK); /* vcpu ignored for SPIs */
    ck_assert_uint_eq(kicks[0], 1);
    ck_assert_uint_eq(kicks[1], 0);
    ck_assert_uint_eq(rd(0, 0x204, 4), 2); /* ISPENDR1 */
}
END_TEST

START_TEST(test_flush_fills_lrs_by_priority_then_requests_underflow)
{
    setup_version(3);
    v3_enable_all();
    const uint8_t prio[6] = {0x80, 0x40, 0x40, 0xc0, 0x00, 0x80};
    for (unsigned i = 0; i < 6; i++) {
        wr(0, 0x400 + 40 + i, 1, prio[i]);
        vgic_dist_inject(&d, 0, 40 + i);
    }
    ck_assert_uint_eq(kicks[0], 6);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 4);
    ck_assert(cpu[0].underflow);
    /* 44 (0x00), 41 and 42 (0x40), 40 (0x80, lower INTID than 45) */
    ck_assert_uint_eq(cpu[0].lr_intid[0], 44);
    ck_assert_uint_eq(cpu[0].lr_intid[1], 41);
    ck_assert_uint_eq(cpu[0].lr_intid[2], 42);
    ck_assert_uint_eq(cpu[0].lr_intid[3], 40);
    ck_assert_uint_eq(cpu[0].lr[0], vgic_lr_encode(3, 44, 0, true, VGIC_LR_PENDING, false, 0, 0));
    ck_assert_uint_eq(rd(0, 0x204, 4), 0x3f << 8); /* all six read pending */
    /* The guest finishes two; the fold frees them, the next flush refills. */
    guest_done(0, 0);
    guest_done(0, 2);
    vgic_dist_fold(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 2);
    ck_assert_int_eq(d.spi[44 - 32].lr, -1);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 4);
    ck_assert(!cpu[0].underflow);
    ck_assert_uint_eq(cpu[0].lr_intid[0], 45);
    ck_assert_uint_eq(cpu[0].lr_intid[2], 43);
    ck_assert_uint_eq(rd(0, 0x204, 4), 0x2b << 8); /* 42 and 44 done */
    ck_assert(vgic_dist_vcpu_pending(&d, 0));
    ck_assert(!vgic_dist_vcpu_pending(&d, 1));
}
END_TEST

START_TEST(test_spi_goes_only_to_its_target)
{
    setup_version(3);
    v3_enable_all();
    wr(0, 0x6000 + 8 * 50, 8, 1);
    vgic_dist_inject(&d, 0, 50);
    ck_assert_uint_eq(kicks[1], 1);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 0);
    vgic_dist_flush(&d, 1);
    ck_assert_uint_eq(lrs_used(1), 1);
    ck_assert_uint_eq(d.spi[50 - 32].owner, 1);
}
END_TEST

START_TEST(test_reinject_while_active_makes_lr_pending_and_active)
{
    setup_version(3);
    v3_enable_all();
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_flush(&d, 0);
    /* Guest acknowledged: active. A second edge arrives. */
    cpu[0].lr[0] = vgic_lr_with_state(3, cpu[0].lr[0], VGIC_LR_ACTIVE);
    vgic_dist_fold(&d, 0);
    ck_assert_uint_eq(rd(0, 0x304, 4), 1u << 8); /* ISACTIVER1 */
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 1);
    ck_assert_uint_eq(vgic_lr_state(3, cpu[0].lr[0]), VGIC_LR_PENDING | VGIC_LR_ACTIVE);
    ck_assert_uint_eq(d.spi[8].flags & VGIC_IRQ_LATCH, 0);
    /* Still pending in the LR: a third edge coalesces. */
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 1);
    ck_assert_uint_eq(d.spi[8].flags & VGIC_IRQ_LATCH, 0);
}
END_TEST

START_TEST(test_icpendr_of_own_lr_clears_its_pending_state)
{
    setup_version(3);
    v3_enable_all();
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_flush(&d, 0);
    wr(0, 0x284, 4, 1u << 8);
    ck_assert_uint_eq(vgic_lr_state(3, cpu[0].lr[0]), 0);
    ck_assert_uint_eq(rd(0, 0x204, 4), 0);
    vgic_dist_fold(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 0);
}
END_TEST

START_TEST(test_sgi1r_targets_list_irm_and_other_clusters)
{
    setup_version(3);
    v3_enable_all();
    vgic_dist_sgi1r(&d, 0, (5ull << 24) | 0x2); /* SGI 5 to vCPU 1 */
    ck_assert_uint_eq(kicks[1], 1);
    ck_assert_uint_eq(kicks[0], 0);
    ck_assert(cpu[1].priv[5].flags & VGIC_IRQ_LATCH);
    vgic_dist_sgi1r(&d, 1, (1ull << 40) | (6ull << 24)); /* IRM: all but vCPU 1 */
    ck_assert(cpu[0].priv[6].flags & VGIC_IRQ_LATCH);
    ck_assert(!(cpu[1].priv[6].flags & VGIC_IRQ_LATCH));
    vgic_dist_sgi1r(&d, 0, (1ull << 16) | (7ull << 24) | 0x3); /* Aff1 = 1: nobody */
    ck_assert(!(cpu[0].priv[7].flags & VGIC_IRQ_LATCH));
    ck_assert(!(cpu[1].priv[7].flags & VGIC_IRQ_LATCH));
    vgic_dist_sgi1r(&d, 0, (1ull << 44) | (8ull << 24) | 0x1); /* RS = 1: vCPU 16 */
    ck_assert(!(cpu[0].priv[8].flags & VGIC_IRQ_LATCH));
    ck_assert_uint_eq(kicks[0] + kicks[1], 2);
    vgic_dist_flush(&d, 1);
    ck_assert_uint_eq(cpu[1].lr[0], vgic_lr_encode(3, 5, 0, true, VGIC_LR_PENDING, false, 0, 0));
}
END_TEST

/* The receiver finished the first SGI inside the guest (its list register
 * is invalid in the hardware, but the model has not seen an exit yet): the
 * second SGI must kick it, or it waits for an unrelated exit. */
static void second_sgi_after_silent_eoi_kicks(unsigned version)
{
    setup_version(version);
    if (version == 3) {
        v3_enable_all();
    } else {
        wr(0, 0x0, 4, 1);
        wr(1, 0x100, 4, 0xffff);
        memset(kicks, 0, sizeof(kicks));
    }
    for (unsigned round = 1; round <= 3; round++) {
        if (version == 3)
            vgic_dist_sgi1r(&d, 0, (5ull << 24) | 0x2);
        else
            wr(0, 0xf00, 4, (2u << 16) | 5);
        ck_assert_uint_eq(kicks[1], round);
        ck_assert_uint_eq(kicks[0], 0);
        /* The kicked exit: fold frees the finished list register. */
        vgic_dist_fold(&d, 1);
        vgic_dist_flush(&d, 1);
        ck_assert_uint_eq(lrs_used(1), 1);
        ck_assert_int_eq(cpu[1].priv[5].lr, 0);
        ck_assert_uint_eq(vgic_lr_state(version, cpu[1].lr[0]), VGIC_LR_PENDING);
        /* In the guest, without an exit: acknowledged and EOIed. */
        guest_done(1, 0);
    }
    vgic_dist_fold(&d, 1);
    ck_assert_uint_eq(lrs_used(1), 0);
    ck_assert_uint_eq(d.nr_latched, 0);
    check_latch_bitmaps();
}

START_TEST(test_v3_second_sgi_after_silent_eoi_kicks_the_receiver)
{
    second_sgi_after_silent_eoi_kicks(3);
}
END_TEST

START_TEST(test_v2_second_sgi_after_silent_eoi_kicks_the_receiver)
{
    second_sgi_after_silent_eoi_kicks(2);
}
END_TEST

START_TEST(test_hw_timer_lr_links_physical_and_release_reports_it)
{
    setup_version(3);
    v3_enable_all();
    ck_assert_int_eq(vgic_dist_set_hw(&d, 0, 27, 27), ERR_OK);
    ck_assert_int_eq(vgic_dist_set_hw(&d, 0, 3, 3), ERR_INVAL); /* never an SGI */
    rwr(0, SGI(0, 0x400 + 27), 1, 0xa0);
    vgic_dist_inject(&d, 0, 27);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(cpu[0].lr[0],
                      vgic_lr_encode(3, 27, 0xa0, true, VGIC_LR_PENDING, true, 27, 0));
    /* A new latch while the HW one is active is dropped, not merged. */
    cpu[0].lr[0] = vgic_lr_with_state(3, cpu[0].lr[0], VGIC_LR_ACTIVE);
    vgic_dist_inject(&d, 0, 27);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(vgic_lr_state(3, cpu[0].lr[0]), VGIC_LR_ACTIVE);
    uint32_t hw[8];
    ck_assert_uint_eq(vgic_dist_vcpu_release(&d, 0, hw, 8), 1);
    ck_assert_uint_eq(hw[0], 27);
    ck_assert_uint_eq(cpu[0].lr_used, 0);
    ck_assert_int_eq(cpu[0].priv[27].lr, -1);
    ck_assert_uint_eq(vgic_dist_vcpu_release(&d, 0, hw, 8), 0);
}
END_TEST

START_TEST(test_hw_timer_retract_only_while_pending_not_active)
{
    setup_version(3);
    v3_enable_all();
    ck_assert_int_eq(vgic_dist_set_hw(&d, 0, 30, 30), ERR_OK);
    ck_assert(!vgic_dist_hw_pending(&d, 0, 30));
    ck_assert(!vgic_dist_hw_pending(&d, 0, 5)); /* not hardware-linked */
    /* Latched, not yet in a list register. */
    vgic_dist_inject(&d, 0, 30);
    ck_assert_uint_eq(d.nr_latched, 1);
    check_latch_bitmaps();
    ck_assert(vgic_dist_hw_pending(&d, 0, 30));
    ck_assert(vgic_dist_hw_retract(&d, 0, 30));
    ck_assert_uint_eq(d.nr_latched, 0);
    check_latch_bitmaps();
    ck_assert(!vgic_dist_hw_retract(&d, 0, 30)); /* nothing left */
    /* In a list register, pending: retracted and the list register freed. */
    vgic_dist_inject(&d, 0, 30);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 1);
    ck_assert(vgic_dist_hw_pending(&d, 0, 30));
    ck_assert(vgic_dist_hw_retract(&d, 0, 30));
    ck_assert_uint_eq(lrs_used(0), 0);
    ck_assert_int_eq(cpu[0].priv[30].lr, -1);
    ck_assert_uint_eq(rrd(0, SGI(0, 0x200), 4) & (1u << 30), 0); /* ISPENDR0 */
    /* Acknowledged (active): the guest owns it; never retracted. */
    vgic_dist_inject(&d, 0, 30);
    vgic_dist_flush(&d, 0);
    cpu[0].lr[0] = vgic_lr_with_state(3, cpu[0].lr[0], VGIC_LR_ACTIVE);
    vgic_dist_fold(&d, 0);
    ck_assert(!vgic_dist_hw_pending(&d, 0, 30));
    ck_assert(!vgic_dist_hw_retract(&d, 0, 30));
    ck_assert_uint_eq(lrs_used(0), 1);
}
END_TEST

START_TEST(test_hw_spi_enable_routes_to_target)
{
    setup_version(3);
    wr(0, 0x0, 4, 0x3);
    ck_assert_int_eq(vgic_dist_set_hw(&d, 0, 33, 33), ERR_OK);
    wr(0, 0x6000 + 8 * 33, 8, 1);
    ck_assert_uint_eq(hw_calls, 0); /* not enabled: nothing physical */
    wr(0, 0x104, 4, 1u << 1);
    ck_assert_uint_eq(hw_calls, 1);
    ck_assert_uint_eq(hw_last_intid, 33);
    ck_assert(hw_last_enable);
    ck_assert_uint_eq(hw_last_target, 1);
    wr(0, 0x104, 4, 1u << 1); /* already enabled: no second call */
    ck_assert_uint_eq(hw_calls, 1);
    wr(0, 0x6000 + 8 * 33, 8, 0); /* retarget while enabled */
    ck_assert_uint_eq(hw_calls, 2);
    ck_assert_uint_eq(hw_last_target, 0);
    wr(0, 0x184, 4, 1u << 1);
    ck_assert_uint_eq(hw_calls, 3);
    ck_assert(!hw_last_enable);
}
END_TEST

START_TEST(test_v2_gicd_banked_private_word_itargets_and_pidr2)
{
    setup_version(2);
    ck_assert_uint_eq(rd(0, 0x4, 4), 2 | (1u << 5));
    ck_assert_uint_eq(rd(0, 0xfe8, 4), 0x2b);
    ck_assert_uint_eq(rd(0, 0x0, 4), 0);
    wr(1, 0x100, 4, 1u << 27); /* vCPU 1's own bank */
    ck_assert_uint_eq(rd(1, 0x100, 4), 1u << 27);
    ck_assert_uint_eq(rd(0, 0x100, 4), 0);
    ck_assert_uint_eq(rd(1, 0x080, 4), 0); /* group 0 by default */
    ck_assert_uint_eq(rd(1, 0x800, 4), 0x02020202);
    ck_assert_uint_eq(rd(0, 0x81c, 4), 0x01010101);
    ck_assert_uint_eq(rd(0, 0x820, 4), 0x01010101); /* SPIs: vCPU 0 */
    wr(0, 0x821, 1, 0xfe);                          /* only existing CPUs kept */
    ck_assert_uint_eq(rd(0, 0x821, 1), 0x02);
    ck_assert_uint_eq(d.spi[1].target, 1);
    wr(0, 0x821, 1, 0);
    ck_assert_uint_eq(d.spi[1].target, 0xff);
}
END_TEST

START_TEST(test_v2_sgir_one_source_per_lr_with_eoi_maintenance)
{
    setup_version(2);
    wr(0, 0x0, 4, 1);
    wr(0, 0x100, 4, 0xffff);
    wr(1, 0x100, 4, 0xffff);
    memset(kicks, 0, sizeof(kicks));
    wr(1, 0xf00, 4, (1u << 16) | 2); /* vCPU 1 -> vCPU 0, SGI 2 */
    wr(0, 0xf00, 4, (2u << 24) | 2); /* vCPU 0 -> itself */
    wr(0, 0xf00, 4, (1u << 24) | 9); /* all but vCPU 0: SGI 9 to vCPU 1 */
    ck_assert_uint_eq(kicks[0], 2);
    ck_assert_uint_eq(kicks[1], 1);
    ck_assert_uint_eq(cpu[0].sgi_sources[2], 0x3);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 1);
    ck_assert_uint_eq(cpu[0].lr[0], (1u << 28) | (0u << 10) | 2 | (1u << 19)); /* EOI */
    ck_assert_uint_eq(cpu[0].sgi_sources[2], 0x2);
    guest_done(0, 0);
    vgic_dist_fold(&d, 0);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(cpu[0].lr[0], (1u << 28) | (1u << 10) | 2);
    ck_assert_uint_eq(cpu[0].sgi_sources[2], 0);
    ck_assert_uint_eq(cpu[0].priv[2].flags & VGIC_IRQ_LATCH, 0);
    vgic_dist_flush(&d, 1);
    ck_assert_uint_eq(cpu[1].lr[0], (1u << 28) | (0u << 10) | 9);
}
END_TEST

START_TEST(test_disabled_group_holds_interrupts_back)
{
    setup_version(2);
    wr(0, 0x100, 4, 1u << 27);
    vgic_dist_inject(&d, 0, 27);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 0); /* GICD_CTLR.EnableGrp0 = 0 */
    ck_assert(!vgic_dist_vcpu_pending(&d, 0));
    wr(0, 0x0, 4, 1);
    vgic_dist_flush(&d, 0);
    ck_assert_uint_eq(lrs_used(0), 1);
}
END_TEST

START_TEST(test_v2_ispendr_of_an_sgi_latches_with_the_writer_as_source)
{
    setup_version(2);
    wr(0, 0x0, 4, 1);
    wr(1, 0x100, 4, 1u << 4);
    wr(1, 0x200, 4, 1u << 4); /* ISPENDR0 of vCPU 1's own bank */
    ck_assert_uint_eq(cpu[1].sgi_sources[4], 1u << 1);
    ck_assert_uint_eq(rd(1, 0x200, 4), 1u << 4);
    ck_assert_uint_eq(rd(0, 0x200, 4), 0);
    wr(1, 0x280, 4, 1u << 4); /* ICPENDR0: latch and sources gone */
    ck_assert_uint_eq(cpu[1].sgi_sources[4], 0);
    ck_assert_uint_eq(rd(1, 0x200, 4), 0);
    vgic_dist_flush(&d, 1);
    ck_assert_uint_eq(lrs_used(1), 0);
}
END_TEST

START_TEST(test_icactiver_of_own_lr_clears_active_but_not_another_vcpus)
{
    setup_version(3);
    v3_enable_all();
    wr(0, 0x6000 + 8 * 40, 8, 1); /* SPI 40 -> vCPU 1 */
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_flush(&d, 1);
    cpu[1].lr[0] = vgic_lr_with_state(3, cpu[1].lr[0], VGIC_LR_ACTIVE);
    vgic_dist_fold(&d, 1);
    wr(0, 0x384, 4, 1u << 8); /* vCPU 0 cannot reach vCPU 1's live LR */
    ck_assert_uint_eq(vgic_lr_state(3, cpu[1].lr[0]), VGIC_LR_ACTIVE);
    ck_assert_uint_eq(rd(0, 0x304, 4), 1u << 8);
    wr(1, 0x384, 4, 1u << 8); /* its owner can */
    ck_assert_uint_eq(vgic_lr_state(3, cpu[1].lr[0]), 0);
    ck_assert_uint_eq(rd(1, 0x304, 4), 0);
    vgic_dist_fold(&d, 1);
    ck_assert_uint_eq(lrs_used(1), 0);
    ck_assert_int_eq(d.spi[8].lr, -1);
}
END_TEST

START_TEST(test_vcpu_pending_follows_lr_state_and_waiting_interrupts)
{
    setup_version(3);
    v3_enable_all();
    ck_assert(!vgic_dist_vcpu_pending(&d, 0));
    vgic_dist_inject(&d, 0, 20); /* waiting */
    ck_assert(vgic_dist_vcpu_pending(&d, 0));
    vgic_dist_flush(&d, 0); /* pending in an LR */
    ck_assert(vgic_dist_vcpu_pending(&d, 0));
    cpu[0].lr[0] = vgic_lr_with_state(3, cpu[0].lr[0], VGIC_LR_ACTIVE);
    vgic_dist_fold(&d, 0); /* taken, not finished: nothing to take */
    ck_assert(!vgic_dist_vcpu_pending(&d, 0));
    ck_assert(!vgic_dist_vcpu_pending(&d, 1));
}
END_TEST

START_TEST(test_rdist_typer_halves_and_read_only_writes)
{
    setup_version(3);
    uint64_t v;
    ck_assert_int_eq(vgic_rdist_read(&d, 0, 0xc, 8, &v), ERR_INVAL); /* 64-bit at +4 */
    ck_assert_uint_eq(rrd(0, 0x8, 4), 0);
    ck_assert_uint_eq(rrd(0, 0xc, 4), 0);
    rwr(0, VGIC_V3_GICR_STRIDE + 0x8, 8, 0); /* TYPER is read-only */
    ck_assert_uint_eq(rrd(0, VGIC_V3_GICR_STRIDE + 0x8, 8), (1ull << 32) | (1u << 8) | (1u << 4));
    ck_assert_int_eq(vgic_rdist_write(&d, 0, 0x14, 2, 0), ERR_INVAL);
    ck_assert_uint_eq(rrd(0, 0x14, 4), 2); /* WAKER unchanged */
    ck_assert_uint_eq(rrd(0, 0x10080, 4), 0xffffffff);
    ck_assert_uint_eq(rrd(0, 0x10d00, 4), 0); /* IGRPMODR0: RAZ */
}
END_TEST

START_TEST(test_latched_count_follows_every_latch_change)
{
    setup_version(2);
    wr(0, 0x0, 4, 1);
    wr(0, 0x100, 4, 0xffff);
    wr(0, 0x104, 4, 0xffffffff);
    ck_assert_uint_eq(d.nr_latched, 0);
    check_latch_bitmaps();
    vgic_dist_inject(&d, 0, 40);
    vgic_dist_inject(&d, 0, 40);     /* already latched */
    wr(1, 0xf00, 4, (1u << 16) | 3); /* SGI 3 from vCPU 1 */
    wr(0, 0xf00, 4, (2u << 24) | 3); /* ... and from vCPU 0 itself */
    ck_assert_uint_eq(d.nr_latched, 2);
    check_latch_bitmaps();
    vgic_dist_flush(&d, 0); /* 40 placed; SGI 3 placed for one source, latched for the other */
    ck_assert_uint_eq(lrs_used(0), 2);
    ck_assert_uint_eq(d.nr_latched, 1);
    check_latch_bitmaps();
    wr(0, 0x280, 4, 1u << 3); /* ICPENDR0 */
    ck_assert_uint_eq(d.nr_latched, 0);
    check_latch_bitmaps();
    vgic_dist_inject(&d, 0, 41);
    vgic_dist_inject(&d, 0, 27);
    ck_assert_uint_eq(d.nr_latched, 2);
    check_latch_bitmaps();
    uint32_t hw[4];
    ck_assert_uint_eq(vgic_dist_vcpu_release(&d, 0, hw, 4), 0);
    ck_assert_uint_eq(d.nr_latched, 1); /* the SPI stays the VM's */
    check_latch_bitmaps();
    vgic_dist_attach(&d, &cpu[0]); /* attached again: nothing private latched */
    ck_assert_uint_eq(d.nr_latched, 1);
    check_latch_bitmaps();
}
END_TEST

TALLY_SUITE(vgic)
Suite *vgic_suite(void)
{
    Suite *s = suite_create("vgic");
    TCase *l = tcase_create("lr");
    tcase_add_test(l, test_lr_encode_v3_hw_timer_and_sgi);
    tcase_add_test(l, test_lr_encode_v2_priority_source_and_hw);
    suite_add_tcase(s, l);
    TCase *r = tcase_create("registers");
    tcase_add_test(r, test_v3_gicd_id_registers_and_ctlr);
    tcase_add_test(r, test_v3_gicd_private_words_are_raz_wi);
    tcase_add_test(r, test_v3_gicd_priority_bytes_and_words);
    tcase_add_test(r, test_v3_irouter_targets_a_vcpu_by_aff0);
    tcase_add_test(r, test_v3_gicd_bad_sizes_are_refused);
    tcase_add_test(r, test_v3_rdist_typer_last_and_waker);
    tcase_add_test(r, test_v3_rdist_sgi_frame_is_per_vcpu);
    tcase_add_test(r, test_rdist_typer_halves_and_read_only_writes);
    tcase_add_test(r, test_v2_gicd_banked_private_word_itargets_and_pidr2);
    suite_add_tcase(s, r);
    TCase *m = tcase_create("model");
    tcase_add_test(m, test_inject_kicks_the_target_only_when_deliverable);
    tcase_add_test(m, test_flush_fills_lrs_by_priority_then_requests_underflow);
    tcase_add_test(m, test_spi_goes_only_to_its_target);
    tcase_add_test(m, test_reinject_while_active_makes_lr_pending_and_active);
    tcase_add_test(m, test_icpendr_of_own_lr_clears_its_pending_state);
    tcase_add_test(m, test_sgi1r_targets_list_irm_and_other_clusters);
    tcase_add_test(m, test_v3_second_sgi_after_silent_eoi_kicks_the_receiver);
    tcase_add_test(m, test_v2_second_sgi_after_silent_eoi_kicks_the_receiver);
    tcase_add_test(m, test_hw_timer_lr_links_physical_and_release_reports_it);
    tcase_add_test(m, test_hw_timer_retract_only_while_pending_not_active);
    tcase_add_test(m, test_hw_spi_enable_routes_to_target);
    tcase_add_test(m, test_v2_sgir_one_source_per_lr_with_eoi_maintenance);
    tcase_add_test(m, test_disabled_group_holds_interrupts_back);
    tcase_add_test(m, test_v2_ispendr_of_an_sgi_latches_with_the_writer_as_source);
    tcase_add_test(m, test_icactiver_of_own_lr_clears_active_but_not_another_vcpus);
    tcase_add_test(m, test_vcpu_pending_follows_lr_state_and_waiting_interrupts);
    tcase_add_test(m, test_latched_count_follows_every_latch_change);
    suite_add_tcase(s, m);
    return s;
}
