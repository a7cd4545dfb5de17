// SPDX-License-Identifier: MIT
// What each page usage is: its name, and the destructor the last drop of a
// page of that usage runs before the slot goes back to unused. The tracker
// (page.c) never names a consumer: it looks the usage up here. A usage that
// the tracker does not count (reserved, hypervisor image, metadata) has no
// entry in `tracked`, and a last drop of one is a panic.
//
// A page-table page's destructor drops the references its entries own,
// which re-enters the tracker: that recursion is what owning references
// means, not a layering cycle (docs/architecture.md).
#include <tally/meta.h>
#include <tally/panic.h>
#include <tally/pgtable.h>

#include "mm_internal.h"

struct usage_desc {
    const char *name;
    bool tracked;                         /* references counted in ref_count */
    void (*destroy)(struct meta_slot *s); /* NULL: nothing to undo */
};

static const struct usage_desc usages[PAGE_USAGE_COUNT] = {
    [PAGE_UNUSED] = {"unused", false, NULL},
    [PAGE_RESERVED] = {"reserved", false, NULL},
    [PAGE_HYP] = {"hypervisor", false, NULL},
    [PAGE_META] = {"metadata", false, NULL},
    /* A frame's contents are zeroed when it is next typed (SLOT_F_DIRTY). */
    [PAGE_FRAME] = {"frame", true, NULL},
    [PAGE_PT] = {"page-table", true, pt_page_release},
    [PAGE_KSTACK] = {"kernel-stack", true, NULL},
};

const char *page_usage_name(enum page_usage u)
{
    return (unsigned)u < PAGE_USAGE_COUNT ? usages[u].name : "invalid";
}

void usage_destroy(struct meta_slot *s, enum page_usage u)
{
    if ((unsigned)u >= PAGE_USAGE_COUNT || !usages[u].tracked)
        panic("last drop of page %#llx with untracked usage %s",
              (unsigned long long)pa_val(meta_slot_paddr(s)), page_usage_name(u));
    if (usages[u].destroy)
        usages[u].destroy(s);
}
