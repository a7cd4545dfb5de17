/* SPDX-License-Identifier: MIT */
/*
 * Virtual machines (hyp/vm/vm.c). VM 0 is defined by the boot modules QEMU's
 * guest-loader (or a boot loader) writes into /chosen (multiboot,kernel,
 * multiboot,ramdisk, bootargs): it gets every CPU (one vCPU per physical
 * CPU, statically) and the RAM Tally does not need, as tracked frames
 * mapped in its stage-2 at IPA 0x40000000 with owned references.
 *
 * Lifecycle: vm_create_from_fdt() -> vm_run() on every pCPU -> the guest's
 * PSCI SYSTEM_OFF or SYSTEM_RESET stops every vCPU -> vm_destroy() returns
 * every page -> (reset) the VM is built again from the same modules, which
 * stay reserved pages for Tally's whole life.
 */
#ifndef TALLY_HYP_VM_H
#define TALLY_HYP_VM_H

#include <tally/arch.h>
#include <tally/atomic.h>
#include <tally/pgtable.h>
#include <tally/spinlock.h>

#include "mmio.h"
#include "vcpu.h"

#define VM_MAX_VCPUS      TALLY_MAX_CPUS
#define VM_RAM_IPA        0x40000000ull
#define VM_IPA_BITS       40
#define VM_MAX_RAM_BLOCKS 64

/* The guest's view of the machine: QEMU virt's addresses. */
#define VM_GICD_IPA    0x08000000ull
#define VM_GICD_SIZE   0x10000ull
#define VM_GICC_IPA    0x08010000ull /* GICv2 */
#define VM_GICC_SIZE   0x2000ull
#define VM_GICR_IPA    0x080a0000ull /* GICv3: 128 KiB per vCPU */
#define VM_GICR_STRIDE 0x20000ull
#define VM_UART_IPA    0x09000000ull
#define VM_UART_SIZE   0x1000ull
#define VM_UART_INTID  33 /* SPI 1, as on QEMU virt, whatever the host's is */

/* Why every vCPU left the guest. */
enum vm_stop {
    VM_RUNNING = 0,
    VM_STOP_OFF,     /* PSCI SYSTEM_OFF */
    VM_STOP_RESET,   /* PSCI SYSTEM_RESET */
    VM_STOP_FATAL,   /* a vCPU state Tally cannot continue from */
    VM_STOP_ALL_OFF, /* PSCI CPU_OFF of the last vCPU that was on */
};

/* One physically contiguous piece of guest RAM. */
struct vm_ram_block {
    uint64_t ipa;
    paddr_t pa;
    uint64_t size;
};

struct vgic_dist;

struct vm {
    unsigned id;
    uint16_t vmid;
    unsigned nr_vcpus;
    struct vcpu *vcpus[VM_MAX_VCPUS];
    struct aspace s2;
    uint64_t vtcr; /* VTCR_EL2 for this VM's stage-2 */
    /* RAM: IPA [VM_RAM_IPA, VM_RAM_IPA + ram_size), in blocks. */
    uint64_t ram_size;
    struct vm_ram_block ram[VM_MAX_RAM_BLOCKS];
    unsigned nr_ram;
    /* Where the boot pieces went (IPAs). */
    uint64_t kernel_ipa, kernel_size, initrd_ipa, initrd_size, dtb_ipa, dtb_size;
    struct mmio_region mmio[VM_MAX_MMIO];
    unsigned nr_mmio;
    struct vgic_dist *vgic; /* the VGIC's; opaque here */
    /* enum vm_stop: set once by the first vCPU that stops the VM
     * (compare-and-swap from VM_RUNNING), read by every pCPU's loop. */
    atomic_u32 stop;
    atomic_u32 nr_left; /* pCPUs that have left the guest for good */
    unsigned boots;     /* how many times this VM has been started */
};

/* The boot modules that define VM 0, read once from the host device tree.
 * They stay reserved pages (memmap.c), so a reset can reload them. */
struct vm_modules {
    paddr_t kernel;
    uint64_t kernel_size;
    paddr_t initrd;
    uint64_t initrd_size;
    const char *bootargs; /* in the host DTB, which stays reserved */
};

/* Read the guest-loader modules. ERR_NOENT: no module at all (Tally runs
 * without a guest); ERR_INVAL with a message: modules without a kernel. */
int vm_modules_from_fdt(const void *fdt, struct vm_modules *m, char *msg, size_t len);

/* Build VM 0 from the modules: RAM, stage-2, kernel/initrd/DTB placed, vCPUs
 * reset (vCPU 0 at the kernel entry). On failure (bad Image header, too big
 * for guest RAM, no memory) writes a message, frees everything and returns
 * the error. */
int vm_create(struct vm *vm, const struct vm_modules *m, unsigned nr_vcpus, char *msg, size_t len);

/* Tear down: stage-2 destroyed (every frame whose last reference goes back to
 * the allocator), vCPUs and the VGIC's state freed. No vCPU may be running. */
void vm_destroy(struct vm *vm);

/* Ask every vCPU to leave the guest (why: enum vm_stop). The first request
 * wins; returns true for it. Kicks the other pCPUs. */
bool vm_request_stop(struct vm *vm, enum vm_stop why);

/* Copy into guest RAM at ipa. ERR_RANGE if not entirely inside RAM. */
int vm_copy_to_guest(struct vm *vm, uint64_t ipa, const void *src, uint64_t len);

/* main.c: if the device tree has boot modules, build VM 0 and run it on
 * every online CPU until it powers off (a reset rebuilds and reruns it);
 * each teardown prints the free count and the accounting line. Returns at
 * once without modules; with bad ones after a message. */
void vm_boot_from_fdt(const void *fdt);

/* The VM the guest runs (VM 0), or NULL while there is none. */
struct vm *vm_current(void);

/* hyp/vm/guest_fdt.c: write the guest's device tree into buf. ERR_NOMEM if it
 * does not fit, ERR_INVAL on a libfdt error. */
int guest_fdt_build(const struct vm *vm, const char *bootargs, void *buf, size_t len);

#endif
