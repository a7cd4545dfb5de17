/* SPDX-License-Identifier: MIT */
/*
 * Virtual machines (hyp/vm/vm.c, vmconfig.c, shmem.c). VM 0 is defined by
 * the boot modules QEMU's guest-loader (or a boot loader) writes into
 * /chosen (multiboot,kernel, multiboot,ramdisk, bootargs); further VMs by
 * Tally's binding under /chosen/tally-vms (docs/vm-binding.md). CPUs are
 * partitioned statically: each VM gets consecutive physical CPUs, one vCPU
 * each (VM 0 from CPU 0, by default every CPU no other VM claims). RAM is
 * tracked frames mapped in the VM's stage-2 at IPA 0x40000000 with owned
 * references: the size the binding asks for, or (VM 0 by default) the RAM
 * Tally does not need.
 *
 * Lifecycle, per VM and independent of the others: vm_create() by the
 * boot CPU -> the VM's pCPUs run its vCPUs -> the guest's PSCI SYSTEM_OFF or
 * SYSTEM_RESET stops every vCPU of that VM -> its first pCPU (the leader)
 * tears it down (vm_destroy(), every page whose last reference goes returns)
 * -> on a reset the leader builds it again from the same modules, which stay
 * reserved pages for Tally's whole life. The machine powers off when the
 * last VM is gone.
 *
 * The registry (vm_get_by_id/vm_put) and its lifetime rules: a VM is
 * published once built and unpublished before its teardown starts; a
 * reference from vm_get_by_id keeps the struct vm, its stage-2 and its vGIC
 * alive (the teardown waits for every reference to go), so hold one only
 * for the length of one operation, never across a guest entry or a wait for
 * another VM.
 */
#ifndef TALLY_HYP_VM_H
#define TALLY_HYP_VM_H

#include <tally/arch.h>
#include <tally/atomic.h>
#include <tally/pgtable.h>
#include <tally/share.h>
#include <tally/spinlock.h>

#include "cpufeature.h"
#include "vuart.h"
#include "mmio.h"
#include "vcpu.h"

#define VM_MAX_VMS        CONSOLE_MAX_VMS
#define VM_MAX_VCPUS      TALLY_MAX_CPUS
#define VM_RAM_IPA        0x40000000ull
#define VM_MAX_RAM_BLOCKS 64
/* 2 MiB windows of RAM a VM can have: 64 GiB at most. */
#define VM_MAX_RAM_WINDOWS 32768
/* Where other VMs' shared, lent and donated pages appear in a VM's IPA
 * space (docs/hypercalls.md): its top half, [2^(bits-1), 2^bits), whatever
 * IPA size the CPU gives (0x8000000000 with 40 bits); RAM stays below it. */
#define VM_BORROW_IPA(ipa_bits)  (1ull << ((ipa_bits)-1))
#define VM_BORROW_SIZE(ipa_bits) (1ull << ((ipa_bits)-1))

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
#define VM_RTC_IPA     0x09010000ull
#define VM_RTC_SIZE    0x1000ull
#define VM_RTC_INTID   34 /* SPI 2 */
/* Static shared regions (shmem.c): each at the same IPA in every member VM,
 * from here up (below RAM, where QEMU virt has PCIe windows Tally's guests
 * do not have). */
#define VM_SHMEM_IPA 0x10000000ull
#define VM_SHMEM_END 0x3f000000ull
#define VM_MAX_SHMEM 8

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
    uint64_t vtcr;                 /* VTCR_EL2 for this VM's stage-2 */
    struct stage2_geometry s2geom; /* IPA size etc. (cpufeature.c) */
    struct idreg_view idregs;      /* the ID registers the guest reads */
    /* RAM: IPA [VM_RAM_IPA, VM_RAM_IPA + ram_size), in blocks. */
    uint64_t ram_size;
    struct vm_ram_block ram[VM_MAX_RAM_BLOCKS];
    unsigned nr_ram;
    /* First touch (vm.c, docs/page-tracker.md): bit w is set once the 2 MiB
     * window [VM_RAM_IPA + w * 2 MiB, +2 MiB) of RAM is typed, zeroed and
     * mapped; a clear window's pages are reserved (taken from the
     * allocator, untyped) and never written. Under vm_mm_lock. */
    uint64_t touched[VM_MAX_RAM_WINDOWS / 64];
    uint64_t touched_pages, zeroed_pages; /* pages mapped on touch; of them, written zero */
    uint64_t untouched_count;             /* scratch of vm.c's untouched_pages() */
    /* CNTPCT at the start of vm_create; 0 once vCPU 0 has first entered
     * the guest and the span was printed (vm_note_first_entry). */
    uint64_t create_cnt;
    /* Where the boot pieces went (IPAs). */
    uint64_t kernel_ipa, kernel_size, initrd_ipa, initrd_size, dtb_ipa, dtb_size;
    struct mmio_region mmio[VM_MAX_MMIO];
    unsigned nr_mmio;
    struct vgic_dist *vgic; /* the VGIC's; opaque here */
    /* The sharing core's view (mm/share.c): ownership counts, borrow
     * window. s2 is NULL until the VM's RAM is mapped. */
    struct share_vm share;
    /* enum vm_stop: set once by the first vCPU that stops the VM
     * (compare-and-swap from VM_RUNNING), read by every pCPU's loop. */
    atomic_u32 stop;
    unsigned boots;                          /* how many times this VM has been started */
    uint32_t shmem_mapped;                   /* bit k: shared region k is in this stage-2 */
    struct vm_ram_block shmem[VM_MAX_SHMEM]; /* region k, valid with bit k */
    struct vuart uart;
    uint32_t rtc_match, rtc_imsc; /* the PL031's, stored only */
};

/* The boot modules that define a VM, read once from the host device tree.
 * They stay reserved pages (memmap.c), so a reset can reload them. */
struct vm_modules {
    paddr_t kernel;
    uint64_t kernel_size;
    paddr_t initrd;
    uint64_t initrd_size;
    const char *bootargs; /* in the host DTB, which stays reserved */
};

/* One VM as the device tree describes it (vmconfig.c, docs/vm-binding.md). */
struct vm_config {
    unsigned id;
    struct vm_modules mods;
    unsigned nr_vcpus;   /* 0: every CPU no other VM claims (VM 0 only) */
    unsigned first_pcpu; /* its vCPU i runs on pCPU first_pcpu + i */
    uint64_t ram_size;   /* 0: the RAM Tally does not need (VM 0 only) */
    uint32_t shmem;      /* bit k: member of shared region k */
};

/* A static shared region (shmem.c): at IPA ipa in every member VM. */
struct vm_shmem_config {
    uint64_t size;
    uint32_t members; /* bit n: VM n */
};

struct vm_setup {
    struct vm_config vm[VM_MAX_VMS];
    unsigned nr_vms; /* in vm[]: VM 0 first if it exists, then by id */
    struct vm_shmem_config shmem[VM_MAX_SHMEM];
    unsigned nr_shmem;
};

/* Read every VM and shared region from the host device tree. ERR_NOENT: no
 * module and no VM node (Tally runs without a guest); ERR_INVAL with a
 * message for a binding that cannot be honoured (a VM without a kernel, a
 * module address no module has, a VM id twice, ...). */
int vm_setup_from_fdt(const void *fdt, struct vm_setup *s, char *msg, size_t len);
/* Give every VM its pCPUs (VM 0 first, from CPU 0) out of nr_cpus.
 * ERR_RANGE with a message if they do not add up. */
int vm_setup_assign_cpus(struct vm_setup *s, unsigned nr_cpus, char *msg, size_t len);

/* Build a VM from its configuration: RAM, stage-2, shared regions,
 * kernel/initrd/DTB placed, vCPUs reset (vCPU 0 at the kernel entry), the
 * vGIC, UART and RTC. On failure (bad Image header, too big for guest RAM,
 * no memory) writes a message, frees everything and returns the error. */
int vm_create(struct vm *vm, const struct vm_config *c, char *msg, size_t len);

/* Tear down: stage-2 destroyed (every frame whose last reference goes back to
 * the allocator), vCPUs and the VGIC's state freed. No vCPU may be running. */
void vm_destroy(struct vm *vm);

/* Ask every vCPU to leave the guest (why: enum vm_stop). The first request
 * wins; returns true for it. Kicks the other pCPUs. */
bool vm_request_stop(struct vm *vm, enum vm_stop why);

/* Copy into guest RAM at ipa. ERR_RANGE if not entirely inside RAM. */
int vm_copy_to_guest(struct vm *vm, uint64_t ipa, const void *src, uint64_t len);

/* main.c: if the device tree describes VMs, build them and run each on its
 * pCPUs until it powers off (a reset rebuilds and reruns only that VM);
 * each teardown prints the pages returned, the free count and the
 * accounting line. Returns when the last VM is gone (at once without any
 * VM; after a message with a bad binding). */
void vm_boot_from_fdt(const void *fdt);

/* The live VM with this id, with a reference (see the lifetime rules
 * above), or NULL if there is none (never built, being torn down or gone). */
struct vm *vm_get_by_id(unsigned id);
void vm_put(struct vm *vm);

/* Serialises every change to a VM's stage-2 or to the set of VMs (create,
 * destroy) with the page accounting, which walks them all: hold it to change
 * a live VM's stage-2 too, or the accounting may see half a change. */
void vm_mm_lock(void);
void vm_mm_unlock(void);

/* First touch: map the VM's RAM around [ipa, ipa + len) (whole 2 MiB
 * windows, zeroed) if it is not yet; the rest of the range outside RAM is
 * ignored. Under vm_mm_lock. ERR_NOMEM if a stage-2 table could not be had. */
int vm_touch_locked(struct vm *vm, uint64_t ipa, uint64_t len);
/* A stage-2 translation fault at ipa: true if it was untouched RAM, now
 * mapped (or mapped meanwhile by another vCPU), so the access is retried. */
bool vm_fault_in(struct vm *vm, uint64_t ipa);
/* Before vCPU 0's first entry into the guest: print the counter ticks since
 * the start of vm_create (instructions under QEMU -icount shift=0) and the
 * pages zeroed meanwhile (make bench-vm-create). */
void vm_note_first_entry(struct vm *vm);

/* Registered with accounting_set_owners, run under vm_mm_lock: every live VM's stage-2 and the
 * shared regions, reported as owners (accounting.h). */
struct acct_reach;
void vm_account_owners(struct acct_reach *r);

/* shmem.c: the shared regions, built once at boot (ERR_NOMEM with a
 * message), mapped into a member's stage-2 at its creation, released when
 * the machine powers off (the last reference to each page goes with the last
 * mapping). */
int shmem_create(const struct vm_setup *s, char *msg, size_t len);
int shmem_map(struct vm *vm, uint32_t regions);
void shmem_release(void);
unsigned shmem_count(void);
/* Region k's IPA and size (k < shmem_count()). */
void shmem_region(unsigned k, uint64_t *ipa, uint64_t *size);
/* True if p is a page of a shared region (the accounting counts it there). */
bool shmem_contains(paddr_t p);
void shmem_account(struct acct_reach *r);

/* hyp/vm/guest_fdt.c: write the guest's device tree into buf. ERR_NOMEM if it
 * does not fit, ERR_INVAL on a libfdt error. */
int guest_fdt_build(const struct vm *vm, const char *bootargs, void *buf, size_t len);

#endif
