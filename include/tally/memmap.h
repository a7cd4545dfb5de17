/* SPDX-License-Identifier: MIT */
/*
 * The boot memory map: what the device tree says about RAM, turned into the
 * banks the slot array covers and the ranges that are not free.
 *
 * memmap_from_fdt() reads the flattened device tree with libfdt and fills a
 * struct memmap:
 *
 *   banks     every `device_type = "memory"` child of the root (its name does
 *             not matter: QEMU names it memory@..., firmware may not), one bank
 *             per (address, size) pair of `reg`, cells from the root's
 *             #address-cells/#size-cells. Unaligned banks are rounded inward to
 *             whole pages without comment (Linux does the same). Sorted by base.
 *   reserved  /memreserve/ entries, every /reserved-memory child with `reg`
 *             (a `no-map` one is flagged: Tally's EL2 map leaves it out; the
 *             others stay identity mapped like all RAM), the DTB blob itself
 *             (fdt_totalsize bytes at its address), /chosen's
 *             linux,initrd-start..end, every /chosen child compatible with
 *             "multiboot,module" (QEMU's guest-loader), all PAGE_RESERVED, and
 *             the Tally image as PAGE_HYP. Each is rounded outward to whole
 *             pages and clipped to RAM; the part outside every bank is
 *             dropped (there is no slot to mark). Sorted by base and disjoint:
 *             overlapping ranges of the same usage are merged (the lower one's
 *             name is kept); the image overlapping anything else is an error,
 *             and so is a no-map range overlapping one Tally reads (the DTB,
 *             the initrd, a boot module); a no-map range merged with another
 *             (e.g. a /memreserve/ entry) makes the merged range no-map.
 *
 * Bad input returns a negative ERR_* code, leaves *m unchanged, and writes
 * a one-line message naming the problem into msg (snprintf; on success msg
 * holds ""). The message is what the boot console prints, e.g.
 *   "bad DTB at 0x48000000: FDT_ERR_BADMAGIC"
 *   "bad DTB at 0x48000000: truncated or corrupt structure block (FDT_ERR_BADSTRUCTURE)"
 *   "no memory node in the DTB (no root child with device_type = \"memory\")"
 *   "overlapping memory banks: [0x40000000, 0x60000000) in /memory@40000000
 *    and [0x50000000, 0x70000000) in /ram@50000000"
 * The formats used are %s, %u and %llx, nothing else.
 *
 * The blob's size is not known at boot (only its address, in x0), so the
 * checks trust the header's totalsize only after fdt_check_header(), cap it
 * at MEMMAP_FDT_MAX_SIZE, and then walk the whole structure block
 * (fdt_check_full): a blob cut short and followed by zeroes or garbage fails
 * that walk.
 *
 * Freestanding: no allocation, no stdio beyond snprintf, libfdt only.
 */
#ifndef TALLY_MEMMAP_H
#define TALLY_MEMMAP_H

#include <tally/meta.h>
#include <tally/types.h>

#define MEMMAP_MAX_RESERVED 32
/* Largest DTB accepted (Linux arm64's limit too). */
#define MEMMAP_FDT_MAX_SIZE (2ul << 20)

struct memmap_range {
    paddr_t base;          /* page aligned */
    uint64_t size;         /* whole pages, never 0 */
    enum page_usage usage; /* PAGE_RESERVED, PAGE_HYP or what memmap_carve() was given */
    bool nomap;            /* a /reserved-memory child with no-map: never mapped */
    /* "dtb", "memreserve", "tally image", "initrd", or a DT node name (a
     * string inside the blob, which stays reserved) */
    const char *what;
};

struct memmap {
    struct mem_bank banks[META_MAX_BANKS];
    unsigned nr_banks;
    struct memmap_range reserved[MEMMAP_MAX_RESERVED];
    unsigned nr_reserved;
};

/*
 * Fill *m from the device tree at fdt, which is also its physical address
 * (EL2 runs the boot path with the MMU off or identity mapped). The image is
 * [image_start, image_end). Returns ERR_OK, or:
 *   ERR_INVAL  bad header or magic, truncated or corrupt blob, malformed reg,
 *              a bank of size 0, overlapping banks
 *   ERR_NOENT  no memory node
 *   ERR_ALIGN  a bank that holds no whole page once rounded inward
 *   ERR_RANGE  a bank or reserved range that wraps past 2^64
 *   ERR_NOMEM  more banks than META_MAX_BANKS, or more reserved ranges than
 *              MEMMAP_MAX_RESERVED
 *   ERR_EXIST  the image overlaps a reserved range, or a no-map range
 *              overlaps the DTB, the initrd or a boot module
 */
int memmap_from_fdt(const void *fdt, paddr_t image_start, paddr_t image_end, struct memmap *m,
                    char *msg, size_t msglen);

/* The same for a blob whose physical address is fdt_pa rather than its
 * pointer (host tests; a blob that was copied). */
int memmap_from_fdt_at(const void *fdt, paddr_t fdt_pa, paddr_t image_start, paddr_t image_end,
                       struct memmap *m, char *msg, size_t msglen);

/*
 * Take `size` bytes (rounded up to pages) aligned to `align` (a power of two,
 * at least PAGE_SIZE) from the lowest free part of RAM and record them as a
 * reserved range with `usage` and `what` (the slot array: PAGE_META). Returns
 * ERR_OK with *out set, ERR_INVAL for a bad size or alignment, ERR_NOMEM if
 * nothing fits or the reserved table is full (then *m is unchanged).
 */
int memmap_carve(struct memmap *m, uint64_t size, uint64_t align, enum page_usage usage,
                 const char *what, paddr_t *out);

/*
 * The free RAM: banks minus reserved ranges, as maximal page-aligned ranges
 * in address order. Writes at most max of them to out and returns how many
 * there are (at most nr_banks + nr_reserved).
 */
unsigned memmap_free_ranges(const struct memmap *m, struct mem_bank *out, unsigned max);

#endif
