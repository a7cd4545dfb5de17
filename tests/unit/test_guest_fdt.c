// SPDX-License-Identifier: MIT
// The guest's device tree (hyp/vm/guest_fdt.c), built on the host for a VM
// described by hand and read back with libfdt: every node and property a
// guest relies on (docs/guests.md, "Device tree"), for GICv3 and GICv2, and
// the errors for a buffer that is too small.
#include "../host/harness.h"

#include <libfdt.h>
#include <string.h>
#include <tally/errno.h>

#include "irq/gic.h"
#include "vm/vm.h"

/* The physical GIC's version, as hyp/irq/gic.c would report it. */
static unsigned fake_gic_version = 3;
unsigned gic_version(void)
{
    return fake_gic_version;
}

static struct vm vm;
static struct vcpu vcpus[2];
static uint8_t buf[64 << 10];

static void make_vm(unsigned nr_vcpus, bool initrd)
{
    memset(&vm, 0, sizeof(vm));
    memset(vcpus, 0, sizeof(vcpus));
    vm.nr_vcpus = nr_vcpus;
    vm.ram_size = 256ull << 20;
    vm.initrd_ipa = initrd ? 0x42400000 : 0;
    vm.initrd_size = initrd ? 989757 : 0;
    for (unsigned i = 0; i < nr_vcpus; i++) {
        vcpus[i].id = i;
        vcpus[i].mpidr = (1ull << 31) | i;
        vm.vcpus[i] = &vcpus[i];
    }
}

static const fdt32_t *prop(const char *path, const char *name, int *len)
{
    int node = fdt_path_offset(buf, path);
    ck_assert_msg(node >= 0, "no node %s", path);
    const fdt32_t *p = fdt_getprop(buf, node, name, len);
    ck_assert_msg(p != NULL, "no property %s in %s", name, path);
    return p;
}

static uint64_t cells2(const fdt32_t *p)
{
    return ((uint64_t)fdt32_to_cpu(p[0]) << 32) | fdt32_to_cpu(p[1]);
}

static void assert_cells(const char *path, const char *name, const uint32_t *want, int n)
{
    int len;
    const fdt32_t *p = prop(path, name, &len);
    ck_assert_int_eq(len, n * 4);
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(fdt32_to_cpu(p[i]), want[i]);
}

static void assert_strings(const char *path, const char *name, const char *want, int want_len)
{
    int len;
    const char *p = (const char *)prop(path, name, &len);
    ck_assert_int_eq(len, want_len);
    ck_assert(memcmp(p, want, (size_t)want_len) == 0);
}

START_TEST(test_guest_fdt_gicv3_two_vcpus)
{
    fake_gic_version = 3;
    make_vm(2, true);
    ck_assert_int_eq(guest_fdt_build(&vm, "console=ttyAMA0 tally.test=1", buf, sizeof(buf)),
                     ERR_OK);
    ck_assert_int_eq(fdt_check_full(buf, sizeof(buf)), 0);

    assert_strings("/", "compatible", "linux,dummy-virt", 17);
    assert_cells("/", "#address-cells", (uint32_t[]){2}, 1);
    assert_cells("/", "#size-cells", (uint32_t[]){2}, 1);
    assert_cells("/", "interrupt-parent", (uint32_t[]){1}, 1);
    assert_strings("/memory@40000000", "device_type", "memory", 7);
    assert_cells("/memory@40000000", "reg", (uint32_t[]){0, 0x40000000, 0, 0x10000000}, 4);

    int cpus = fdt_path_offset(buf, "/cpus"), node, n = 0;
    ck_assert_int_ge(cpus, 0);
    fdt_for_each_subnode(node, buf, cpus)
    {
        const fdt32_t *reg = fdt_getprop(buf, node, "reg", NULL);
        ck_assert_uint_eq(fdt32_to_cpu(*reg), (uint32_t)n);
        ck_assert_str_eq(fdt_getprop(buf, node, "enable-method", NULL), "psci");
        ck_assert_str_eq(fdt_getprop(buf, node, "device_type", NULL), "cpu");
        n++;
    }
    ck_assert_int_eq(n, 2);
    ck_assert_int_ge(fdt_path_offset(buf, "/cpus/cpu@1"), 0);

    assert_strings("/psci", "compatible", "arm,psci-1.0\0arm,psci-0.2", 26);
    assert_strings("/psci", "method", "hvc", 4);

    assert_strings("/intc@8000000", "compatible", "arm,gic-v3", 11);
    assert_cells("/intc@8000000", "reg",
                 (uint32_t[]){0, 0x08000000, 0, 0x10000, 0, 0x080a0000, 0, 0x40000}, 8);
    assert_cells("/intc@8000000", "#interrupt-cells", (uint32_t[]){3}, 1);
    assert_cells("/intc@8000000", "phandle", (uint32_t[]){1}, 1);

    assert_cells("/timer", "interrupts", (uint32_t[]){1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4}, 12);
    assert_strings("/pl011@9000000", "compatible", "arm,pl011\0arm,primecell", 24);
    assert_cells("/pl011@9000000", "reg", (uint32_t[]){0, 0x09000000, 0, 0x1000}, 4);
    assert_cells("/pl011@9000000", "interrupts", (uint32_t[]){0, 1, 4}, 3);
    assert_cells("/pl011@9000000", "clocks", (uint32_t[]){2, 2}, 2);
    assert_cells("/apb-pclk", "clock-frequency", (uint32_t[]){24000000}, 1);
    assert_cells("/apb-pclk", "phandle", (uint32_t[]){2}, 1);
    assert_strings("/hypervisor", "compatible", "tally,hypervisor", 17);

    assert_strings("/chosen", "bootargs", "console=ttyAMA0 tally.test=1", 29);
    assert_strings("/chosen", "stdout-path", "/pl011@9000000", 15);
    int len;
    ck_assert_uint_eq(cells2(prop("/chosen", "linux,initrd-start", &len)), 0x42400000);
    ck_assert_int_eq(len, 8);
    ck_assert_uint_eq(cells2(prop("/chosen", "linux,initrd-end", &len)), 0x42400000 + 989757);
}
END_TEST

START_TEST(test_guest_fdt_gicv2_one_vcpu_no_initrd)
{
    fake_gic_version = 2;
    make_vm(1, false);
    ck_assert_int_eq(guest_fdt_build(&vm, NULL, buf, sizeof(buf)), ERR_OK);
    ck_assert_int_eq(fdt_check_full(buf, sizeof(buf)), 0);
    assert_strings("/intc@8000000", "compatible", "arm,cortex-a15-gic", 19);
    assert_cells("/intc@8000000", "reg",
                 (uint32_t[]){0, 0x08000000, 0, 0x10000, 0, 0x08010000, 0, 0x2000}, 8);
    /* GICv2 PPI specifiers carry the CPU mask: one vCPU, bit 8. */
    assert_cells("/timer", "interrupts",
                 (uint32_t[]){1, 13, 0x104, 1, 14, 0x104, 1, 11, 0x104, 1, 10, 0x104}, 12);
    ck_assert_int_lt(fdt_path_offset(buf, "/cpus/cpu@1"), 0);
    int chosen = fdt_path_offset(buf, "/chosen");
    ck_assert_ptr_null(fdt_getprop(buf, chosen, "linux,initrd-start", NULL));
    assert_strings("/chosen", "bootargs", "", 1);
}
END_TEST

START_TEST(test_guest_fdt_rtc_and_shared_regions)
{
    fake_gic_version = 3;
    make_vm(2, false);
    vm.shmem_mapped = 0x5; /* regions 0 and 2 */
    vm.shmem[0] = (struct vm_ram_block){.ipa = 0x10000000, .size = 0x200000};
    vm.shmem[2] = (struct vm_ram_block){.ipa = 0x10400000, .size = 0x1000};
    ck_assert_int_eq(guest_fdt_build(&vm, "x", buf, sizeof(buf)), ERR_OK);
    assert_strings("/pl031@9010000", "compatible", "arm,pl031\0arm,primecell", 24);
    assert_cells("/pl031@9010000", "reg", (uint32_t[]){0, 0x09010000, 0, 0x1000}, 4);
    assert_cells("/pl031@9010000", "interrupts", (uint32_t[]){0, 2, 4}, 3);
    assert_cells("/pl031@9010000", "clocks", (uint32_t[]){2}, 1);
    assert_strings("/pl031@9010000", "clock-names", "apb_pclk", 9);
    assert_strings("/shmem@10000000", "compatible", "tally,shmem", 12);
    assert_cells("/shmem@10000000", "reg", (uint32_t[]){0, 0x10000000, 0, 0x200000}, 4);
    assert_cells("/shmem@10400000", "reg", (uint32_t[]){0, 0x10400000, 0, 0x1000}, 4);
    ck_assert_int_lt(fdt_path_offset(buf, "/shmem@10200000"), 0);
}
END_TEST

START_TEST(test_guest_fdt_too_small)
{
    fake_gic_version = 3;
    make_vm(2, true);
    ck_assert_int_eq(guest_fdt_build(&vm, "x", buf, 256), ERR_NOMEM);
    ck_assert_int_eq(guest_fdt_build(&vm, "x", buf, 8), ERR_NOMEM);
}
END_TEST

TALLY_SUITE(guest_fdt)
Suite *guest_fdt_suite(void)
{
    Suite *s = suite_create("guest_fdt");
    TCase *t = tcase_create("guest_fdt");
    tcase_add_test(t, test_guest_fdt_gicv3_two_vcpus);
    tcase_add_test(t, test_guest_fdt_gicv2_one_vcpu_no_initrd);
    tcase_add_test(t, test_guest_fdt_rtc_and_shared_regions);
    tcase_add_test(t, test_guest_fdt_too_small);
    suite_add_tcase(s, t);
    return s;
}
