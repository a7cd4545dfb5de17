// SPDX-License-Identifier: MIT
// VM 0: built from the boot modules, run on every pCPU, torn down and
// accounted for, rebuilt on a guest reset.
//
// Guest RAM is a set of buddy blocks, taken largest first (up to 1 GiB) from
// the free pages minus what Tally keeps for itself (VM_HYP_RESERVE: stage-2
// tables, the vGIC). Every page of a block becomes a tracked frame owned by
// the VM; the block is mapped read-write-execute at the next IPA from
// 0x40000000 (pt_map_frames: the stage-2 entry takes one reference per 4 KiB
// frame, and 2 MiB / 1 GiB blocks are used wherever the block is aligned,
// which taking the largest blocks first keeps true), and the creator's own
// reference is dropped. From then on the stage-2 tree holds the only
// reference to every frame, so aspace_destroy() at teardown returns every
// one of them (zeroed by the frame destructor) to the allocator.
//
// Placement (Linux arm64 boot protocol, booting.rst; QEMU's choices):
//   kernel  IPA 0x40200000 (2 MiB aligned) + text_offset, image_size bytes
//   initrd  the next 2 MiB boundary after the kernel's image_size
//   DTB     the next 2 MiB boundary after the initrd (at most 64 KiB)
// vCPU 0 starts at the kernel with x0 = the DTB's IPA, x1..x3 = 0, MMU off.
//
// Not mapped in stage-2, ever: Tally's image, its page tables, metadata,
// stacks, the boot modules and everything else that is not the VM's RAM,
// the passed-through PL011 page and the vGIC's frames. A guest access there
// is a stage-2 fault that traps.c turns into an abort for the guest.
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "core/accounting.h"
#include "core/bootargs.h"
#include "irq/gic.h"
#include "core/hyp.h"
#include "core/percpu.h"
#include "core/smp.h"
#include "irq/vgic.h"
#include "vm.h"

/* Pages Tally keeps free for itself when VM 0 takes "the rest": one
 * stage-2 table per 2 MiB of guest RAM in the worst case (1/512), plus a
 * fixed margin for the vGIC and upper-level tables. */
#define VM_HYP_RESERVE_FIXED (4ull << 20)
#define KERNEL_BASE_IPA      (VM_RAM_IPA + (2ull << 20))
#define GUEST_DTB_MAX        (64ull << 10)
#define SZ_2M                (2ull << 20)

/* arm64 Image header (Documentation/arch/arm64/booting.rst). */
struct image_header {
    uint32_t code0, code1;
    uint64_t text_offset, image_size, flags, res2, res3, res4;
    uint32_t magic, res5;
};
#define IMAGE_MAGIC 0x644d5241u /* "ARM\x64" */

static struct vm vm0;
static struct vcpu vcpu_pool[VM_MAX_VCPUS];
/* Written by the boot CPU before the VM runs and cleared after it stops;
 * the pCPUs read it between those points only (vm_epoch and left_epoch
 * order both, see run_vm). */
static struct vm *current_vm;
static uint8_t dtb_buf[GUEST_DTB_MAX] __attribute__((aligned(8)));

struct vm *vm_current(void)
{
    return current_vm;
}

/* reg of a /chosen child: /chosen's cells if it has them, else the root's
 * (QEMU writes 2 + 2 cells and no #address-cells in /chosen). */
static bool module_reg(const void *fdt, int chosen, int node, uint64_t *base, uint64_t *size)
{
    int len;
    const fdt32_t *ac_p = fdt_getprop(fdt, chosen, "#address-cells", &len);
    int ac = ac_p && len == 4 ? (int)fdt32_to_cpu(*ac_p) : fdt_address_cells(fdt, 0);
    const fdt32_t *sc_p = fdt_getprop(fdt, chosen, "#size-cells", &len);
    int sc = sc_p && len == 4 ? (int)fdt32_to_cpu(*sc_p) : fdt_size_cells(fdt, 0);
    const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);
    if (!reg || ac < 1 || ac > 2 || sc < 1 || sc > 2 || len < (ac + sc) * 4)
        return false;
    uint64_t b = 0, s = 0;
    for (int i = 0; i < ac; i++)
        b = (b << 32) | fdt32_to_cpu(reg[i]);
    for (int i = 0; i < sc; i++)
        s = (s << 32) | fdt32_to_cpu(reg[ac + i]);
    *base = b;
    *size = s;
    return true;
}

int vm_modules_from_fdt(const void *fdt, struct vm_modules *m, char *msg, size_t len)
{
    memset(m, 0, sizeof(*m));
    msg[0] = 0;
    int chosen = fdt_path_offset(fdt, "/chosen"), node, found = 0;
    if (chosen < 0)
        return ERR_NOENT;
    fdt_for_each_subnode(node, fdt, chosen)
    {
        if (fdt_node_check_compatible(fdt, node, "multiboot,module") != 0)
            continue;
        uint64_t base, size;
        if (!module_reg(fdt, chosen, node, &base, &size))
            continue;
        found++;
        if (fdt_node_check_compatible(fdt, node, "multiboot,kernel") == 0 && !m->kernel_size) {
            m->kernel = pa(base);
            m->kernel_size = size;
            m->bootargs = fdt_getprop(fdt, node, "bootargs", NULL);
        } else if (fdt_node_check_compatible(fdt, node, "multiboot,ramdisk") == 0 &&
                   !m->initrd_size) {
            m->initrd = pa(base);
            m->initrd_size = size;
        }
    }
    if (!found)
        return ERR_NOENT;
    if (!m->kernel_size) {
        snprintf(msg, len,
                 "no kernel among the boot modules (none is compatible "
                 "\"multiboot,kernel\")");
        return ERR_INVAL;
    }
    return ERR_OK;
}

/* Check the Image header; the kernel's text_offset and image_size. */
static int parse_image(const struct vm_modules *m, uint64_t *text_offset, uint64_t *image_size,
                       char *msg, size_t len)
{
    const struct image_header *h = arch_phys_to_virt(m->kernel);
    if (m->kernel_size < sizeof(*h)) {
        snprintf(msg, len,
                 "bad kernel Image: %lu bytes, shorter than the 64-byte arm64 Image header",
                 m->kernel_size);
        return ERR_INVAL;
    }
    if (h->magic != IMAGE_MAGIC) {
        snprintf(msg, len,
                 "bad kernel Image header: magic 0x%08x at offset 56, not 0x%08x "
                 "(\"ARM\\x64\")",
                 h->magic, IMAGE_MAGIC);
        return ERR_INVAL;
    }
    if (h->flags & 1) {
        snprintf(msg, len, "bad kernel Image header: big-endian kernel (flags 0x%lx)", h->flags);
        return ERR_INVAL;
    }
    *text_offset = h->image_size ? h->text_offset : 0x80000; /* pre-3.17 kernels */
    *image_size = h->image_size > m->kernel_size ? h->image_size : m->kernel_size;
    if (*text_offset >= (1ull << 30) || *image_size >= (1ull << 40)) {
        snprintf(msg, len, "bad kernel Image header: text_offset 0x%lx, image_size 0x%lx",
                 *text_offset, h->image_size);
        return ERR_INVAL;
    }
    return ERR_OK;
}

int vm_copy_to_guest(struct vm *vm, uint64_t ipa, const void *src, uint64_t len)
{
    if (ipa < VM_RAM_IPA || len > vm->ram_size || ipa - VM_RAM_IPA > vm->ram_size - len)
        return ERR_RANGE;
    const uint8_t *s = src;
    for (unsigned i = 0; i < vm->nr_ram && len; i++) {
        const struct vm_ram_block *b = &vm->ram[i];
        if (ipa >= b->ipa + b->size || ipa < b->ipa)
            continue;
        uint64_t off = ipa - b->ipa, n = b->size - off < len ? b->size - off : len;
        void *dst = (uint8_t *)arch_phys_to_virt(b->pa) + off;
        memcpy(dst, s, n);
        /* The guest starts with its MMU off: its reads bypass the caches. */
        cache_clean_range(dst, n);
        s += n;
        ipa += n;
        len -= n;
    }
    return ERR_OK;
}

/* Take the VM's RAM: blocks of up to 1 GiB, largest first, each page a
 * frame owned by the VM and mapped with the entry's reference only. */
static int alloc_ram(struct vm *vm, uint64_t want)
{
    uint64_t ipa = VM_RAM_IPA;
    struct frame_meta fm = {.owner_vm = (uint16_t)vm->id};
    unsigned order = PAGE_MAX_ORDER;
    while (ipa - VM_RAM_IPA < want) {
        uint64_t left = want - (ipa - VM_RAM_IPA);
        while (order && (PAGE_SIZE << order) > left)
            order--;
        paddr_t p;
        if (page_alloc(order, &p) != ERR_OK) {
            if (!order)
                break;
            order--;
            continue;
        }
        uint64_t size = PAGE_SIZE << order, n = size / PAGE_SIZE;
        if (vm->nr_ram == VM_MAX_RAM_BLOCKS) {
            page_free(p, order);
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            frame_from_unused(pa_add(p, i * PAGE_SIZE), fm);
        /* The frames were zeroed through the caches. Without FEAT_S2FWB a
         * guest may map them non-cacheable and read what DRAM held
         * underneath, so clean them to the point of coherency; with it,
         * stage-2 forces Write-Back and the guest only ever sees the caches. */
        if (!cpu_has_s2fwb())
            cache_clean_range(arch_phys_to_virt(p), size);
        int err = pt_map_frames(&vm->s2, ipa, p, size, PT_R | PT_W | PT_X);
        /* The entry holds its own references now (or, on failure, nothing
         * does and the drop frees the frames). */
        for (uint64_t i = 0; i < n; i++)
            frame_drop((struct frame){meta_slot(pa_add(p, i * PAGE_SIZE))});
        if (err != ERR_OK)
            return err;
        vm->ram[vm->nr_ram++] = (struct vm_ram_block){.ipa = ipa, .pa = p, .size = size};
        ipa += size;
    }
    vm->ram_size = ipa - VM_RAM_IPA;
    return vm->ram_size ? ERR_OK : ERR_NOMEM;
}

static uint64_t vtcr_for(const struct vm *vm)
{
    uint64_t mmfr0 = read_sysreg(id_aa64mmfr0_el1), mmfr1 = read_sysreg(id_aa64mmfr1_el1);
    uint64_t ps = ID_AA64MMFR0_PARANGE(mmfr0);
    if (ps > 5)
        ps = 5; /* 48 bits: Tally's tables use no 52-bit descriptors */
    uint64_t vtcr = aspace_vtcr_t0sz_sl0(&vm->s2) | (1ull << 8) /* IRGN0 WBWA */ |
                    (1ull << 10) /* ORGN0 WBWA */ | (3ull << 12) /* SH0 inner */ | (ps << 16) |
                    (1ull << 31) /* RES1 */;
    if (((mmfr1 >> 4) & 0xf) == 2)
        vtcr |= 1ull << 19; /* VS: 16-bit VMIDs */
    return vtcr;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

int vm_create(struct vm *vm, const struct vm_modules *m, unsigned nr_vcpus, char *msg, size_t len)
{
    uint64_t text_offset, image_size;
    int err = parse_image(m, &text_offset, &image_size, msg, len);
    if (err != ERR_OK)
        return err;

    /* Bounded before any sum below can wrap (the image size is bounded in
     * parse_image()); the fit check then gives the real answer. */
    if (m->initrd_size >= (1ull << 40)) {
        snprintf(msg, len, "initrd of %lu bytes does not fit in any guest RAM", m->initrd_size);
        return ERR_RANGE;
    }

    memset(vm, 0, sizeof(*vm));
    vm->id = 0;
    vm->vmid = 1;
    vm->nr_vcpus = nr_vcpus;
    vm->kernel_ipa = KERNEL_BASE_IPA + text_offset;
    vm->kernel_size = m->kernel_size;
    vm->initrd_ipa = align_up(vm->kernel_ipa + image_size, SZ_2M);
    vm->initrd_size = m->initrd_size;
    vm->dtb_ipa = align_up(vm->initrd_ipa + m->initrd_size, SZ_2M);

    page_alloc_drain();
    uint64_t free_bytes = page_alloc_free_pages() * PAGE_SIZE;
    uint64_t reserve = VM_HYP_RESERVE_FIXED + free_bytes / 512;
    uint64_t want = free_bytes > reserve ? (free_bytes - reserve) & ~(SZ_2M - 1) : 0;
    uint64_t need = vm->dtb_ipa + GUEST_DTB_MAX - VM_RAM_IPA;
    if (need > want) {
        snprintf(msg, len,
                 "kernel (image_size %lu bytes) and initrd (%lu bytes) do not fit in "
                 "the guest RAM Tally can give (%lu MiB)",
                 image_size, m->initrd_size, want >> 20);
        return ERR_RANGE;
    }

    pt_set_stage2_fwb(cpu_has_s2fwb());
    err = aspace_init(&vm->s2, PT_STAGE2, VM_IPA_BITS, vm->vmid, vm->id);
    if (err != ERR_OK) {
        snprintf(msg, len, "no page for the stage-2 root: %s", tally_strerror(err));
        return err;
    }
    vm->vtcr = vtcr_for(vm);
    err = alloc_ram(vm, want);
    if (err == ERR_OK && vm->ram_size < need)
        err = ERR_NOMEM;
    if (err != ERR_OK) {
        snprintf(msg, len, "could not allocate guest RAM (%lu of %lu MiB): %s", vm->ram_size >> 20,
                 want >> 20, tally_strerror(err));
        vm_destroy(vm);
        return err;
    }

    for (unsigned i = 0; i < nr_vcpus; i++) {
        struct vcpu *v = &vcpu_pool[i];
        memset(v, 0, sizeof(*v));
        v->vm = vm;
        v->id = i;
        v->pcpu = i;
        v->mpidr = (1ull << 31) | i; /* RES1 bit 31; Aff0 = vCPU index */
        vcpu_reset(v, vm->kernel_ipa, vm->dtb_ipa);
        atomic_store_u32(&v->power, i == 0 ? VCPU_ON : VCPU_OFF, MO_RELAXED);
        vm->vcpus[i] = v;
    }
    vm->dtb_size = GUEST_DTB_MAX;
    err = guest_fdt_build(vm, m->bootargs, dtb_buf, sizeof(dtb_buf));
    if (err == ERR_OK)
        vm->dtb_size = fdt_totalsize(dtb_buf);
    if (err == ERR_OK)
        err = vm_copy_to_guest(vm, vm->kernel_ipa, arch_phys_to_virt(m->kernel), m->kernel_size);
    if (err == ERR_OK && m->initrd_size)
        err = vm_copy_to_guest(vm, vm->initrd_ipa, arch_phys_to_virt(m->initrd), m->initrd_size);
    if (err == ERR_OK)
        err = vm_copy_to_guest(vm, vm->dtb_ipa, dtb_buf, vm->dtb_size);
    if (err == ERR_OK)
        err = pt_map_phys(&vm->s2, VM_UART_IPA, pa(console_base()), VM_UART_SIZE,
                          PT_R | PT_W | PT_DEVICE);
    if (err != ERR_OK) {
        snprintf(msg, len, "could not set up the guest's memory: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    __asm__ volatile("ic ialluis\n\tdsb ish\n\tisb" ::: "memory");

    err = vgic_vm_init(vm);
    if (err != ERR_OK) {
        snprintf(msg, len, "vGIC: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    for (unsigned i = 0; i < nr_vcpus; i++)
        vgic_vcpu_init(vm->vcpus[i]);
    return ERR_OK;
}

void vm_destroy(struct vm *vm)
{
    if (vm->vgic)
        vgic_vm_destroy(vm);
    aspace_destroy(&vm->s2);
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        vm->vcpus[i] = NULL;
    vm->nr_ram = 0;
    vm->ram_size = 0;
    vm->nr_mmio = 0;
}

bool vm_request_stop(struct vm *vm, enum vm_stop why)
{
    uint32_t expected = VM_RUNNING;
    /* Acq-rel: the first stop wins; pairs with the acquire loads in the
     * vCPU loops (vcpu.c stop_of). */
    if (!atomic_cas_u32(&vm->stop, &expected, why, MO_ACQ_REL))
        return false;
    unsigned self = arch_cpu_id();
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (vm->vcpus[i] && vm->vcpus[i]->pcpu != self)
            gic_send_ipi(vm->vcpus[i]->pcpu);
    }
    sev();
    return true;
}

/* --- running VM 0 on every pCPU ------------------------------------------ */

static unsigned vm0_boots;

/*
 * The secondaries spend Tally's whole VM phase in secondary_loop() (posted
 * with smp_call_async once): they sleep in WFI and are woken by an IPI when
 * the boot CPU has built a VM (vm_epoch moves) or is done with VMs
 * (vms_over). WFI rather than smp.c's WFE wait, because emulators run a WFE
 * loop as a busy loop, which would double the cost of building and tearing
 * down a VM on the boot CPU.
 *
 * vm_epoch, vms_over: store-release by the boot CPU after current_vm and
 * the VM are set up; load-acquire by the secondaries.
 * left_epoch[i]: store-release by secondary i once its vCPU has left (its
 * state saved); load-acquire by the boot CPU before the teardown.
 */
static atomic_u32 vm_epoch, vms_over;
static atomic_u32 left_epoch[TALLY_MAX_CPUS];

static void sleep_until_ipi(void)
{
    __asm__ volatile("wfi" ::: "memory");
    gic_handle_irq();
}

static void secondary_loop(void)
{
    unsigned cpu = arch_cpu_id(), seen = 0;
    gic_cpu_init();
    for (;;) {
        unsigned e = atomic_load_u32(&vm_epoch, MO_ACQUIRE);
        if (e != seen) {
            seen = e;
            vcpu_run(current_vm->vcpus[cpu]);
            atomic_store_u32(&left_epoch[cpu], e, MO_RELEASE);
            gic_send_ipi(0);
            continue;
        }
        if (atomic_load_u32(&vms_over, MO_ACQUIRE))
            return;
        sleep_until_ipi();
    }
}

/* Run the VM on every pCPU; returns once every vCPU has left. */
static void run_vm(struct vm *vm, unsigned nr)
{
    current_vm = vm;
    unsigned e = atomic_load_u32(&vm_epoch, MO_RELAXED) + 1;
    atomic_store_u32(&vm_epoch, e, MO_RELEASE);
    for (unsigned i = 1; i < nr; i++)
        gic_send_ipi(i);
    vcpu_run(vm->vcpus[0]);
    for (unsigned i = 1; i < nr; i++) {
        while (atomic_load_u32(&left_epoch[i], MO_ACQUIRE) != e)
            sleep_until_ipi();
    }
    current_vm = NULL;
}

static const char *const stop_names[] = {"running", "SYSTEM_OFF", "SYSTEM_RESET", "fatal error",
                                         "CPU_OFF of the last vCPU"};

/* Consecutive online CPUs from CPU 0: one vCPU each. */
static unsigned online_cpus(void)
{
    unsigned n = 1;
    /* Acquire: pairs with each secondary's release store of online. */
    while (n < hyp_nr_cpus && n < VM_MAX_VCPUS &&
           atomic_load_u32(&hyp_percpu[n].online, MO_ACQUIRE))
        n++;
    return n;
}

static void vm_lifecycle(const struct vm_modules *mods, unsigned nr);

static void print_free(const char *when)
{
    page_alloc_drain();
    printf("tally: VM 0: free pages %s: %lu\n", when, page_alloc_free_pages());
}

void vm_boot_from_fdt(const void *fdt)
{
    struct vm_modules m;
    char msg[200];
    int err = vm_modules_from_fdt(fdt, &m, msg, sizeof(msg));
    if (err == ERR_NOENT)
        return;
    if (err != ERR_OK) {
        printf("tally: VM 0 not started: %s\n", msg);
        return;
    }
    err = gic_init(fdt, msg, sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: VM 0 not started: GIC: %s\n", msg);
        return;
    }
    /* The timer first: gic_handle_irq finds handlers in this order. */
    BUG_ON(vtimer_init() != ERR_OK || vgic_init() != ERR_OK);
    unsigned nr = online_cpus();
    gic_cpu_init();
    for (unsigned i = 1; i < nr; i++)
        BUG_ON(smp_call_async(i, secondary_loop) != ERR_OK);
    vm_lifecycle(&m, nr);
    atomic_store_u32(&vms_over, 1, MO_RELEASE);
    for (unsigned i = 1; i < nr; i++) {
        gic_send_ipi(i);
        smp_call_wait(i);
    }
}

/* Build, run and tear down VM 0 until it powers off or cannot be built. */
static void vm_lifecycle(const struct vm_modules *mods, unsigned nr)
{
    char msg[200];
    int err;
    /* tally.max-resets=N: after N guest resets, the next one powers off
     * (a guest reboot loop ends; tests count the boots). */
    char arg[16];
    unsigned long max_resets = ~0ul;
    if (bootarg_get("tally.max-resets", arg, sizeof(arg)))
        max_resets = strtoul(arg, NULL, 10);
    for (;;) {
        print_free("before creation");
        struct vm *vm = &vm0;
        err = vm_create(vm, mods, nr, msg, sizeof(msg));
        if (err != ERR_OK) {
            printf("tally: VM 0 not started: %s\n", msg);
            print_free("after teardown");
            return;
        }
        vm->boots = ++vm0_boots;
        printf("tally: VM 0: %u vCPU%s, RAM %lu MiB at IPA 0x%lx in %u blocks, kernel at 0x%lx, "
               "initrd at 0x%lx (%lu bytes), DTB at 0x%lx; boot %u\n",
               nr, nr == 1 ? "" : "s", vm->ram_size >> 20, (uint64_t)VM_RAM_IPA, vm->nr_ram,
               vm->kernel_ipa, mods->initrd_size ? vm->initrd_ipa : 0, mods->initrd_size,
               vm->dtb_ipa, vm->boots);
        run_vm(vm, nr);
        unsigned why = atomic_load_u32(&vm->stop, MO_RELAXED);
        printf("tally: VM 0: %s, every vCPU stopped; tearing down\n",
               why < ARRAY_SIZE(stop_names) ? stop_names[why] : "?");
        for (unsigned i = 0; i < nr; i++) {
            const struct vcpu *v = vm->vcpus[i];
            printf("tally: VM 0 vCPU %u: %lu exits: %lu interrupts, %lu HVC/SMC, %lu MMIO, "
                   "%lu aborts injected\n",
                   i, v->exits, v->exits_irq, v->exits_hvc, v->exits_mmio, v->exits_abort);
        }
        vm_destroy(vm);
        print_free("after teardown");
        struct accounting a;
        accounting_take(&a);
        accounting_print(&a);
        if (why != VM_STOP_RESET)
            return;
        if (vm0_boots > max_resets) {
            printf("tally: VM 0: %lu resets (tally.max-resets), not rebuilt\n", max_resets);
            return;
        }
        printf("tally: VM 0: rebuilding from its boot modules\n");
    }
}
