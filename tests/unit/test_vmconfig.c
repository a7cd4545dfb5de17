// SPDX-License-Identifier: MIT
// The VM binding (hyp/vm/vmconfig.c, docs/vm-binding.md) read from device
// trees written here with libfdt: VM 0 from guest-loader modules alone,
// several VMs with their modules, sizes, CPUs and shared regions, and every
// refusal with its exact message.
#include "../host/harness.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>

#include "vm/vm.h"

static uint8_t dt[16 << 10];
static struct vm_setup setup;
static char msg[200];

static void begin(void)
{
    ck_assert_int_eq(fdt_create(dt, sizeof(dt)), 0);
    ck_assert_int_eq(fdt_finish_reservemap(dt), 0);
    ck_assert_int_eq(fdt_begin_node(dt, ""), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "#address-cells", 2), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "#size-cells", 2), 0);
    ck_assert_int_eq(fdt_begin_node(dt, "chosen"), 0);
}

static void end(void)
{
    ck_assert_int_eq(fdt_end_node(dt), 0); /* chosen */
    ck_assert_int_eq(fdt_end_node(dt), 0); /* root */
    ck_assert_int_eq(fdt_finish(dt), 0);
}

/* A guest-loader module: kernel (with bootargs) or ramdisk. */
static void module(uint64_t base, uint64_t size, bool kernel, const char *bootargs)
{
    static const char kc[] = "multiboot,kernel\0multiboot,module";
    static const char rc[] = "multiboot,ramdisk\0multiboot,module";
    char name[32];
    snprintf(name, sizeof(name), "module@%lx", (unsigned long)base);
    fdt32_t reg[4] = {cpu_to_fdt32(base >> 32), cpu_to_fdt32((uint32_t)base),
                      cpu_to_fdt32(size >> 32), cpu_to_fdt32((uint32_t)size)};
    ck_assert_int_eq(fdt_begin_node(dt, name), 0);
    ck_assert_int_eq(kernel ? fdt_property(dt, "compatible", kc, sizeof(kc))
                            : fdt_property(dt, "compatible", rc, sizeof(rc)),
                     0);
    ck_assert_int_eq(fdt_property(dt, "reg", reg, sizeof(reg)), 0);
    if (bootargs)
        ck_assert_int_eq(fdt_property_string(dt, "bootargs", bootargs), 0);
    ck_assert_int_eq(fdt_end_node(dt), 0);
}

static void vms_begin(void)
{
    ck_assert_int_eq(fdt_begin_node(dt, "tally-vms"), 0);
    ck_assert_int_eq(fdt_property_string(dt, "compatible", "tally,vms"), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "#address-cells", 1), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "#size-cells", 0), 0);
}

static void u64_prop(const char *name, uint64_t v)
{
    fdt32_t c[2] = {cpu_to_fdt32(v >> 32), cpu_to_fdt32((uint32_t)v)};
    ck_assert_int_eq(fdt_property(dt, name, c, sizeof(c)), 0);
}

/* vm@id; vcpus and mem 0: the property is left out; mods: module bases. */
static void vm_node(unsigned id, unsigned vcpus, uint64_t mem, const uint64_t *mods, unsigned n)
{
    char name[16];
    snprintf(name, sizeof(name), "vm@%u", id);
    ck_assert_int_eq(fdt_begin_node(dt, name), 0);
    ck_assert_int_eq(fdt_property_string(dt, "compatible", "tally,vm"), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "reg", id), 0);
    if (vcpus)
        ck_assert_int_eq(fdt_property_u32(dt, "tally,vcpus", vcpus), 0);
    if (mem)
        u64_prop("tally,memory-size", mem);
    if (n) {
        fdt32_t c[8];
        for (unsigned i = 0; i < n; i++) {
            c[2 * i] = cpu_to_fdt32(mods[i] >> 32);
            c[2 * i + 1] = cpu_to_fdt32((uint32_t)mods[i]);
        }
        ck_assert_int_eq(fdt_property(dt, "tally,modules", c, (int)(n * 8)), 0);
    }
    ck_assert_int_eq(fdt_end_node(dt), 0);
}

static void shmem_node(unsigned k, uint64_t size, const uint32_t *members, unsigned n)
{
    char name[16];
    snprintf(name, sizeof(name), "shmem@%u", k);
    ck_assert_int_eq(fdt_begin_node(dt, name), 0);
    ck_assert_int_eq(fdt_property_string(dt, "compatible", "tally,shmem"), 0);
    ck_assert_int_eq(fdt_property_u32(dt, "reg", k), 0);
    u64_prop("tally,size", size);
    fdt32_t c[8];
    for (unsigned i = 0; i < n; i++)
        c[i] = cpu_to_fdt32(members[i]);
    ck_assert_int_eq(fdt_property(dt, "tally,members", c, (int)(n * 4)), 0);
    ck_assert_int_eq(fdt_end_node(dt), 0);
}

START_TEST(test_vmconfig_guest_loader_alone_is_vm0_with_every_cpu)
{
    begin();
    module(0x49000000, 0x2000000, true, "console=ttyAMA0");
    module(0x4b000000, 0xf2000, false, NULL);
    end();
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(setup.nr_vms, 1);
    ck_assert_uint_eq(setup.nr_shmem, 0);
    const struct vm_config *c = &setup.vm[0];
    ck_assert_uint_eq(c->id, 0);
    ck_assert_uint_eq(pa_val(c->mods.kernel), 0x49000000);
    ck_assert_uint_eq(c->mods.kernel_size, 0x2000000);
    ck_assert_uint_eq(pa_val(c->mods.initrd), 0x4b000000);
    ck_assert_uint_eq(c->mods.initrd_size, 0xf2000);
    ck_assert_str_eq(c->mods.bootargs, "console=ttyAMA0");
    ck_assert_uint_eq(c->ram_size, 0);
    ck_assert_int_eq(vm_setup_assign_cpus(&setup, 4, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(c->nr_vcpus, 4);
    ck_assert_uint_eq(c->first_pcpu, 0);
}
END_TEST

START_TEST(test_vmconfig_two_vms_sharing_a_region)
{
    begin();
    module(0x49000000, 0x2000000, true, "vm0 args");
    module(0x4b200000, 0x2000000, true, "vm1 args");
    module(0x4d200000, 0x100000, false, NULL);
    vms_begin();
    vm_node(0, 0, 256ull << 20, NULL, 0);
    vm_node(1, 1, 128ull << 20, (uint64_t[]){0x4b200000, 0x4d200000}, 2);
    shmem_node(0, 2ull << 20, (uint32_t[]){0, 1}, 2);
    shmem_node(1, 1ull << 20, (uint32_t[]){1}, 1);
    ck_assert_int_eq(fdt_end_node(dt), 0);
    end();
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(setup.nr_vms, 2);
    ck_assert_uint_eq(setup.nr_shmem, 2);
    ck_assert_uint_eq(setup.shmem[0].size, 2ull << 20);
    ck_assert_uint_eq(setup.shmem[0].members, 3);
    ck_assert_uint_eq(setup.shmem[1].members, 2);
    const struct vm_config *v0 = &setup.vm[0], *v1 = &setup.vm[1];
    ck_assert_uint_eq(v0->id, 0);
    ck_assert_uint_eq(pa_val(v0->mods.kernel), 0x49000000);
    ck_assert_uint_eq(v0->mods.initrd_size, 0);
    ck_assert_str_eq(v0->mods.bootargs, "vm0 args");
    ck_assert_uint_eq(v0->ram_size, 256ull << 20);
    ck_assert_uint_eq(v0->shmem, 1);
    ck_assert_uint_eq(v1->id, 1);
    ck_assert_uint_eq(pa_val(v1->mods.kernel), 0x4b200000);
    ck_assert_uint_eq(pa_val(v1->mods.initrd), 0x4d200000);
    ck_assert_str_eq(v1->mods.bootargs, "vm1 args");
    ck_assert_uint_eq(v1->ram_size, 128ull << 20);
    ck_assert_uint_eq(v1->shmem, 3);
    ck_assert_int_eq(vm_setup_assign_cpus(&setup, 4, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(v0->nr_vcpus, 3);
    ck_assert_uint_eq(v0->first_pcpu, 0);
    ck_assert_uint_eq(v1->nr_vcpus, 1);
    ck_assert_uint_eq(v1->first_pcpu, 3);
    /* VM 0 needs at least one CPU of its own. */
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_OK);
    ck_assert_int_eq(vm_setup_assign_cpus(&setup, 1, msg, sizeof(msg)), ERR_RANGE);
    ck_assert_str_eq(msg,
                     "the VMs ask for 1 vCPUs beside VM 0, and there are 1 CPUs (one vCPU each)");
}
END_TEST

START_TEST(test_vmconfig_without_vm0_the_first_vm_starts_at_cpu0)
{
    begin();
    module(0x4b200000, 0x2000000, true, NULL);
    vms_begin();
    vm_node(2, 2, 64ull << 20, (uint64_t[]){0x4b200000}, 1);
    ck_assert_int_eq(fdt_end_node(dt), 0);
    end();
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(setup.nr_vms, 1);
    ck_assert_uint_eq(setup.vm[0].id, 2);
    ck_assert_int_eq(vm_setup_assign_cpus(&setup, 2, msg, sizeof(msg)), ERR_OK);
    ck_assert_uint_eq(setup.vm[0].first_pcpu, 0);
    ck_assert_int_eq(vm_setup_assign_cpus(&setup, 1, msg, sizeof(msg)), ERR_RANGE);
}
END_TEST

static void vms_end(void)
{
    ck_assert_int_eq(fdt_end_node(dt), 0);
    end();
}

/* The tree just written is refused with ERR_INVAL and this message. */
static void refused(const char *want)
{
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_INVAL);
    ck_assert_str_eq(msg, want);
}

/* Each refusal: the binding as written, the message. */
START_TEST(test_vmconfig_refusals)
{
    begin();
    end();
    ck_assert_int_eq(vm_setup_from_fdt(dt, &setup, msg, sizeof(msg)), ERR_NOENT);

    begin();
    module(0x4b000000, 0x1000, false, NULL);
    end();
    refused("VM 0 not started: no kernel among the boot modules (none is compatible "
            "\"multiboot,kernel\")");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    vms_begin();
    vm_node(1, 1, 1 << 20, (uint64_t[]){0x4c000000}, 1);
    vms_end();
    refused("VM 1: no module at 0x4c000000");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    module(0x4b000000, 0x1000, true, NULL);
    vms_begin();
    vm_node(1, 1, 1 << 20, (uint64_t[]){0x4b000000}, 1);
    vm_node(2, 1, 1 << 20, (uint64_t[]){0x4b000000}, 1);
    vms_end();
    refused("VM 2: a second VM claims the module at 0x4b000000");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    module(0x4b000000, 0x1000, true, NULL);
    vms_begin();
    vm_node(1, 1, 0, (uint64_t[]){0x4b000000}, 1);
    vms_end();
    refused("VM 1: tally,memory-size must be a whole number of pages (and is "
            "required beyond VM 0)");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    vms_begin();
    vm_node(1, 1, 1 << 20, NULL, 0);
    vms_end();
    refused("VM 1 not started: it has no kernel module (tally,modules)");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    vms_begin();
    vm_node(8, 1, 1 << 20, NULL, 0);
    vms_end();
    refused("vm@8: reg must be a VM id below 8");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    vms_begin();
    shmem_node(0, 0x1800, (uint32_t[]){0}, 1);
    vms_end();
    refused("shared region 0: tally,size must be a whole number of pages");

    begin();
    module(0x49000000, 0x1000, true, NULL);
    vms_begin();
    shmem_node(0, 0x1000, (uint32_t[]){9}, 1);
    vms_end();
    refused("shared region 0: member 9 is not a VM id");
}
END_TEST

TALLY_SUITE(vmconfig)
Suite *vmconfig_suite(void)
{
    Suite *s = suite_create("vmconfig");
    TCase *t = tcase_create("vmconfig");
    tcase_add_test(t, test_vmconfig_guest_loader_alone_is_vm0_with_every_cpu);
    tcase_add_test(t, test_vmconfig_two_vms_sharing_a_region);
    tcase_add_test(t, test_vmconfig_without_vm0_the_first_vm_starts_at_cpu0);
    tcase_add_test(t, test_vmconfig_refusals);
    suite_add_tcase(s, t);
    return s;
}
