// SPDX-License-Identifier: MIT
// The VMs the host device tree describes (docs/vm-binding.md):
//
//   /chosen/module@ADDR    boot modules (QEMU's guest-loader: multiboot,module
//                          + multiboot,kernel or multiboot,ramdisk; the
//                          kernel's bootargs)
//   /chosen/tally-vms      compatible "tally,vms", #address-cells 1,
//                          #size-cells 0, and children:
//     vm@N                 compatible "tally,vm", reg = <N> (the VM id),
//                          tally,vcpus, tally,memory-size (2 cells, bytes),
//                          tally,modules (2-cell addresses of module nodes),
//                          bootargs (optional, else the kernel module's)
//     shmem@K              compatible "tally,shmem", reg = <K>,
//                          tally,size (2 cells), tally,members (VM ids)
//
// VM 0's modules are those no vm@N claims (so a guest-loader-only tree
// describes VM 0 as before); a vm@0 node only adds its CPUs and memory.
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <tally/errno.h>

#include "vm.h"

#define MAX_MODULES 16

struct module {
    uint64_t base, size;
    bool kernel, ramdisk, claimed;
    const char *bootargs;
};

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

static unsigned read_modules(const void *fdt, int chosen, struct module *m)
{
    unsigned n = 0;
    int node;
    fdt_for_each_subnode(node, fdt, chosen)
    {
        if (n == MAX_MODULES || fdt_node_check_compatible(fdt, node, "multiboot,module") != 0)
            continue;
        struct module *x = &m[n];
        memset(x, 0, sizeof(*x));
        if (!module_reg(fdt, chosen, node, &x->base, &x->size))
            continue;
        x->kernel = fdt_node_check_compatible(fdt, node, "multiboot,kernel") == 0;
        x->ramdisk = !x->kernel && fdt_node_check_compatible(fdt, node, "multiboot,ramdisk") == 0;
        if (x->kernel)
            x->bootargs = fdt_getprop(fdt, node, "bootargs", NULL);
        n++;
    }
    return n;
}

/* A u32 property, or def if absent. False if present but not one cell. */
static bool prop_u32(const void *fdt, int node, const char *name, uint32_t def, uint32_t *v)
{
    int len;
    const fdt32_t *p = fdt_getprop(fdt, node, name, &len);
    if (!p) {
        *v = def;
        return true;
    }
    if (len != 4)
        return false;
    *v = fdt32_to_cpu(*p);
    return true;
}

/* A 2-cell u64 property, or 0 if absent. False if present but not 8 bytes. */
static bool prop_u64(const void *fdt, int node, const char *name, uint64_t *v)
{
    int len;
    const fdt32_t *p = fdt_getprop(fdt, node, name, &len);
    *v = 0;
    if (!p)
        return true;
    if (len != 8)
        return false;
    *v = ((uint64_t)fdt32_to_cpu(p[0]) << 32) | fdt32_to_cpu(p[1]);
    return true;
}

/* Take the modules a vm@N names (tally,modules) for c. */
static int claim_modules(const void *fdt, int node, struct module *m, unsigned nr,
                         struct vm_config *c, char *msg, size_t len)
{
    int plen;
    const fdt32_t *p = fdt_getprop(fdt, node, "tally,modules", &plen);
    if (!p)
        return ERR_OK;
    if (plen <= 0 || plen % 8) {
        snprintf(msg, len, "VM %u: tally,modules is %d bytes, not pairs of cells", c->id, plen);
        return ERR_INVAL;
    }
    for (int i = 0; i < plen / 8; i++) {
        uint64_t a = ((uint64_t)fdt32_to_cpu(p[2 * i]) << 32) | fdt32_to_cpu(p[2 * i + 1]);
        struct module *x = NULL;
        for (unsigned k = 0; k < nr && !x; k++)
            if (m[k].base == a)
                x = &m[k];
        if (!x || x->claimed) {
            snprintf(msg, len, "VM %u: %s module at 0x%lx", c->id,
                     x ? "a second VM claims the" : "no", a);
            return ERR_INVAL;
        }
        x->claimed = true;
        if (x->kernel && !c->mods.kernel_size) {
            c->mods.kernel = pa(x->base);
            c->mods.kernel_size = x->size;
            if (!c->mods.bootargs)
                c->mods.bootargs = x->bootargs;
        } else if (x->ramdisk && !c->mods.initrd_size) {
            c->mods.initrd = pa(x->base);
            c->mods.initrd_size = x->size;
        }
    }
    return ERR_OK;
}

static int read_vm(const void *fdt, int node, struct vm_setup *s, struct module *m, unsigned nr,
                   char *msg, size_t len)
{
    uint32_t id, vcpus;
    if (!prop_u32(fdt, node, "reg", VM_MAX_VMS, &id) || id >= VM_MAX_VMS) {
        snprintf(msg, len, "%s: reg must be a VM id below %u", fdt_get_name(fdt, node, NULL),
                 VM_MAX_VMS);
        return ERR_INVAL;
    }
    struct vm_config *c = &s->vm[id];
    if (c->id == id) {
        snprintf(msg, len, "VM %u described twice", id);
        return ERR_INVAL;
    }
    c->id = id;
    if (!prop_u32(fdt, node, "tally,vcpus", id == 0 ? 0 : 1, &vcpus) ||
        (id && (vcpus == 0 || vcpus > VM_MAX_VCPUS))) {
        snprintf(msg, len, "VM %u: tally,vcpus must be 1..%u", id, VM_MAX_VCPUS);
        return ERR_INVAL;
    }
    c->nr_vcpus = vcpus;
    if (!prop_u64(fdt, node, "tally,memory-size", &c->ram_size) || (c->ram_size & 0xfff) ||
        (id && !c->ram_size)) {
        snprintf(msg, len, "VM %u: tally,memory-size must be a whole number of pages%s", id,
                 id ? " (and is required beyond VM 0)" : "");
        return ERR_INVAL;
    }
    c->mods.bootargs = fdt_getprop(fdt, node, "bootargs", NULL);
    return claim_modules(fdt, node, m, nr, c, msg, len);
}

static int read_shmem(const void *fdt, int node, struct vm_setup *s, char *msg, size_t len)
{
    uint32_t k;
    if (!prop_u32(fdt, node, "reg", VM_MAX_SHMEM, &k) || k >= VM_MAX_SHMEM || k != s->nr_shmem) {
        snprintf(msg, len, "%s: reg must number the regions 0, 1, ... (at most %u)",
                 fdt_get_name(fdt, node, NULL), VM_MAX_SHMEM);
        return ERR_INVAL;
    }
    struct vm_shmem_config *r = &s->shmem[k];
    if (!prop_u64(fdt, node, "tally,size", &r->size) || !r->size || (r->size & 0xfff)) {
        snprintf(msg, len, "shared region %u: tally,size must be a whole number of pages", k);
        return ERR_INVAL;
    }
    int plen;
    const fdt32_t *p = fdt_getprop(fdt, node, "tally,members", &plen);
    if (!p || plen <= 0 || plen % 4) {
        snprintf(msg, len, "shared region %u: no tally,members", k);
        return ERR_INVAL;
    }
    for (int i = 0; i < plen / 4; i++) {
        uint32_t v = fdt32_to_cpu(p[i]);
        if (v >= VM_MAX_VMS) {
            snprintf(msg, len, "shared region %u: member %u is not a VM id", k, v);
            return ERR_INVAL;
        }
        r->members |= 1u << v;
    }
    s->nr_shmem++;
    return ERR_OK;
}

int vm_setup_from_fdt(const void *fdt, struct vm_setup *s, char *msg, size_t len)
{
    struct module m[MAX_MODULES];
    memset(s, 0, sizeof(*s));
    msg[0] = 0;
    for (unsigned i = 0; i < VM_MAX_VMS; i++)
        s->vm[i].id = VM_MAX_VMS; /* not described */
    int chosen = fdt_path_offset(fdt, "/chosen");
    if (chosen < 0)
        return ERR_NOENT;
    unsigned nr = read_modules(fdt, chosen, m);
    int vms = fdt_subnode_offset(fdt, chosen, "tally-vms"), node, err;
    if (vms >= 0 && fdt_node_check_compatible(fdt, vms, "tally,vms") == 0) {
        fdt_for_each_subnode(node, fdt, vms)
        {
            if (fdt_node_check_compatible(fdt, node, "tally,vm") == 0)
                err = read_vm(fdt, node, s, m, nr, msg, len);
            else if (fdt_node_check_compatible(fdt, node, "tally,shmem") == 0)
                err = read_shmem(fdt, node, s, msg, len);
            else
                continue;
            if (err != ERR_OK)
                return err;
        }
    }
    /* VM 0: the modules nobody claimed. */
    struct vm_config *c0 = &s->vm[0];
    bool vm0_node = c0->id == 0, unclaimed = false;
    for (unsigned i = 0; i < nr; i++) {
        if (m[i].claimed)
            continue;
        unclaimed = true;
        if (m[i].kernel && !c0->mods.kernel_size) {
            c0->mods.kernel = pa(m[i].base);
            c0->mods.kernel_size = m[i].size;
            if (!c0->mods.bootargs)
                c0->mods.bootargs = m[i].bootargs;
        } else if (m[i].ramdisk && !c0->mods.initrd_size) {
            c0->mods.initrd = pa(m[i].base);
            c0->mods.initrd_size = m[i].size;
        }
    }
    if ((vm0_node || unclaimed) && !c0->mods.kernel_size) {
        snprintf(msg, len,
                 "VM 0 not started: no kernel among the boot modules (none is compatible "
                 "\"multiboot,kernel\")");
        return ERR_INVAL;
    }
    if (c0->mods.kernel_size)
        c0->id = 0;
    /* VM 0 first (its first pCPU is the boot CPU), then by id. */
    struct vm_config sorted[VM_MAX_VMS];
    for (unsigned i = 0; i < VM_MAX_VMS; i++) {
        struct vm_config *c = &s->vm[i];
        if (c->id != i)
            continue;
        if (!c->mods.kernel_size) {
            snprintf(msg, len, "VM %u not started: it has no kernel module (tally,modules)", i);
            return ERR_INVAL;
        }
        sorted[s->nr_vms++] = *c;
    }
    for (unsigned k = 0; k < s->nr_shmem; k++)
        for (unsigned i = 0; i < VM_MAX_VMS; i++)
            if (s->shmem[k].members & (1u << i))
                s->vm[i].shmem |= 1u << k;
    for (unsigned i = 0; i < s->nr_vms; i++)
        sorted[i].shmem = s->vm[sorted[i].id].shmem;
    memcpy(s->vm, sorted, sizeof(sorted[0]) * s->nr_vms);
    return s->nr_vms ? ERR_OK : ERR_NOENT;
}

int vm_setup_assign_cpus(struct vm_setup *s, unsigned nr_cpus, char *msg, size_t len)
{
    unsigned claimed = 0;
    for (unsigned i = 0; i < s->nr_vms; i++)
        claimed += s->vm[i].nr_vcpus;
    if (claimed > nr_cpus ||
        (s->nr_vms && s->vm[0].id == 0 && !s->vm[0].nr_vcpus && claimed >= nr_cpus)) {
        snprintf(msg, len, "the VMs ask for %u vCPUs%s, and there are %u CPUs (one vCPU each)",
                 claimed, s->vm[0].id == 0 && !s->vm[0].nr_vcpus ? " beside VM 0" : "", nr_cpus);
        return ERR_RANGE;
    }
    unsigned next = 0;
    for (unsigned i = 0; i < s->nr_vms; i++) {
        struct vm_config *c = &s->vm[i];
        if (!c->nr_vcpus)
            c->nr_vcpus = nr_cpus - claimed; /* VM 0: the rest */
        c->first_pcpu = next;
        next += c->nr_vcpus;
    }
    return ERR_OK;
}
