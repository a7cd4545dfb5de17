// SPDX-License-Identifier: MIT
// GICv3 list registers and virtual CPU interface state through the ICH_*_EL2
// system registers (vgic_hw.h). ICH_LR<n>_EL2 has no indexed form: the
// switches below name each one.
#include <tally/sysreg.h>

#include "vgic_hw.h"

#define ICH_HCR_EN  (1u << 0)
#define ICH_HCR_UIE (1u << 1)

static uint64_t lr_read(unsigned n)
{
    switch (n) {
    case 0:
        return read_sysreg(S3_4_C12_C12_0);
    case 1:
        return read_sysreg(S3_4_C12_C12_1);
    case 2:
        return read_sysreg(S3_4_C12_C12_2);
    case 3:
        return read_sysreg(S3_4_C12_C12_3);
    case 4:
        return read_sysreg(S3_4_C12_C12_4);
    case 5:
        return read_sysreg(S3_4_C12_C12_5);
    case 6:
        return read_sysreg(S3_4_C12_C12_6);
    case 7:
        return read_sysreg(S3_4_C12_C12_7);
    case 8:
        return read_sysreg(S3_4_C12_C13_0);
    case 9:
        return read_sysreg(S3_4_C12_C13_1);
    case 10:
        return read_sysreg(S3_4_C12_C13_2);
    case 11:
        return read_sysreg(S3_4_C12_C13_3);
    case 12:
        return read_sysreg(S3_4_C12_C13_4);
    case 13:
        return read_sysreg(S3_4_C12_C13_5);
    case 14:
        return read_sysreg(S3_4_C12_C13_6);
    default:
        return read_sysreg(S3_4_C12_C13_7);
    }
}

static void lr_write(unsigned n, uint64_t v)
{
    switch (n) {
    case 0:
        write_sysreg(S3_4_C12_C12_0, v);
        break;
    case 1:
        write_sysreg(S3_4_C12_C12_1, v);
        break;
    case 2:
        write_sysreg(S3_4_C12_C12_2, v);
        break;
    case 3:
        write_sysreg(S3_4_C12_C12_3, v);
        break;
    case 4:
        write_sysreg(S3_4_C12_C12_4, v);
        break;
    case 5:
        write_sysreg(S3_4_C12_C12_5, v);
        break;
    case 6:
        write_sysreg(S3_4_C12_C12_6, v);
        break;
    case 7:
        write_sysreg(S3_4_C12_C12_7, v);
        break;
    case 8:
        write_sysreg(S3_4_C12_C13_0, v);
        break;
    case 9:
        write_sysreg(S3_4_C12_C13_1, v);
        break;
    case 10:
        write_sysreg(S3_4_C12_C13_2, v);
        break;
    case 11:
        write_sysreg(S3_4_C12_C13_3, v);
        break;
    case 12:
        write_sysreg(S3_4_C12_C13_4, v);
        break;
    case 13:
        write_sysreg(S3_4_C12_C13_5, v);
        break;
    case 14:
        write_sysreg(S3_4_C12_C13_6, v);
        break;
    default:
        write_sysreg(S3_4_C12_C13_7, v);
        break;
    }
}

/* ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2, n = 0..3. */
static uint32_t apr_read(unsigned group, unsigned n)
{
    switch (group * 4 + n) {
    case 0:
        return (uint32_t)read_sysreg(S3_4_C12_C8_0);
    case 1:
        return (uint32_t)read_sysreg(S3_4_C12_C8_1);
    case 2:
        return (uint32_t)read_sysreg(S3_4_C12_C8_2);
    case 3:
        return (uint32_t)read_sysreg(S3_4_C12_C8_3);
    case 4:
        return (uint32_t)read_sysreg(S3_4_C12_C9_0);
    case 5:
        return (uint32_t)read_sysreg(S3_4_C12_C9_1);
    case 6:
        return (uint32_t)read_sysreg(S3_4_C12_C9_2);
    default:
        return (uint32_t)read_sysreg(S3_4_C12_C9_3);
    }
}

static void apr_write(unsigned group, unsigned n, uint32_t v)
{
    switch (group * 4 + n) {
    case 0:
        write_sysreg(S3_4_C12_C8_0, v);
        break;
    case 1:
        write_sysreg(S3_4_C12_C8_1, v);
        break;
    case 2:
        write_sysreg(S3_4_C12_C8_2, v);
        break;
    case 3:
        write_sysreg(S3_4_C12_C8_3, v);
        break;
    case 4:
        write_sysreg(S3_4_C12_C9_0, v);
        break;
    case 5:
        write_sysreg(S3_4_C12_C9_1, v);
        break;
    case 6:
        write_sysreg(S3_4_C12_C9_2, v);
        break;
    default:
        write_sysreg(S3_4_C12_C9_3, v);
        break;
    }
}

/* Active-priority registers per group: 1, 2 or 4 for ICH_VTR_EL2.PREbits
 * 5, 6 or 7 (QEMU's 0x90b80003 has 5: one each). */
static unsigned nr_aprs(void)
{
    unsigned prebits = (unsigned)((read_sysreg(S3_4_C12_C11_1) >> 26) & 7) + 1;
    return prebits <= 5 ? 1 : prebits >= 7 ? 4 : 2;
}

void vgic_v3_load(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    for (unsigned n = 0; n < nr_lrs; n++)
        lr_write(n, (c->lr_used & (1u << n)) ? c->lr[n] : 0);
    if (!c->hw_live) {
        write_sysreg(S3_4_C12_C11_7, c->vmcr); /* ICH_VMCR_EL2 */
        for (unsigned n = 0, nr = nr_aprs(); n < nr; n++) {
            apr_write(0, n, c->ap0r[n]);
            apr_write(1, n, c->ap1r[n]);
        }
        c->hw_live = true;
    }
    write_sysreg(S3_4_C12_C11_0, ICH_HCR_EN | (c->underflow ? ICH_HCR_UIE : 0));
}

void vgic_v3_save(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    for (unsigned n = 0; n < nr_lrs; n++)
        if (c->lr_used & (1u << n))
            c->lr[n] = lr_read(n);
}

void vgic_v3_put(struct vgic_cpu_state *c, unsigned nr_lrs)
{
    vgic_v3_save(c, nr_lrs);
    c->vmcr = (uint32_t)read_sysreg(S3_4_C12_C11_7);
    for (unsigned n = 0, nr = nr_aprs(); n < nr; n++) {
        c->ap0r[n] = apr_read(0, n);
        c->ap1r[n] = apr_read(1, n);
    }
    c->hw_live = false;
}

void vgic_v3_quiesce(void)
{
    write_sysreg(S3_4_C12_C11_0, 0);
    isb();
}

void vgic_v3_reset(unsigned nr_lrs)
{
    write_sysreg(S3_4_C12_C11_0, 0);
    for (unsigned n = 0; n < nr_lrs; n++)
        lr_write(n, 0);
    write_sysreg(S3_4_C12_C11_7, 0);
    for (unsigned n = 0, nr = nr_aprs(); n < nr; n++) {
        apr_write(0, n, 0);
        apr_write(1, n, 0);
    }
    isb();
}
