// SPDX-License-Identifier: MIT
/*
 * Page sharing: the frame-state transitions of <tally/share.h> on stage-2
 * address spaces. pKVM's mem_protect.c is the model: a request is checked
 * page by page first (ownership, state, what the other side maps there), and
 * only then changed, so a refused request changes nothing.
 *
 * The commit of a request has at most two steps that can fail, and they are
 * ordered so that a failure is always undone exactly:
 *
 *   1. map the other side's pages, one 4 KiB entry per page (never a block,
 *      so that unmapping any of them later never needs a split, and so can
 *      never fail); undone by unmapping exactly those pages, which also
 *      returns any table the map added;
 *   2. change the caller's own entries (pt_protect_none for a lend, pt_unmap
 *      for a donation): the only step that may need a split (the owner's RAM
 *      is mapped with blocks) and so a table; pt_* calls are all-or-nothing,
 *      and on failure step 1 is undone.
 *
 * Frame metadata changes last, when nothing can fail any more. All of it is
 * guarded by share_lock, which also guards every struct share_vm (counts,
 * dying) and the table of VMs.
 */
#include <tally/errno.h>
#include <tally/page.h>
#include <tally/panic.h>
#include <tally/share.h>
#include <tally/spinlock.h>

/* The owner's RAM, as the VM builder maps it (and reclaim maps it back). */
#define PROT_OWNER (PT_R | PT_W | PT_X)
#define PROT_LENT  (PT_R | PT_W)

static struct spinlock share_lock = SPINLOCK_INIT;
static struct share_vm *vms[SHARE_MAX_VMS]; /* by id; guarded by share_lock */

static struct {
    struct aspace *s1;
    uint64_t va_base, va_size;
} hyp; /* written at boot by share_hyp_init(), before any VM runs */

enum op { OP_SHARE, OP_UNSHARE, OP_LEND, OP_RECLAIM, OP_DONATE, OP_SHARE_HYP, OP_UNSHARE_HYP };

static inline uint64_t page_ia(uint64_t base, uint64_t i)
{
    return base + (i << PAGE_SHIFT);
}

/* --- set-up ------------------------------------------------------------------ */

void share_vm_init(struct share_vm *vm, uint16_t id, struct aspace *s2, uint64_t owned_pages,
                   uint64_t borrow_ipa, uint64_t borrow_size)
{
    BUG_ON(id >= SHARE_MAX_VMS);
    spin_lock(&share_lock);
    BUG_ON(vms[id]);
    *vm = (struct share_vm){.id = id,
                            .s2 = s2,
                            .borrow_ipa = borrow_ipa,
                            .borrow_size = borrow_size,
                            .counts = {.owned = owned_pages}};
    vms[id] = vm;
    spin_unlock(&share_lock);
}

struct share_vm *share_vm_get(uint16_t id)
{
    spin_lock(&share_lock);
    struct share_vm *vm = id < SHARE_MAX_VMS ? vms[id] : NULL;
    spin_unlock(&share_lock);
    return vm;
}

int share_hyp_init(struct aspace *hyp_s1, uint64_t va_base, uint64_t va_size)
{
    if (!IS_ALIGNED(va_base | va_size, PAGE_SIZE))
        return ERR_ALIGN;
    uint64_t lim = 1ull << hyp_s1->ia_bits;
    if (va_base >= lim || va_size > lim - va_base || (va_size >> PAGE_SHIFT) < meta_nr_slots())
        return ERR_RANGE;
    hyp.s1 = hyp_s1;
    hyp.va_base = va_base;
    hyp.va_size = va_size;
    return ERR_OK;
}

void share_hyp_reset(void)
{
    hyp.s1 = NULL;
    hyp.va_base = hyp.va_size = 0;
}

uint64_t share_hyp_va(paddr_t p)
{
    /* Slot indices are dense over every bank: one window page per RAM page. */
    return page_ia(hyp.va_base, meta_slot_index(meta_slot(p)));
}

/* --- checks -------------------------------------------------------------------- */

static int check_nr(uint64_t nr)
{
    if (nr == 0)
        return ERR_INVAL;
    if (nr > SHARE_MAX_PAGES)
        return ERR_TOOBIG;
    return ERR_OK;
}

/* [ia, ia + nr pages) inside the space's input range, without wrapping. */
static int check_range(const struct aspace *as, uint64_t ia, uint64_t nr)
{
    if (!IS_ALIGNED(ia, PAGE_SIZE))
        return ERR_ALIGN;
    uint64_t lim = 1ull << as->ia_bits;
    if (ia >= lim || nr > (lim - ia) >> PAGE_SHIFT)
        return ERR_RANGE;
    return ERR_OK;
}

/* The other side of a share/lend/donate: present, not the caller, alive,
 * and [to_ipa, +nr pages) inside its borrow window. */
static int check_target(const struct share_vm *from, const struct share_vm *to, uint64_t to_ipa,
                        uint64_t nr)
{
    if (!to)
        return ERR_NOVM;
    if (to == from || to->id == from->id)
        return ERR_SELF;
    if (to->dying)
        return ERR_DYING;
    int err = check_range(to->s2, to_ipa, nr);
    if (err != ERR_OK)
        return err;
    uint64_t off = to_ipa - to->borrow_ipa;
    if (to_ipa < to->borrow_ipa || off >= to->borrow_size ||
        nr > (to->borrow_size - off) >> PAGE_SHIFT)
        return ERR_RANGE;
    return ERR_OK;
}

/* The frame an owning stage-2 leaf maps at ia: ERR_NOENT if nothing is
 * mapped, ERR_DEVICE if what is mapped is not a frame (pass-through MMIO or
 * untracked memory). The entry's reference keeps the slot's usage stable. */
static int leaf_frame(struct aspace *as, uint64_t ia, paddr_t *p, struct frame_meta **fm)
{
    bool owned;
    int err = pt_lookup(as, ia, p, NULL, NULL, &owned);
    if (err != ERR_OK)
        return err;
    struct meta_slot *s = meta_slot_lookup(*p);
    if (!owned || !s || page_slot_usage(s) != PAGE_FRAME)
        return ERR_DEVICE;
    *fm = &s->m.frame;
    return ERR_OK;
}

/* The frame at ia, which a check already found: cannot fail. */
static struct frame_meta *frame_at(struct aspace *as, uint64_t ia, paddr_t *p)
{
    struct frame_meta *fm;
    paddr_t q;
    int err = leaf_frame(as, ia, p ? p : &q, &fm);
    BUG_ON(err != ERR_OK);
    return fm;
}

/* Does the owner's page, in state fm, allow op (with `to` the other side)? */
static int check_state(enum op op, const struct share_vm *from, const struct frame_meta *fm,
                       uint16_t to)
{
    if (fm->owner_vm != from->id)
        return ERR_PERM;
    switch (op) {
    case OP_SHARE:
    case OP_LEND:
    case OP_DONATE:
    case OP_SHARE_HYP:
        if (fm->share == FRAME_SHARED_OWNED)
            return ERR_SHARED;
        if (fm->share == FRAME_LENT)
            return ERR_LENT;
        return ERR_OK;
    case OP_UNSHARE:
    case OP_UNSHARE_HYP:
        if (fm->share == FRAME_LENT)
            return ERR_LENT;
        if (fm->share != FRAME_SHARED_OWNED || fm->borrower != to)
            return ERR_NOTSHARED;
        return ERR_OK;
    case OP_RECLAIM:
        if (fm->share != FRAME_LENT || (fm->borrower != FRAME_NO_VM && fm->borrower != to))
            return ERR_NOTSHARED;
        return ERR_OK;
    }
    return ERR_INVAL;
}

/* The borrower maps exactly page p at ia, with its own reference. */
static int check_borrower_maps(struct share_vm *to, uint64_t ia, paddr_t p)
{
    paddr_t q;
    bool owned;
    if (pt_lookup(to->s2, ia, &q, NULL, NULL, &owned) != ERR_OK || !owned || pa_val(q) != pa_val(p))
        return ERR_NOTSHARED;
    return ERR_OK;
}

/*
 * Every page of the caller's range, then the other side's: the whole
 * request is judged before anything changes. to_id: the other side's id
 * (OWNER_HYP for Tally, FRAME_NO_VM when there is none).
 */
static int check_pages(enum op op, struct share_vm *from, uint64_t ipa, uint64_t nr,
                       struct share_vm *to, uint16_t to_id, uint64_t to_ipa)
{
    for (uint64_t i = 0; i < nr; i++) {
        paddr_t p;
        struct frame_meta *fm;
        int err = leaf_frame(from->s2, page_ia(ipa, i), &p, &fm);
        if (err == ERR_OK)
            err = check_state(op, from, fm, to_id);
        if (err == ERR_OK &&
            (op == OP_UNSHARE || (op == OP_RECLAIM && fm->borrower != FRAME_NO_VM)))
            err = check_borrower_maps(to, page_ia(to_ipa, i), p);
        if (err != ERR_OK)
            return err;
    }
    if (op == OP_SHARE || op == OP_LEND || op == OP_DONATE) {
        for (uint64_t i = 0; i < nr; i++)
            if (pt_lookup(to->s2, page_ia(to_ipa, i), NULL, NULL, NULL, NULL) != ERR_NOENT)
                return ERR_EXIST;
    }
    return ERR_OK;
}

/* --- the other side's mappings ---------------------------------------------------- */

/*
 * A page that another VM (or Tally) is about to map becomes a page of its
 * own first: its block (the owner's RAM is typed in compound pages, one
 * count for the whole block) is broken into pages. Otherwise the other
 * side's reference would be on the block's head, and a page that outlives
 * its owner would keep the owner's whole block allocated. The break changes
 * how the references are counted, not what anything maps or may access, so
 * it stands even if the request then fails.
 */
static int break_blocks(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    for (uint64_t i = 0; i < nr; i++) {
        int err = pt_break_block(from->s2, page_ia(ipa, i));
        if (err != ERR_OK)
            return err;
    }
    return ERR_OK;
}

/* Map the caller's pages into the other side's window, one 4 KiB entry
 * each, each taking its own reference; all or nothing. */
static int map_borrower(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                        uint64_t to_ipa, unsigned prot)
{
    for (uint64_t i = 0; i < nr; i++) {
        paddr_t p;
        frame_at(from->s2, page_ia(ipa, i), &p);
        int err = pt_map_frames(to->s2, page_ia(to_ipa, i), p, PAGE_SIZE, prot);
        if (err != ERR_OK) {
            /* Page entries only: this unmap needs no table, so cannot fail. */
            if (i)
                BUG_ON(pt_unmap(to->s2, to_ipa, i << PAGE_SHIFT) != ERR_OK);
            return err;
        }
    }
    return ERR_OK;
}

static void unmap_pages(struct aspace *as, uint64_t ia, uint64_t nr)
{
    int err = pt_unmap(as, ia, nr << PAGE_SHIFT);
    BUG_ON(err != ERR_OK);
}

static void frame_set(struct frame_meta *fm, uint16_t owner, enum frame_share st, uint16_t borrower,
                      uint8_t flags)
{
    fm->owner_vm = owner;
    fm->share = (uint8_t)st;
    fm->borrower = borrower;
    fm->flags = flags;
}

/*
 * The borrower of a shared or lent page lets go of it (relinquish, or its
 * teardown), before its mapping goes. A shared page becomes its owner's
 * alone; a lent one stays lent, with no borrower, until the owner reclaims
 * it. An orphan (its owner is gone) is left as it is: the borrower's
 * mapping is its last, and the page is freed with it. Under share_lock.
 */
static void borrower_lets_go(struct frame_meta *fm)
{
    struct share_vm *owner = fm->owner_vm < SHARE_MAX_VMS ? vms[fm->owner_vm] : NULL;
    if (!owner)
        return;
    if (fm->share == FRAME_SHARED_OWNED) {
        frame_set(fm, owner->id, FRAME_OWNED, FRAME_NO_VM, 0);
        owner->counts.shared--;
    } else {
        fm->borrower = FRAME_NO_VM;
    }
}

/* --- VM to VM ------------------------------------------------------------------------ */

/* Argument checks every VM-to-VM call shares, outside the lock. */
static int check_args(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    int err = check_nr(nr);
    return err != ERR_OK ? err : check_range(from->s2, ipa, nr);
}

/*
 * Share, lend and donate: one shape, three outcomes. Under the lock the
 * whole request is checked, the other side maps the pages (step 1), then a
 * lend or a donation changes the caller's entries (step 2, undoing step 1
 * if that fails), and last, when nothing can fail any more, the metadata
 * and the counts. A kind names the page's new state and how `to` maps it;
 * a donation also differs in whose metadata and counts change.
 */
struct give_kind {
    enum op op;
    enum frame_share st; /* the new state of the page (donate: owned by `to`) */
    unsigned prot;       /* how `to` maps it; a read-only share drops PT_W */
};

static const struct give_kind give_share = {OP_SHARE, FRAME_SHARED_OWNED, PT_R | PT_W};
static const struct give_kind give_lend = {OP_LEND, FRAME_LENT, PROT_LENT};
static const struct give_kind give_donate = {OP_DONATE, FRAME_OWNED, PROT_OWNER};

static int give_map(const struct give_kind *k, struct share_vm *from, uint64_t ipa, uint64_t nr,
                    struct share_vm *to, uint64_t to_ipa, unsigned prot)
{
    int err = check_target(from, to, to_ipa, nr);
    if (err == ERR_OK)
        err = check_pages(k->op, from, ipa, nr, to, to->id, to_ipa);
    if (err == ERR_OK)
        err = break_blocks(from, ipa, nr);
    if (err == ERR_OK)
        err = map_borrower(from, ipa, nr, to, to_ipa, prot);
    if (err != ERR_OK || k->op == OP_SHARE)
        return err;
    /* A lent page's entry stays, holding the owner's reference, with no
     * access; a donated one goes. */
    err = k->op == OP_LEND ? pt_protect_none(from->s2, ipa, nr << PAGE_SHIFT)
                           : pt_unmap(from->s2, ipa, nr << PAGE_SHIFT);
    if (err != ERR_OK)
        unmap_pages(to->s2, to_ipa, nr);
    return err;
}

/* Always inlined: each of the three callers gets a copy specialised for its
 * kind, so the per-page checks see a constant op (out of line, the op is
 * tested again for every page: make bench-exits shows it). */
static always_inline int give(const struct give_kind *k, struct share_vm *from, uint64_t ipa,
                              uint64_t nr, struct share_vm *to, uint64_t to_ipa, uint64_t flags)
{
    int err = check_args(from, ipa, nr);
    if (err == ERR_OK && (flags & ~(uint64_t)SHARE_FLAGS))
        err = ERR_INVAL;
    if (err != ERR_OK)
        return err;
    bool ro = flags & SHARE_RO;
    spin_lock(&share_lock);
    err = give_map(k, from, ipa, nr, to, to_ipa, ro ? k->prot & ~PT_W : k->prot);
    if (err == ERR_OK) {
        /* A donated page is found, and owned, on the receiving side. */
        bool donate = k->op == OP_DONATE;
        struct aspace *as = donate ? to->s2 : from->s2;
        uint64_t base = donate ? to_ipa : ipa;
        uint16_t owner = donate ? to->id : from->id;
        uint16_t borrower = donate ? FRAME_NO_VM : to->id;
        for (uint64_t i = 0; i < nr; i++)
            frame_set(frame_at(as, page_ia(base, i), NULL), owner, k->st, borrower,
                      ro ? FRAME_F_RO : 0);
        switch (k->op) {
        case OP_SHARE:
            from->counts.shared += nr;
            to->counts.borrowed += nr;
            break;
        case OP_LEND:
            from->counts.lent += nr;
            to->counts.borrowed += nr;
            break;
        default: /* OP_DONATE */
            from->counts.owned -= nr;
            to->counts.owned += nr;
            break;
        }
    }
    spin_unlock(&share_lock);
    return err;
}

int share_share(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                uint64_t to_ipa, uint64_t flags)
{
    return give(&give_share, from, ipa, nr, to, to_ipa, flags);
}

int share_lend(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
               uint64_t to_ipa)
{
    return give(&give_lend, from, ipa, nr, to, to_ipa, 0);
}

int share_donate(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                 uint64_t to_ipa)
{
    return give(&give_donate, from, ipa, nr, to, to_ipa, 0);
}

int share_unshare(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                  uint64_t to_ipa)
{
    int err = check_args(from, ipa, nr);
    if (err != ERR_OK)
        return err;
    spin_lock(&share_lock);
    err = !to ? ERR_NOVM : to == from ? ERR_SELF : check_range(to->s2, to_ipa, nr);
    if (err == ERR_OK)
        err = check_pages(OP_UNSHARE, from, ipa, nr, to, to->id, to_ipa);
    if (err == ERR_OK) {
        for (uint64_t i = 0; i < nr; i++)
            frame_set(frame_at(from->s2, page_ia(ipa, i), NULL), from->id, FRAME_OWNED, FRAME_NO_VM,
                      0);
        unmap_pages(to->s2, to_ipa, nr);
        from->counts.shared -= nr;
        to->counts.borrowed -= nr;
    }
    spin_unlock(&share_lock);
    return err;
}

int share_reclaim(struct share_vm *from, uint64_t ipa, uint64_t nr, struct share_vm *to,
                  uint64_t to_ipa)
{
    int err = check_args(from, ipa, nr);
    if (err != ERR_OK)
        return err;
    spin_lock(&share_lock);
    if (to == from)
        err = ERR_SELF;
    else if (to)
        err = check_range(to->s2, to_ipa, nr);
    if (err == ERR_OK)
        err = check_pages(OP_RECLAIM, from, ipa, nr, to, to ? to->id : FRAME_NO_VM, to_ipa);
    /* The only step that can fail (a split of a no-access block). */
    if (err == ERR_OK)
        err = pt_protect(from->s2, ipa, nr << PAGE_SHIFT, PROT_OWNER);
    if (err == ERR_OK) {
        for (uint64_t i = 0; i < nr; i++) {
            struct frame_meta *fm = frame_at(from->s2, page_ia(ipa, i), NULL);
            if (fm->borrower != FRAME_NO_VM) {
                unmap_pages(to->s2, page_ia(to_ipa, i), 1);
                to->counts.borrowed--;
            }
            frame_set(fm, from->id, FRAME_OWNED, FRAME_NO_VM, 0);
        }
        from->counts.lent -= nr;
    }
    spin_unlock(&share_lock);
    return err;
}

int share_relinquish(struct share_vm *vm, uint64_t ipa, uint64_t nr)
{
    int err = check_args(vm, ipa, nr);
    if (err != ERR_OK)
        return err;
    spin_lock(&share_lock);
    for (uint64_t i = 0; i < nr && err == ERR_OK; i++) {
        paddr_t p;
        struct frame_meta *fm;
        err = leaf_frame(vm->s2, page_ia(ipa, i), &p, &fm);
        if (err == ERR_OK &&
            (fm->owner_vm == vm->id || fm->share == FRAME_OWNED || fm->borrower != vm->id))
            err = ERR_NOTSHARED;
    }
    if (err == ERR_OK) {
        /* The metadata first: a page whose owner is gone may be freed by
         * the unmap below, and its slot is not ours to touch after that. */
        for (uint64_t i = 0; i < nr; i++)
            borrower_lets_go(frame_at(vm->s2, page_ia(ipa, i), NULL));
        unmap_pages(vm->s2, ipa, nr);
        vm->counts.borrowed -= nr;
    }
    spin_unlock(&share_lock);
    return err;
}

/* --- with Tally ------------------------------------------------------------------------- */

/* Argument checks both calls share, outside the lock. */
static int check_hyp_args(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    int err = check_args(from, ipa, nr);
    return err == ERR_OK && !hyp.s1 ? ERR_NOTSUP : err;
}

/* Map the caller's pages into Tally's window, one reference each; all or
 * nothing. */
static int map_hyp(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    for (uint64_t i = 0; i < nr; i++) {
        paddr_t p;
        frame_at(from->s2, page_ia(ipa, i), &p);
        int err = pt_map_frames(hyp.s1, share_hyp_va(p), p, PAGE_SIZE, PT_R | PT_W);
        if (err != ERR_OK) {
            /* Single pages: these unmaps need no table and cannot fail. */
            for (uint64_t k = 0; k < i; k++) {
                frame_at(from->s2, page_ia(ipa, k), &p);
                unmap_pages(hyp.s1, share_hyp_va(p), 1);
            }
            return err;
        }
    }
    return ERR_OK;
}

int share_with_hyp(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    int err = check_hyp_args(from, ipa, nr);
    if (err != ERR_OK)
        return err;
    spin_lock(&share_lock);
    err = check_pages(OP_SHARE_HYP, from, ipa, nr, NULL, OWNER_HYP, 0);
    if (err == ERR_OK)
        err = break_blocks(from, ipa, nr);
    if (err == ERR_OK)
        err = map_hyp(from, ipa, nr);
    if (err == ERR_OK) {
        for (uint64_t i = 0; i < nr; i++)
            frame_set(frame_at(from->s2, page_ia(ipa, i), NULL), from->id, FRAME_SHARED_OWNED,
                      OWNER_HYP, 0);
        from->counts.hyp_shared += nr;
    }
    spin_unlock(&share_lock);
    return err;
}

int share_unshare_hyp(struct share_vm *from, uint64_t ipa, uint64_t nr)
{
    int err = check_hyp_args(from, ipa, nr);
    if (err != ERR_OK)
        return err;
    spin_lock(&share_lock);
    err = check_pages(OP_UNSHARE_HYP, from, ipa, nr, NULL, OWNER_HYP, 0);
    if (err == ERR_OK) {
        for (uint64_t i = 0; i < nr; i++) {
            paddr_t p;
            struct frame_meta *fm = frame_at(from->s2, page_ia(ipa, i), &p);
            unmap_pages(hyp.s1, share_hyp_va(p), 1);
            frame_set(fm, from->id, FRAME_OWNED, FRAME_NO_VM, 0);
        }
        from->counts.hyp_shared -= nr;
    }
    spin_unlock(&share_lock);
    return err;
}

/* --- accounting and teardown ---------------------------------------------------------- */

void share_vm_counts(struct share_vm *vm, struct share_counts *out)
{
    spin_lock(&share_lock);
    *out = vm->counts;
    spin_unlock(&share_lock);
}

/* One page of the dying VM's stage-2 (an owning leaf's). */
static void teardown_page(struct share_vm *vm, paddr_t p)
{
    struct meta_slot *s = meta_slot(p);
    if (page_slot_usage(s) != PAGE_FRAME)
        return;
    struct frame_meta *fm = &s->m.frame;
    if (fm->share == FRAME_OWNED)
        return;
    if (fm->owner_vm == vm->id) {
        if (fm->borrower == OWNER_HYP) {
            /* Tally lets go of what a dying VM gave it. Lock order: this
             * VM's stage-2 (held by the walk), then Tally's stage-1. */
            unmap_pages(hyp.s1, share_hyp_va(p), 1);
            frame_set(fm, vm->id, FRAME_OWNED, FRAME_NO_VM, 0);
        } else if (fm->borrower == FRAME_NO_VM) {
            /* Lent, and the borrower already let go: only this VM holds it. */
            frame_set(fm, vm->id, FRAME_OWNED, FRAME_NO_VM, 0);
        } else {
            /* The borrower keeps it until it lets go. */
            fm->owner_vm = FRAME_NO_VM;
        }
        return;
    }
    if (fm->borrower == vm->id)
        borrower_lets_go(fm);
}

static int teardown_leaf(const struct pt_visit *v, void *ctx)
{
    if (!(v->pte & PTE_SW_OWNED))
        return 0;
    uint64_t n = pte_level_size(v->level) >> PAGE_SHIFT;
    for (uint64_t i = 0; i < n; i++)
        teardown_page(ctx, pa(pte_oa(v->pte) + (i << PAGE_SHIFT)));
    return 0;
}

void share_vm_teardown(struct share_vm *vm)
{
    static const struct pt_visitor visitor = {.leaf = teardown_leaf};
    spin_lock(&share_lock);
    BUG_ON(vm->id >= SHARE_MAX_VMS || vms[vm->id] != vm);
    vm->dying = true;
    int err = pt_walk(vm->s2, 0, 1ull << vm->s2->ia_bits, &visitor, vm);
    BUG_ON(err != ERR_OK);
    vms[vm->id] = NULL;
    vm->counts = (struct share_counts){0};
    spin_unlock(&share_lock);
}
