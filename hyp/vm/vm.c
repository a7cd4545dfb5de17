// SPDX-License-Identifier: MIT
// VMs: built from their configuration (vmconfig.c), each run on its own
// pCPUs, torn down and accounted for, rebuilt on a guest reset, while the
// other VMs keep running.
//
// Guest RAM is a set of buddy blocks, taken largest first (up to 1 GiB):
// exactly the size the binding asks for, or (VM 0 by default) the free pages
// minus what Tally keeps for itself (VM_HYP_RESERVE: stage-2 tables, the
// vGIC), a size fixed at its first creation so that a rebuild never takes
// what another VM's rebuild needs. Every page of a block becomes a tracked frame owned by
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
// its shared regions and the vGIC's frames (the UART and RTC are emulated:
// vuart.c, vrtc.c). A guest access there is a stage-2 fault that
// traps.c turns into an abort for the guest.
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tally/arch.h>
#include <tally/errno.h>
#include <tally/meta.h>
#include <tally/page_alloc.h>
#include <tally/panic.h>
#include <tally/sysreg.h>

#include "vuart.h"
#include "core/accounting.h"
#include "core/bootargs.h"
#include "core/hyp.h"
#include "core/mmu.h"
#include "core/percpu.h"
#include "core/smp.h"
#include "irq/gic.h"
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

/* The VMs, by id, and the vCPUs, by pCPU (one each, statically). */
static struct vm vms[VM_MAX_VMS];
static struct vcpu vcpu_pool[VM_MAX_VCPUS];

/* The registry: a VM's state and the references vm_get_by_id handed out,
 * both guarded by registry_lock. */
enum vm_state { VM_EMPTY = 0, VM_LIVE, VM_DYING };
static struct spinlock registry_lock = SPINLOCK_INIT;
static unsigned vm_state[VM_MAX_VMS], vm_users[VM_MAX_VMS];

/* vm_mm_lock (vm.h): creation, teardown and the accounting. It also guards
 * dtb_buf, which every creation uses. */
static struct spinlock mm_lock = SPINLOCK_INIT;
static uint8_t dtb_buf[GUEST_DTB_MAX] __attribute__((aligned(8)));

void vm_mm_lock(void)
{
    spin_lock(&mm_lock);
}

void vm_mm_unlock(void)
{
    spin_unlock(&mm_lock);
}

struct vm *vm_get_by_id(unsigned id)
{
    if (id >= VM_MAX_VMS)
        return NULL;
    struct vm *vm = NULL;
    spin_lock(&registry_lock);
    if (vm_state[id] == VM_LIVE) {
        vm_users[id]++;
        vm = &vms[id];
    }
    spin_unlock(&registry_lock);
    return vm;
}

void vm_put(struct vm *vm)
{
    spin_lock(&registry_lock);
    BUG_ON(!vm_users[vm->id]);
    vm_users[vm->id]--;
    spin_unlock(&registry_lock);
}

static void publish(struct vm *vm)
{
    spin_lock(&registry_lock);
    vm_state[vm->id] = VM_LIVE;
    spin_unlock(&registry_lock);
}

/* No new reference from now on; returns once the last one is put. */
static void unpublish(struct vm *vm)
{
    spin_lock(&registry_lock);
    vm_state[vm->id] = VM_DYING;
    while (vm_users[vm->id]) {
        spin_unlock(&registry_lock);
        __asm__ volatile("yield" ::: "memory");
        spin_lock(&registry_lock);
    }
    vm_state[vm->id] = VM_EMPTY;
    spin_unlock(&registry_lock);
}

static bool skip_shared(paddr_t p)
{
    return shmem_contains(p);
}

static uint64_t untouched_pages(struct vm *vm);

void vm_account_owners(struct acct_reach *r)
{
    for (unsigned id = 0; id < VM_MAX_VMS; id++) {
        struct vm *vm = vm_get_by_id(id);
        if (!vm)
            continue;
        accounting_reach_tree(r, &vm->s2, skip_shared);
        accounting_reach_reserved(r, untouched_pages(vm));
        vm_put(vm);
    }
    shmem_account(r);
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
    /* What the loader writes counts as touched: zeroed and mapped first. */
    int err = vm_touch_locked(vm, ipa, len);
    if (err != ERR_OK)
        return err;
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

/* Take the VM's RAM: blocks of up to 1 GiB, largest first, reserved (taken
 * from the allocator, left untyped and unwritten) and mapped only on first
 * touch (vm_touch_locked). */
static int alloc_ram(struct vm *vm, uint64_t want)
{
    uint64_t ipa = VM_RAM_IPA;
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
        uint64_t size = PAGE_SIZE << order;
        if (vm->nr_ram == VM_MAX_RAM_BLOCKS) {
            page_free(p, order);
            break;
        }
        vm->ram[vm->nr_ram++] = (struct vm_ram_block){.ipa = ipa, .pa = p, .size = size};
        ipa += size;
    }
    vm->ram_size = ipa - VM_RAM_IPA;
    return vm->ram_size ? ERR_OK : ERR_NOMEM;
}

/* The pieces of RAM in 2 MiB window w: each block's part of it (the whole
 * block if it is smaller), in IPA order; fn gets IPA, PA and order. */
static int window_pieces(struct vm *vm, uint64_t w,
                         int (*fn)(struct vm *vm, uint64_t ipa, paddr_t pa, unsigned order))
{
    uint64_t start = VM_RAM_IPA + w * SZ_2M, end = start + SZ_2M;
    for (unsigned i = 0; i < vm->nr_ram; i++) {
        const struct vm_ram_block *b = &vm->ram[i];
        if (b->ipa >= end || b->ipa + b->size <= start)
            continue;
        uint64_t ipa = b->ipa > start ? b->ipa : start;
        uint64_t size = b->size < SZ_2M ? b->size : SZ_2M;
        unsigned order = (unsigned)__builtin_ctzll(size) - PAGE_SHIFT;
        int err = fn(vm, ipa, pa_add(b->pa, ipa - b->ipa), order);
        if (err != ERR_OK)
            return err;
    }
    return ERR_OK;
}

static bool window_touched(const struct vm *vm, uint64_t w)
{
    return vm->touched[w / 64] & (1ull << (w % 64));
}

/* Type a reserved piece as one frame owned by the VM (the dirty pages are
 * zeroed then, page_from_unused_block; the known-zero ones are not) and map
 * it: the entry holds the only reference. */
static int map_piece(struct vm *vm, uint64_t ipa, paddr_t p, unsigned order)
{
    uint64_t n = 1ull << order, dirty = 0;
    for (uint64_t i = 0; i < n; i++)
        dirty += (slot_flags(meta_slot(pa_add(p, i * PAGE_SIZE))) & SLOT_F_DIRTY) != 0;
    struct frame block =
        frame_block_from_unused(p, order, (struct frame_meta){.owner_vm = (uint16_t)vm->id});
    /* The frames were zeroed through the caches. Without FEAT_S2FWB a
     * guest may map them non-cacheable and read what DRAM held
     * underneath, so clean them to the point of coherency; with it,
     * stage-2 forces Write-Back and the guest only ever sees the caches. */
    if (!cpu_has_s2fwb())
        cache_clean_range(arch_phys_to_virt(p), PAGE_SIZE << order);
    int err = pt_map_frames(&vm->s2, ipa, p, PAGE_SIZE << order, PT_R | PT_W | PT_X);
    /* The entry holds its own reference now (or, on failure, nothing does
     * and the drop frees the piece). */
    frame_drop(block);
    if (err == ERR_OK) {
        vm->touched_pages += n;
        vm->zeroed_pages += dirty;
    }
    return err;
}

int vm_touch_locked(struct vm *vm, uint64_t ipa, uint64_t len)
{
    uint64_t ram_end = VM_RAM_IPA + vm->ram_size;
    if (!len || ipa >= ram_end || ipa + len <= VM_RAM_IPA || ipa + len < ipa)
        return ERR_OK;
    uint64_t first = (ipa > VM_RAM_IPA ? ipa : VM_RAM_IPA) - VM_RAM_IPA;
    uint64_t last = (ipa + len < ram_end ? ipa + len : ram_end) - 1 - VM_RAM_IPA;
    for (uint64_t w = first / SZ_2M; w <= last / SZ_2M; w++) {
        if (window_touched(vm, w))
            continue;
        /* Marked first: a failed map has freed its piece (map_piece), so
         * the window must not be freed again at teardown. */
        vm->touched[w / 64] |= 1ull << (w % 64);
        int err = window_pieces(vm, w, map_piece);
        if (err != ERR_OK)
            return err;
    }
    return ERR_OK;
}

bool vm_fault_in(struct vm *vm, uint64_t ipa)
{
    if (ipa < VM_RAM_IPA || ipa - VM_RAM_IPA >= vm->ram_size)
        return false;
    uint64_t w = (ipa - VM_RAM_IPA) / SZ_2M;
    vm_mm_lock();
    bool retry;
    if (!window_touched(vm, w))
        retry = vm_touch_locked(vm, ipa, 1) == ERR_OK;
    else /* another vCPU mapped it meanwhile; else it was given away */
        retry = pt_lookup(&vm->s2, ipa, NULL, NULL, NULL, NULL) == ERR_OK;
    vm_mm_unlock();
    return retry;
}

/* Return an untouched piece to the allocator unwritten (raw page_free marks
 * its pages dirty: zeroed when next typed). */
static int free_piece(struct vm *vm, uint64_t ipa, paddr_t p, unsigned order)
{
    (void)vm;
    (void)ipa;
    page_free(p, order);
    return ERR_OK;
}

static int count_piece(struct vm *vm, uint64_t ipa, paddr_t p, unsigned order)
{
    (void)ipa;
    (void)p;
    vm->untouched_count += 1ull << order;
    return ERR_OK;
}

static uint64_t ram_windows(const struct vm *vm)
{
    return (vm->ram_size + SZ_2M - 1) / SZ_2M;
}

/* Reserved pages of RAM never touched (the accounting reaches them). */
static uint64_t untouched_pages(struct vm *vm)
{
    vm->untouched_count = 0;
    for (uint64_t w = 0; w < ram_windows(vm); w++)
        if (!window_touched(vm, w))
            (void)window_pieces(vm, w, count_piece);
    return vm->untouched_count;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* The RAM a VM gets: what its configuration says, or (0) the free pages
 * minus Tally's reserve, 2 MiB aligned. */
static uint64_t ram_target(const struct vm_config *c)
{
    if (c->ram_size)
        return c->ram_size;
    page_alloc_drain();
    uint64_t most = (uint64_t)VM_MAX_RAM_WINDOWS * SZ_2M;
    uint64_t free_bytes = page_alloc_free_pages() * PAGE_SIZE;
    uint64_t reserve = VM_HYP_RESERVE_FIXED + free_bytes / 512;
    uint64_t want = free_bytes > reserve ? (free_bytes - reserve) & ~(SZ_2M - 1) : 0;
    return want < most ? want : most;
}

int vm_create(struct vm *vm, const struct vm_config *c, char *msg, size_t len)
{
    uint64_t start_cnt = read_sysreg(cntpct_el0);
    const struct vm_modules *m = &c->mods;
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
    vm->create_cnt = start_cnt;
    vm->id = c->id;
    vm->vmid = (uint16_t)(c->id + 1);
    vm->nr_vcpus = c->nr_vcpus;
    vm->kernel_ipa = KERNEL_BASE_IPA + text_offset;
    vm->kernel_size = m->kernel_size;
    vm->initrd_ipa = align_up(vm->kernel_ipa + image_size, SZ_2M);
    vm->initrd_size = m->initrd_size;
    vm->dtb_ipa = align_up(vm->initrd_ipa + m->initrd_size, SZ_2M);

    err = cpufeature_stage2(&vm->s2geom, msg, len);
    if (err != ERR_OK)
        return err;
    uint64_t want = ram_target(c);
    /* RAM ends below the borrow window, the top half of the IPA space
     * (VM_BORROW_IPA): 1 GiB of RAM at most with a 32-bit PARange. */
    uint64_t ipa_room = VM_BORROW_IPA(vm->s2geom.ipa_bits) - VM_RAM_IPA;
    if (c->ram_size > ipa_room) {
        snprintf(msg, len,
                 "%lu MiB of RAM do not fit in a %u-bit IPA space below its borrow window "
                 "(%lu MiB at most)",
                 c->ram_size >> 20, vm->s2geom.ipa_bits, ipa_room >> 20);
        return ERR_RANGE;
    }
    if (want > ipa_room)
        want = ipa_room;
    if (want > (uint64_t)VM_MAX_RAM_WINDOWS * SZ_2M) {
        snprintf(msg, len, "%lu MiB of RAM: more than the %lu MiB a VM can have", want >> 20,
                 (uint64_t)(((uint64_t)VM_MAX_RAM_WINDOWS * SZ_2M) >> 20));
        return ERR_RANGE;
    }
    uint64_t need = vm->dtb_ipa + GUEST_DTB_MAX - VM_RAM_IPA;
    if (need > want) {
        if (c->ram_size)
            snprintf(msg, len,
                     "kernel (image_size %lu bytes) and initrd (%lu bytes) do not fit in "
                     "the VM's %lu MiB of RAM",
                     image_size, m->initrd_size, want >> 20);
        else
            snprintf(msg, len,
                     "kernel (image_size %lu bytes) and initrd (%lu bytes) do not fit in "
                     "the guest RAM Tally can give (%lu MiB)",
                     image_size, m->initrd_size, want >> 20);
        return ERR_RANGE;
    }

    pt_set_stage2_fwb(cpu_has_s2fwb());
    err = aspace_init(&vm->s2, PT_STAGE2, vm->s2geom.ipa_bits, vm->vmid, vm->id);
    if (err != ERR_OK) {
        snprintf(msg, len, "no page for the stage-2 root: %s", tally_strerror(err));
        return err;
    }
    vm->vtcr = cpufeature_vtcr(&vm->s2geom, aspace_vtcr_t0sz_sl0(&vm->s2));
    cpufeature_view_init(&vm->idregs, gic_version());
    err = alloc_ram(vm, want);
    if (err == ERR_OK && vm->ram_size != want)
        err = ERR_NOMEM;
    if (err != ERR_OK) {
        snprintf(msg, len, "could not allocate guest RAM (%lu of %lu MiB): %s", vm->ram_size >> 20,
                 want >> 20, tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    /* tally.ram=eager: every page zeroed and mapped now, as before first
     * touch (the baseline of make bench-vm-create). */
    char eager[8];
    if (bootarg_get("tally.ram", eager, sizeof(eager)) && !strcmp(eager, "eager"))
        err = vm_touch_locked(vm, VM_RAM_IPA, vm->ram_size);
    if (err != ERR_OK) {
        snprintf(msg, len, "could not map the guest RAM: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    share_vm_init(&vm->share, (uint16_t)vm->id, &vm->s2, vm->ram_size / PAGE_SIZE,
                  VM_BORROW_IPA(vm->s2geom.ipa_bits), VM_BORROW_SIZE(vm->s2geom.ipa_bits));
    err = shmem_map(vm, c->shmem);
    if (err != ERR_OK) {
        snprintf(msg, len, "could not map the shared regions: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }

    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        struct vcpu *v = &vcpu_pool[c->first_pcpu + i];
        memset(v, 0, sizeof(*v));
        v->vm = vm;
        v->id = i;
        v->pcpu = c->first_pcpu + i;
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
    if (err != ERR_OK) {
        snprintf(msg, len, "could not set up the guest's memory: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    __asm__ volatile("ic ialluis\n\tdsb ish\n\tisb" ::: "memory");

    err = vgic_vm_init(vm);
    if (err == ERR_OK)
        err = vuart_vm_init(vm);
    if (err == ERR_OK)
        err = vrtc_vm_init(vm);
    if (err != ERR_OK) {
        snprintf(msg, len, "vGIC, UART or RTC: %s", tally_strerror(err));
        vm_destroy(vm);
        return err;
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vgic_vcpu_init(vm->vcpus[i]);
    return ERR_OK;
}

void vm_note_first_entry(struct vm *vm)
{
    if (!vm->create_cnt)
        return;
    __asm__ volatile("isb" ::: "memory");
    uint64_t ticks = read_sysreg(cntpct_el0) - vm->create_cnt;
    vm->create_cnt = 0;
    printf("tally: VM %u: creation to first guest instruction: %lu counter ticks, %lu pages "
           "zeroed, %lu MiB of RAM\n",
           vm->id, ticks, vm->zeroed_pages, vm->ram_size >> 20);
}

void vm_destroy(struct vm *vm)
{
    if (vm->vgic)
        vgic_vm_destroy(vm);
    /* Settle what it shares and borrows first: pages another VM still maps
     * survive the stage-2's destruction, and their counts say so. */
    if (vm->share.s2)
        share_vm_teardown(&vm->share);
    vm->share.s2 = NULL;
    /* Untouched RAM goes back unwritten, before the stage-2 returns the
     * touched pieces (which another VM may then take at once). */
    for (uint64_t w = 0; w < ram_windows(vm); w++)
        if (!window_touched(vm, w))
            (void)window_pieces(vm, w, free_piece);
    aspace_destroy(&vm->s2);
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        vm->vcpus[i] = NULL;
    vm->nr_ram = 0;
    vm->ram_size = 0;
    vm->nr_mmio = 0;
    vm->shmem_mapped = 0;
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

/* --- running the VMs ----------------------------------------------------- */

/*
 * Every pCPU of a VM runs pcpu_main() (posted with smp_call_async once; the
 * boot CPU calls it directly). The VM's first pCPU is its leader: it runs
 * vCPU 0, waits for the others to leave, tears the VM down and rebuilds it
 * on a reset. The other pCPUs sleep in WFI and are woken by an IPI when the
 * leader has built the VM (vm_epoch moves) or the VM is gone for good
 * (vm_gone). WFI rather than smp.c's WFE wait, because emulators run a WFE
 * loop as a busy loop, which would slow the leader's build and teardown.
 *
 * vm_epoch[id], vm_gone[id]: store-release by the leader after the VM is
 *   built (or gone); load-acquire by the VM's other pCPUs.
 * left_epoch[pcpu]: store-release by a pCPU once its vCPU has left (its
 *   state saved); load-acquire by the leader before the teardown.
 * vms_alive: VMs not yet gone; the leader that ends one decrements it
 *   (release) and kicks the boot CPU, which waits (acquire) for zero.
 */
static atomic_u32 vm_epoch[VM_MAX_VMS], vm_gone[VM_MAX_VMS];
static atomic_u32 left_epoch[TALLY_MAX_CPUS];
static atomic_u32 vms_alive;
/* Written by the boot CPU before posting pcpu_main(); read-only after. */
static struct vm_setup setup;
static const struct vm_config *pcpu_config[TALLY_MAX_CPUS];
static unsigned long max_resets = ~0ul;

static enum gic_irq_result console_irq(uint32_t intid)
{
    (void)intid;
    console_rx_irq();
    return GIC_IRQ_DONE;
}

static void sleep_until_ipi(void)
{
    __asm__ volatile("wfi" ::: "memory");
    gic_handle_irq();
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

static uint64_t free_pages(void)
{
    page_alloc_drain();
    return page_alloc_free_pages();
}

/* Build and publish the VM (under vm_mm_lock); false after a message. */
static bool build(const struct vm_config *c, unsigned boot)
{
    struct vm *vm = &vms[c->id];
    char msg[200];
    vm_mm_lock();
    printf("tally: VM %u: free pages before creation: %lu\n", c->id, free_pages());
    int err = vm_create(vm, c, msg, sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: VM %u not started: %s\n", c->id, msg);
        printf("tally: VM %u: free pages after teardown: %lu\n", c->id, free_pages());
        vm_mm_unlock();
        return false;
    }
    vm->boots = boot;
    publish(vm);
    printf("tally: VM %u: %u vCPU%s, RAM %lu MiB at IPA 0x%lx in %u blocks, kernel at 0x%lx, "
           "initrd at 0x%lx (%lu bytes), DTB at 0x%lx; boot %u\n",
           vm->id, vm->nr_vcpus, vm->nr_vcpus == 1 ? "" : "s", vm->ram_size >> 20,
           (uint64_t)VM_RAM_IPA, vm->nr_ram, vm->kernel_ipa,
           c->mods.initrd_size ? vm->initrd_ipa : 0, c->mods.initrd_size, vm->dtb_ipa, vm->boots);
    printf("tally: VM %u: first touch at creation: %lu pages mapped, %lu zeroed, of %lu\n", vm->id,
           vm->touched_pages, vm->zeroed_pages, vm->ram_size / PAGE_SIZE);
    cpufeature_print(vm->id, &vm->s2geom);
    vm_mm_unlock();
    return true;
}

/* Unpublish, destroy and account (under vm_mm_lock). */
static void teardown(struct vm *vm)
{
    vm_mm_lock();
    unpublish(vm);
    uint64_t before = free_pages(), touched = vm->touched_pages, zeroed = vm->zeroed_pages;
    vm_destroy(vm);
    uint64_t after = free_pages();
    printf("tally: VM %u: teardown returned %lu pages\n", vm->id, after - before);
    printf("tally: VM %u: free pages after teardown: %lu\n", vm->id, after);
    struct accounting a;
    accounting_take(&a);
    accounting_print(&a);
    printf("tally: VM %u: first touch over its run: %lu pages mapped, %lu zeroed\n", vm->id,
           touched, zeroed);
    vm_mm_unlock();
}

static void leader_loop(const struct vm_config *c)
{
    struct vm *vm = &vms[c->id];
    unsigned boots = vm->boots, self = arch_cpu_id();
    for (;;) {
        unsigned e = atomic_load_u32(&vm_epoch[c->id], MO_RELAXED) + 1;
        atomic_store_u32(&vm_epoch[c->id], e, MO_RELEASE);
        for (unsigned i = 1; i < c->nr_vcpus; i++)
            gic_send_ipi(self + i);
        vcpu_run(vm->vcpus[0]);
        for (unsigned i = 1; i < c->nr_vcpus; i++) {
            while (atomic_load_u32(&left_epoch[self + i], MO_ACQUIRE) != e)
                sleep_until_ipi();
        }
        unsigned why = atomic_load_u32(&vm->stop, MO_RELAXED);
        printf("tally: VM %u: %s, every vCPU stopped; tearing down\n", vm->id,
               why < ARRAY_SIZE(stop_names) ? stop_names[why] : "?");
        for (unsigned i = 0; i < vm->nr_vcpus; i++) {
            const struct vcpu *v = vm->vcpus[i];
            printf("tally: VM %u vCPU %u: %lu exits: %lu interrupts, %lu HVC/SMC, %lu MMIO, "
                   "%lu aborts injected\n",
                   vm->id, i, v->exits, v->exits_irq, v->exits_hvc, v->exits_mmio, v->exits_abort);
        }
        teardown(vm);
        if (why != VM_STOP_RESET)
            break;
        if (boots > max_resets) {
            printf("tally: VM %u: %lu resets (tally.max-resets), not rebuilt\n", vm->id,
                   max_resets);
            break;
        }
        printf("tally: VM %u: rebuilding from its boot modules\n", vm->id);
        if (!build(c, ++boots))
            break;
    }
    atomic_store_u32(&vm_gone[c->id], 1, MO_RELEASE);
    for (unsigned i = 1; i < c->nr_vcpus; i++)
        gic_send_ipi(self + i);
    /* Release: this VM's teardown is done before the boot CPU, seeing the
     * count reach 0, releases the shared regions and powers off. */
    atomic_fetch_sub_u32(&vms_alive, 1, MO_RELEASE);
    gic_send_ipi(0);
}

static void follower_loop(const struct vm_config *c)
{
    unsigned cpu = arch_cpu_id(), seen = 0, id = c->id;
    for (;;) {
        unsigned e = atomic_load_u32(&vm_epoch[id], MO_ACQUIRE);
        if (e != seen) {
            seen = e;
            vcpu_run(vms[id].vcpus[cpu - c->first_pcpu]);
            atomic_store_u32(&left_epoch[cpu], e, MO_RELEASE);
            gic_send_ipi(c->first_pcpu);
            continue;
        }
        if (atomic_load_u32(&vm_gone[id], MO_ACQUIRE))
            return;
        sleep_until_ipi();
    }
}

static void pcpu_main(void)
{
    unsigned cpu = arch_cpu_id();
    const struct vm_config *c = pcpu_config[cpu];
    if (cpu != 0)
        gic_cpu_init();
    if (c->first_pcpu == cpu)
        leader_loop(c);
    else
        follower_loop(c);
}

/* Pages a VM shares with Tally appear in Tally's stage-1 in a window of one
 * page per RAM page just below the kernel stacks (mm/share.c places them). */
static void share_window_init(void)
{
    uint64_t size = ALIGN_UP(meta_nr_slots() << PAGE_SHIFT, 1ull << 30);
    uint64_t base = hyp_platform.stack_va_base - size;
    int err = size < hyp_platform.stack_va_base ? ERR_OK : ERR_RANGE;
    for (unsigned i = 0; i < meta_nr_banks() && err == ERR_OK; i++) {
        const struct mem_bank *b = meta_bank(i);
        if (pa_val(b->base) + b->size > base)
            err = ERR_RANGE;
    }
    if (err == ERR_OK)
        err = share_hyp_init(&hyp_aspace, base, size);
    if (err != ERR_OK)
        printf("tally: no VA window below 0x%lx for pages shared with Tally (%s): "
               "TALLY_HC_SHARE_HYP answers ERR_NOTSUP\n",
               hyp_platform.stack_va_base, tally_strerror(err));
}

void vm_boot_from_fdt(const void *fdt)
{
    char msg[200];
    int err = vm_setup_from_fdt(fdt, &setup, msg, sizeof(msg));
    if (err == ERR_NOENT)
        return;
    if (err != ERR_OK) {
        printf("tally: %s\n", msg);
        return;
    }
    err = vm_setup_assign_cpus(&setup, online_cpus(), msg, sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: VMs not started: %s\n", msg);
        return;
    }
    err = gic_init(fdt, msg, sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: VM 0 not started: GIC: %s\n", msg);
        return;
    }
    /* The timer first: gic_handle_irq finds handlers in this order. */
    BUG_ON(vtimer_init() != ERR_OK || vgic_init() != ERR_OK);
    /* tally.max-resets=N: after N resets of a VM, its next one powers it
     * off (a guest reboot loop ends; tests count the boots). */
    char arg[16];
    if (bootarg_get("tally.max-resets", arg, sizeof(arg)))
        max_resets = strtoul(arg, NULL, 10);
    /* tally.inject-serror=N: VM N's first HVC is taken as an SError (a
     * test of the path a real one takes: that VM alone stops). */
    if (bootarg_get("tally.inject-serror", arg, sizeof(arg))) {
        unsigned long n = strtoul(arg, NULL, 10);
        printf("tally: tally.inject-serror=%lu: VM %lu's first HVC will be taken as an SError\n", n,
               n);
        traps_inject_serror((unsigned)n);
    }
    gic_cpu_init();
    share_window_init();
    accounting_set_owners(vm_account_owners);
    /* The physical UART's SPI is Tally's console input, on CPU 0. */
    uint32_t uart = gic_uart_intid();
    if (uart) {
        console_set_input(vuart_input);
        BUG_ON(gic_irq_set_handler(uart, console_irq) != ERR_OK);
        gic_irq_route(uart, 0);
        gic_irq_enable(uart, true);
        console_rx_start();
    }
    err = shmem_create(&setup, msg, sizeof(msg));
    if (err != ERR_OK) {
        printf("tally: VMs not started: %s\n", msg);
        return;
    }

    /* VMs with a fixed size first, so that one taking "the rest" leaves them
     * theirs; each keeps its size for its rebuilds. */
    bool built[VM_MAX_VMS] = {false};
    unsigned alive = 0;
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < setup.nr_vms; i++) {
            struct vm_config *c = &setup.vm[i];
            if ((pass == 0) != (c->ram_size != 0))
                continue;
            built[i] = build(c, 1);
            if (built[i] && !c->ram_size)
                c->ram_size = vms[c->id].ram_size;
            alive += built[i];
        }
    }
    atomic_store_u32(&vms_alive, alive, MO_RELAXED);
    bool boot_cpu_runs = false;
    for (unsigned i = 0; i < setup.nr_vms; i++) {
        const struct vm_config *c = &setup.vm[i];
        if (!built[i])
            continue;
        for (unsigned k = 0; k < c->nr_vcpus; k++)
            pcpu_config[c->first_pcpu + k] = c;
        for (unsigned k = 0; k < c->nr_vcpus; k++) {
            if (c->first_pcpu + k == 0)
                boot_cpu_runs = true;
            else
                BUG_ON(smp_call_async(c->first_pcpu + k, pcpu_main) != ERR_OK);
        }
    }
    if (boot_cpu_runs)
        pcpu_main();
    /* Acquire: pairs with each leader's release decrement. */
    while (atomic_load_u32(&vms_alive, MO_ACQUIRE))
        sleep_until_ipi();
    for (unsigned cpu = 1; cpu < TALLY_MAX_CPUS; cpu++)
        if (pcpu_config[cpu])
            smp_call_wait(cpu);
    if (uart)
        gic_irq_enable(uart, false);
    vm_mm_lock();
    shmem_release();
    vm_mm_unlock();
}
