// SPDX-License-Identifier: MIT
// The guest's device tree, written with libfdt's sequential-write API. It
// describes a QEMU-virt-like machine, so software written for
// `qemu-system-aarch64 -M virt` runs unchanged:
//
//   /                 linux,dummy-virt, 2 address and 2 size cells
//   /memory@40000000  the VM's RAM
//   /cpus/cpu@N       one per vCPU, reg = MPIDR Aff0, enable-method "psci"
//   /psci             arm,psci-1.0 + arm,psci-0.2, method "hvc"
//   /intc@8000000     arm,gic-v3 (GICD + one GICR frame per vCPU) or
//                     arm,cortex-a15-gic (GICD + GICC), as the hardware has
//   /timer            arm,armv8-timer, PPIs 13, 14, 11, 10
//   /apb-pclk         fixed-clock, 24 MHz
//   /pl011@9000000    arm,pl011 + arm,primecell, the emulated UART (SPI 1)
//   /pl031@9010000    arm,pl031 + arm,primecell, the emulated RTC (SPI 2)
//   /shmem@IPA        compatible "tally,shmem": each static shared region
//                     the VM is a member of (outside /memory: Linux reaches
//                     it through /dev/mem)
//   /hypervisor       compatible "tally,hypervisor": the guest runs under
//                     Tally and may use its hypercalls (docs/hypercalls.md)
//   /chosen           bootargs, stdout-path, linux,initrd-start/-end
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>

#include "irq/gic.h"
#include "vm.h"

#define PHANDLE_GIC 1
#define PHANDLE_CLK 2

/* GIC interrupt specifier flags (dt-bindings/interrupt-controller). */
#define GIC_SPI        0
#define GIC_PPI        1
#define IRQ_LEVEL_HIGH 4

static int prop_cells(void *fdt, const char *name, const uint32_t *v, unsigned n)
{
    fdt32_t c[16];
    for (unsigned i = 0; i < n; i++)
        c[i] = cpu_to_fdt32(v[i]);
    return fdt_property(fdt, name, c, (int)(n * 4));
}

static int prop_reg2(void *fdt, const uint64_t *pairs, unsigned nr_pairs)
{
    uint32_t c[16];
    for (unsigned i = 0; i < nr_pairs * 2; i++) {
        c[2 * i] = (uint32_t)(pairs[i] >> 32);
        c[2 * i + 1] = (uint32_t)pairs[i];
    }
    return prop_cells(fdt, "reg", c, nr_pairs * 4);
}

/* Each step returns a libfdt error (negative) or 0; CHECK bails out. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int e_ = (x);                                                                              \
        if (e_ < 0)                                                                                \
            return e_;                                                                             \
    } while (0)

/* An Arm PrimeCell device at the root: reg, its SPI (level), and
 * nr_clocks references to the 24 MHz clock named by clock_names. */
static int primecell(void *fdt, const char *name, const char *compat, size_t compat_len,
                     uint64_t base, uint64_t size, uint32_t intid, const char *clock_names,
                     size_t clock_names_len, unsigned nr_clocks)
{
    uint32_t irq[3] = {GIC_SPI, intid - 32, IRQ_LEVEL_HIGH};
    uint32_t clocks[2] = {PHANDLE_CLK, PHANDLE_CLK};
    uint64_t reg[2] = {base, size};
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property(fdt, "compatible", compat, (int)compat_len));
    CHECK(prop_reg2(fdt, reg, 1));
    CHECK(prop_cells(fdt, "interrupts", irq, 3));
    CHECK(prop_cells(fdt, "clocks", clocks, nr_clocks));
    CHECK(fdt_property(fdt, "clock-names", clock_names, (int)clock_names_len));
    return fdt_end_node(fdt);
}

static int build(const struct vm *vm, const char *bootargs, void *fdt, size_t len)
{
    CHECK(fdt_create(fdt, (int)len));
    CHECK(fdt_finish_reservemap(fdt));
    CHECK(fdt_begin_node(fdt, ""));
    CHECK(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
    CHECK(fdt_property_string(fdt, "model", "Tally VM"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_GIC));

    /* /chosen */
    CHECK(fdt_begin_node(fdt, "chosen"));
    CHECK(fdt_property_string(fdt, "bootargs", bootargs ? bootargs : ""));
    CHECK(fdt_property_string(fdt, "stdout-path", "/pl011@9000000"));
    if (vm->initrd_size) {
        CHECK(fdt_property_u64(fdt, "linux,initrd-start", vm->initrd_ipa));
        CHECK(fdt_property_u64(fdt, "linux,initrd-end", vm->initrd_ipa + vm->initrd_size));
    }
    CHECK(fdt_end_node(fdt));

    /* /memory */
    CHECK(fdt_begin_node(fdt, "memory@40000000"));
    CHECK(fdt_property_string(fdt, "device_type", "memory"));
    uint64_t mem[2] = {VM_RAM_IPA, vm->ram_size};
    CHECK(prop_reg2(fdt, mem, 1));
    CHECK(fdt_end_node(fdt));

    /* /cpus */
    CHECK(fdt_begin_node(fdt, "cpus"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 1));
    CHECK(fdt_property_u32(fdt, "#size-cells", 0));
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        char name[16] = "cpu@";
        name[4] = (char)('0' + i); /* VM_MAX_VCPUS <= 10 */
        name[5] = 0;
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_string(fdt, "device_type", "cpu"));
        CHECK(fdt_property_string(fdt, "compatible", "arm,armv8"));
        CHECK(fdt_property_u32(fdt, "reg", (uint32_t)(vm->vcpus[i]->mpidr & 0xffffff)));
        CHECK(fdt_property_string(fdt, "enable-method", "psci"));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_end_node(fdt));

    /* /psci */
    static const char psci_compat[] = "arm,psci-1.0\0arm,psci-0.2";
    CHECK(fdt_begin_node(fdt, "psci"));
    CHECK(fdt_property(fdt, "compatible", psci_compat, sizeof(psci_compat)));
    CHECK(fdt_property_string(fdt, "method", "hvc"));
    CHECK(fdt_end_node(fdt));

    /* The GIC */
    unsigned gv = gic_version();
    CHECK(fdt_begin_node(fdt, "intc@8000000"));
    if (gv == 3) {
        CHECK(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
        uint64_t reg[4] = {VM_GICD_IPA, VM_GICD_SIZE, VM_GICR_IPA, VM_GICR_STRIDE * vm->nr_vcpus};
        CHECK(prop_reg2(fdt, reg, 2));
        CHECK(fdt_property_u32(fdt, "#redistributor-regions", 1));
    } else {
        CHECK(fdt_property_string(fdt, "compatible", "arm,cortex-a15-gic"));
        uint64_t reg[4] = {VM_GICD_IPA, VM_GICD_SIZE, VM_GICC_IPA, VM_GICC_SIZE};
        CHECK(prop_reg2(fdt, reg, 2));
    }
    CHECK(fdt_property_u32(fdt, "#interrupt-cells", 3));
    CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
    CHECK(fdt_property_u32(fdt, "#address-cells", 0));
    CHECK(fdt_property_u32(fdt, "phandle", PHANDLE_GIC));
    CHECK(fdt_end_node(fdt));

    /* The architected timer: secure phys, non-secure phys, virt, hyp. GICv2
     * PPI specifiers carry the mask of CPUs in bits [15:8]. */
    uint32_t ppi_flags = IRQ_LEVEL_HIGH;
    if (gv == 2)
        ppi_flags |= ((1u << vm->nr_vcpus) - 1) << 8;
    static const char timer_compat[] = "arm,armv8-timer\0arm,armv7-timer";
    uint32_t tirq[12] = {GIC_PPI, 13, ppi_flags, GIC_PPI, 14, ppi_flags,
                         GIC_PPI, 11, ppi_flags, GIC_PPI, 10, ppi_flags};
    CHECK(fdt_begin_node(fdt, "timer"));
    CHECK(fdt_property(fdt, "compatible", timer_compat, sizeof(timer_compat)));
    CHECK(prop_cells(fdt, "interrupts", tirq, 12));
    CHECK(fdt_property(fdt, "always-on", NULL, 0));
    CHECK(fdt_end_node(fdt));

    /* The UART's clock and the UART */
    CHECK(fdt_begin_node(fdt, "apb-pclk"));
    CHECK(fdt_property_string(fdt, "compatible", "fixed-clock"));
    CHECK(fdt_property_u32(fdt, "#clock-cells", 0));
    CHECK(fdt_property_u32(fdt, "clock-frequency", 24000000));
    CHECK(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
    CHECK(fdt_property_u32(fdt, "phandle", PHANDLE_CLK));
    CHECK(fdt_end_node(fdt));

    static const char uart_compat[] = "arm,pl011\0arm,primecell";
    static const char uart_clocks[] = "uartclk\0apb_pclk";
    CHECK(primecell(fdt, "pl011@9000000", uart_compat, sizeof(uart_compat), VM_UART_IPA,
                    VM_UART_SIZE, VM_UART_INTID, uart_clocks, sizeof(uart_clocks), 2));
    static const char rtc_compat[] = "arm,pl031\0arm,primecell";
    static const char rtc_clocks[] = "apb_pclk";
    CHECK(primecell(fdt, "pl031@9010000", rtc_compat, sizeof(rtc_compat), VM_RTC_IPA, VM_RTC_SIZE,
                    VM_RTC_INTID, rtc_clocks, sizeof(rtc_clocks), 1));

    for (unsigned k = 0; k < VM_MAX_SHMEM; k++) {
        if (!(vm->shmem_mapped & (1u << k)))
            continue;
        char name[32];
        snprintf(name, sizeof(name), "shmem@%lx", (unsigned long)vm->shmem[k].ipa);
        uint64_t sreg[2] = {vm->shmem[k].ipa, vm->shmem[k].size};
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_string(fdt, "compatible", "tally,shmem"));
        CHECK(prop_reg2(fdt, sreg, 1));
        CHECK(fdt_end_node(fdt));
    }

    /* Tally itself */
    CHECK(fdt_begin_node(fdt, "hypervisor"));
    CHECK(fdt_property_string(fdt, "compatible", "tally,hypervisor"));
    CHECK(fdt_property_u32(fdt, "tally,vm-id", vm->id));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_end_node(fdt));
    CHECK(fdt_finish(fdt));
    return 0;
}

int guest_fdt_build(const struct vm *vm, const char *bootargs, void *buf, size_t len)
{
    int e = build(vm, bootargs, buf, len);
    if (e == -FDT_ERR_NOSPACE)
        return ERR_NOMEM;
    return e < 0 ? ERR_INVAL : ERR_OK;
}
