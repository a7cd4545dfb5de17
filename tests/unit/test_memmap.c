// SPDX-License-Identifier: MIT
// Device tree -> boot memory map (hyp/core/memmap.c). Blobs are made by dtc from
// tests/dt/*.dts, and QEMU's own virt and raspi4b trees are dumped with
// dumpdtb=, at build time (mk/dt.mk); they are read from $TALLY_DT_DIR.
// Each test asserts the exact banks, reserved ranges and message.
#include "../host/harness.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tally/errno.h>
#include <tally/memmap.h>

/* Where the tests pretend the blob and the image sit in physical memory. */
#define FDT_PA    0x4c000000ull
#define IMG_START 0x40200000ull
#define IMG_END   0x40280000ull

static void *blob;
static size_t blob_size;
static struct memmap mm;
static char msg[256];

static void load(const char *name)
{
    free(blob);
    blob = harness_load_dtb(name, &blob_size);
}

static void teardown(void)
{
    free(blob);
    blob = NULL;
}

static int parse(void)
{
    memset(&mm, 0xa5, sizeof(mm));
    memset(msg, 'x', sizeof(msg));
    return memmap_from_fdt_at(blob, pa(FDT_PA), pa(IMG_START), pa(IMG_END), &mm, msg, sizeof(msg));
}

static void parse_ok(const char *name)
{
    load(name);
    int err = parse();
    ck_assert_msg(err == ERR_OK, "%s: error %d: %s", name, err, msg);
    ck_assert_str_eq(msg, "");
}

static void expect_bank(unsigned i, uint64_t base, uint64_t size)
{
    ck_assert_uint_lt(i, mm.nr_banks);
    ck_assert_msg(pa_val(mm.banks[i].base) == base && mm.banks[i].size == size,
                  "bank %u is [%#llx, +%#llx), expected [%#llx, +%#llx)", i,
                  (unsigned long long)pa_val(mm.banks[i].base),
                  (unsigned long long)mm.banks[i].size, (unsigned long long)base,
                  (unsigned long long)size);
}

static void expect_reserved(unsigned i, uint64_t base, uint64_t size, enum page_usage usage,
                            const char *what)
{
    ck_assert_uint_lt(i, mm.nr_reserved);
    const struct memmap_range *r = &mm.reserved[i];
    ck_assert_msg(pa_val(r->base) == base && r->size == size,
                  "reserved %u (%s) is [%#llx, +%#llx), expected [%#llx, +%#llx)", i, r->what,
                  (unsigned long long)pa_val(r->base), (unsigned long long)r->size,
                  (unsigned long long)base, (unsigned long long)size);
    ck_assert_int_eq(r->usage, usage);
    ck_assert_str_eq(r->what, what);
}

/* The image and the (single-page) blob every small test tree has. */
static void expect_image(unsigned i)
{
    expect_reserved(i, IMG_START, IMG_END - IMG_START, PAGE_HYP, "tally image");
}
static void expect_dtb(unsigned i)
{
    expect_reserved(i, FDT_PA, PAGE_SIZE, PAGE_RESERVED, "dtb");
}

static uint64_t free_pages(void)
{
    struct mem_bank f[META_MAX_BANKS + MEMMAP_MAX_RESERVED];
    unsigned n = memmap_free_ranges(&mm, f, ARRAY_SIZE(f));
    ck_assert_uint_le(n, ARRAY_SIZE(f));
    uint64_t pages = 0;
    for (unsigned i = 0; i < n; i++)
        pages += f[i].size / PAGE_SIZE;
    return pages;
}

/* A failed parse names the problem and leaves the map as it was. */
static void parse_fails(const char *name, int want_err, const char *want_msg)
{
    load(name);
    int err = parse();
    ck_assert_msg(err == want_err, "%s: error %d (%s), expected %d", name, err, msg, want_err);
    ck_assert_str_eq(msg, want_msg);
    struct memmap poison;
    memset(&poison, 0xa5, sizeof(poison));
    ck_assert_int_eq(memcmp(&mm, &poison, sizeof(mm)), 0);
}

START_TEST(test_one_bank_reserves_image_and_dtb)
{
    parse_ok("one-bank");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40000000, 0x10000000);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_image(0);
    expect_dtb(1);
    ck_assert_uint_eq(free_pages(), 0x10000 - 0x80 - 1);
}
END_TEST

START_TEST(test_two_banks_are_sorted_and_the_hole_is_not_ram)
{
    parse_ok("two-banks");
    ck_assert_uint_eq(mm.nr_banks, 2);
    expect_bank(0, 0x40000000, 0x10000000);
    expect_bank(1, 0x100000000, 0x20000000);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_image(0);
    expect_dtb(1);

    struct mem_bank f[8];
    ck_assert_uint_eq(memmap_free_ranges(&mm, f, 8), 4);
    uint64_t want[4][2] = {{0x40000000, 0x200000},
                           {IMG_END, FDT_PA - IMG_END},
                           {FDT_PA + PAGE_SIZE, 0x50000000 - FDT_PA - PAGE_SIZE},
                           {0x100000000, 0x20000000}};
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(pa_val(f[i].base), want[i][0]);
        ck_assert_uint_eq(f[i].size, want[i][1]);
    }
}
END_TEST

START_TEST(test_memreserve_rounds_outward_clips_and_drops_outside_ram)
{
    parse_ok("memreserve");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40000000, 0x10000000);
    /* 0x3ffff000+0x2000 is clipped to RAM's first page and merges with the
     * 0x40000000 entry; 0x10000000 is outside RAM and gone. */
    ck_assert_uint_eq(mm.nr_reserved, 4);
    expect_reserved(0, 0x40000000, 0x1000, PAGE_RESERVED, "memreserve");
    expect_image(1);
    expect_dtb(2);
    expect_reserved(3, 0x4ff00000, 0x1000, PAGE_RESERVED, "memreserve");
    ck_assert_uint_eq(free_pages(), 0x10000 - 0x80 - 3);
}
END_TEST

START_TEST(test_reserved_memory_children_with_reg_are_reserved)
{
    parse_ok("reserved-memory");
    ck_assert_uint_eq(mm.nr_banks, 1);
    ck_assert_uint_eq(mm.nr_reserved, 5);
    expect_image(0);
    expect_dtb(1);
    /* The /memreserve/ page at 0x4e100000 lies inside secmon: merged,
     * secmon's name kept (it starts lower). */
    expect_reserved(2, 0x4e000000, 0x200000, PAGE_RESERVED, "secmon@4e000000");
    expect_reserved(3, 0x4f000000, 0x100000, PAGE_RESERVED, "shmem@4f000000");
    /* tail@4ffff000 runs 0x2000 past RAM: clipped. linux,cma (size only)
     * and the disabled off@4f800000 reserve nothing. */
    expect_reserved(4, 0x4ffff000, 0x1000, PAGE_RESERVED, "tail@4ffff000");
    ck_assert_uint_eq(free_pages(), 0x10000 - 0x80 - 1 - 0x200 - 0x100 - 1);
}
END_TEST

START_TEST(test_boot_modules_and_initrd_are_reserved)
{
    parse_ok("modules");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40000000, 0x20000000);
    /* The blob's page is the initrd's (FDT_PA is the initrd's start): same
     * usage, merged, the initrd's name kept (it was recorded first). The
     * "vendor,not-a-module" child reserves nothing. */
    ck_assert_uint_eq(mm.nr_reserved, 4);
    expect_image(0);
    expect_reserved(1, 0x48000000, 0x2000, PAGE_RESERVED, "module@48000000");
    expect_reserved(2, 0x49000000, 0x801000, PAGE_RESERVED, "module@49000000");
    expect_reserved(3, 0x4c000000, 0x1000, PAGE_RESERVED, "initrd");
    ck_assert_uint_eq(free_pages(), 0x20000 - 0x80 - 2 - 0x801 - 1);
}
END_TEST

START_TEST(test_no_memory_node_is_refused)
{
    parse_fails("no-memory", ERR_NOENT,
                "no memory node in the DTB (no root child with device_type = \"memory\")");
}
END_TEST

/* Found by tests/fuzz/fuzz_memmap.c: rounding that wraps past 2^64. */
START_TEST(test_bank_in_the_last_page_is_refused_not_wrapped)
{
    parse_fails("bank-rounds-up-past-2-64", ERR_ALIGN,
                "memory bank [0xfffffffffffff001, 0xffffffffffffffff) in /memory@fffffffffffff001 "
                "holds no whole page");
}
END_TEST

START_TEST(test_reserved_range_ending_at_2_64_is_refused_not_dropped)
{
    parse_fails("reserved-end-rounds-to-2-64", ERR_RANGE,
                "reserved range [0x0, +0xffffffffffffff00) (all@0) wraps past "
                "2^64");
}
END_TEST

START_TEST(test_overlapping_banks_are_refused_naming_both)
{
    parse_fails("overlap", ERR_INVAL,
                "overlapping memory banks: [0x40000000, 0x50000000) in /memory@40000000 and "
                "[0x48000000, 0x58000000) in /ram@48000000");
}
END_TEST

START_TEST(test_too_many_banks_are_refused)
{
    parse_fails("too-many-banks", ERR_NOMEM,
                "more than 8 memory banks (at 0x900000000 in /memory@900000000)");
}
END_TEST

START_TEST(test_too_many_reserved_ranges_are_refused)
{
    parse_fails("too-many-reserved", ERR_NOMEM,
                "more than 32 reserved ranges (at 0x40040000: memreserve)");
}
END_TEST

START_TEST(test_zero_size_bank_is_refused)
{
    parse_fails("zero-size", ERR_INVAL, "memory bank at 0x60000000 in /memory@40000000 has size 0");
}
END_TEST

START_TEST(test_unaligned_bank_is_rounded_inward)
{
    parse_ok("unaligned");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40001000, 0xff000);
    /* The image starts above this small bank's end, the blob too: the image
     * is clipped away entirely, so only what lies in RAM remains. */
    ck_assert_uint_eq(mm.nr_reserved, 0);
    ck_assert_uint_eq(free_pages(), 0xff);
}
END_TEST

START_TEST(test_bank_without_a_whole_page_is_refused)
{
    parse_fails("sub-page", ERR_ALIGN,
                "memory bank [0x40000800, 0x40001800) in /memory@40000800 holds no whole page");
}
END_TEST

START_TEST(test_bad_magic_is_refused)
{
    load("one-bank");
    ((uint8_t *)blob)[0] ^= 0xff;
    ck_assert_int_eq(parse(), ERR_INVAL);
    ck_assert_str_eq(msg, "bad DTB at 0x4c000000: FDT_ERR_BADMAGIC");
}
END_TEST

/*
 * At boot a truncated blob is followed by whatever RAM held -- zeroes on a
 * fresh QEMU. Keep the first half of QEMU's virt tree and zero the rest of
 * what the header claims.
 */
START_TEST(test_truncated_blob_is_refused)
{
    load("qemu-virt-gicv3");
    size_t total = fdt_totalsize(blob);
    size_t used = fdt_off_dt_strings(blob) + fdt_size_dt_strings(blob);
    uint8_t *cut = calloc(1, total);
    ck_assert_ptr_nonnull(cut);
    memcpy(cut, blob, used / 2);
    free(blob);
    blob = cut;
    ck_assert_int_eq(parse(), ERR_INVAL);
    ck_assert_str_eq(msg, "bad DTB at 0x4c000000: truncated or corrupt structure block "
                          "(FDT_ERR_BADSTRUCTURE)");
}
END_TEST

START_TEST(test_totalsize_beyond_limit_is_refused)
{
    load("one-bank");
    fdt_set_totalsize(blob, MEMMAP_FDT_MAX_SIZE + 1);
    ck_assert_int_eq(parse(), ERR_INVAL);
    ck_assert_str_eq(msg, "bad DTB at 0x4c000000: totalsize 0x200001 is more than 0x200000");
}
END_TEST

START_TEST(test_image_overlapping_reserved_memory_is_refused)
{
    load("reserved-memory");
    ck_assert_int_eq(
        memmap_from_fdt_at(blob, pa(FDT_PA), pa(0x4f080000), pa(0x4f180000), &mm, msg, sizeof(msg)),
        ERR_EXIST);
    ck_assert_str_eq(msg, "tally image [0x4f080000, 0x4f180000) overlaps reserved shmem@4f000000 "
                          "[0x4f000000, 0x4f100000)");
}
END_TEST

START_TEST(test_message_is_cut_to_msglen)
{
    load("no-memory");
    char small[8];
    ck_assert_int_eq(
        memmap_from_fdt_at(blob, pa(FDT_PA), pa(IMG_START), pa(IMG_END), &mm, small, sizeof(small)),
        ERR_NOENT);
    ck_assert_str_eq(small, "no memo");
}
END_TEST

START_TEST(test_qemu_virt_gicv3_dump)
{
    /* -m 512M; QEMU's virt tree is padded to 1 MiB. */
    parse_ok("qemu-virt-gicv3");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40000000, 0x20000000);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_image(0);
    expect_reserved(1, FDT_PA, 0x100000, PAGE_RESERVED, "dtb");
    ck_assert_uint_eq(free_pages(), 0x20000 - 0x80 - 0x100);
}
END_TEST

START_TEST(test_qemu_virt_gicv2_dump)
{
    parse_ok("qemu-virt-gicv2");
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x40000000, 0x40000000);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_image(0);
    expect_reserved(1, FDT_PA, 0x100000, PAGE_RESERVED, "dtb");
    ck_assert_uint_eq(free_pages(), 0x40000 - 0x80 - 0x100);
}
END_TEST

START_TEST(test_rpi4_firmware_banks)
{
    load("rpi4-firmware");
    ck_assert_int_eq(
        memmap_from_fdt_at(blob, pa(0x2eff0000), pa(0x200000), pa(0x280000), &mm, msg, sizeof(msg)),
        ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 4);
    expect_bank(0, 0x0, 0x3b400000);
    expect_bank(1, 0x40000000, 0xbc000000);
    expect_bank(2, 0x100000000, 0x80000000);
    expect_bank(3, 0x180000000, 0x80000000);
    ck_assert_uint_eq(mm.nr_reserved, 3);
    expect_reserved(0, 0x0, 0x1000, PAGE_RESERVED, "memreserve");
    expect_reserved(1, 0x200000, 0x80000, PAGE_HYP, "tally image");
    expect_reserved(2, 0x2eff0000, 0x1000, PAGE_RESERVED, "dtb");
}
END_TEST

START_TEST(test_qemu_raspi4b_dump)
{
    /* QEMU replaces the firmware's memory node with its 960 MiB bank and
     * keeps the /memreserve/ entry. */
    load("qemu-raspi4b");
    ck_assert_int_eq(
        memmap_from_fdt_at(blob, pa(0x2eff0000), pa(0x200000), pa(0x280000), &mm, msg, sizeof(msg)),
        ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x0, 0x3c000000);
    ck_assert_uint_eq(mm.nr_reserved, 3);
    expect_reserved(0, 0x0, 0x1000, PAGE_RESERVED, "memreserve");
    expect_reserved(1, 0x200000, 0x80000, PAGE_HYP, "tally image");
    expect_reserved(2, 0x2eff0000, ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE), PAGE_RESERVED, "dtb");
}
END_TEST

START_TEST(test_blob_address_is_its_pointer)
{
    /* memmap_from_fdt() takes the blob's physical address from its pointer:
     * on the host that lies outside the simulated RAM, so only the image is
     * reserved. */
    load("one-bank");
    ck_assert_int_eq(memmap_from_fdt(blob, pa(IMG_START), pa(IMG_END), &mm, msg, sizeof(msg)),
                     ERR_OK);
    ck_assert_uint_eq(mm.nr_reserved, 1);
    expect_image(0);
}
END_TEST

START_TEST(test_carve_takes_the_lowest_aligned_free_range)
{
    parse_ok("qemu-virt-gicv3");
    paddr_t at;
    /* 0x40000000..0x40200000 is free but not 4 MiB aligned past its start:
     * the first fit at 4 MiB alignment is 0x40400000. */
    ck_assert_int_eq(memmap_carve(&mm, 0x3ff001, 0x400000, PAGE_META, "slots", &at), ERR_OK);
    ck_assert_uint_eq(pa_val(at), 0x40400000);
    ck_assert_uint_eq(mm.nr_reserved, 3);
    expect_image(0);
    expect_reserved(1, 0x40400000, 0x400000, PAGE_META, "slots");
    /* A page-aligned carve fits below the image. */
    ck_assert_int_eq(memmap_carve(&mm, 0x1000, 0x1000, PAGE_META, "more", &at), ERR_OK);
    ck_assert_uint_eq(pa_val(at), 0x40000000);
    expect_reserved(0, 0x40000000, 0x1000, PAGE_META, "more");
    ck_assert_uint_eq(free_pages(), 0x20000 - 0x80 - 0x100 - 0x400 - 1);
}
END_TEST

START_TEST(test_carve_failures_change_nothing)
{
    parse_ok("one-bank");
    struct memmap before = mm;
    paddr_t at = pa(0x1234);
    ck_assert_int_eq(memmap_carve(&mm, 0x10000000, PAGE_SIZE, PAGE_META, "big", &at), ERR_NOMEM);
    ck_assert_int_eq(memmap_carve(&mm, 0, PAGE_SIZE, PAGE_META, "zero", &at), ERR_INVAL);
    ck_assert_int_eq(memmap_carve(&mm, 0x1000, 0x3000, PAGE_META, "odd", &at), ERR_INVAL);
    ck_assert_int_eq(memmap_carve(&mm, 0x1000, 0x800, PAGE_META, "small", &at), ERR_INVAL);
    ck_assert_int_eq(memcmp(&before, &mm, sizeof(mm)), 0);
    ck_assert_uint_eq(pa_val(at), 0x1234);
}
END_TEST

START_TEST(test_malformed_reg_is_refused)
{
    parse_fails("bad-reg", ERR_INVAL,
                "bad DTB: /memory@40000000: reg is 12 bytes, not a multiple of 16");
}
END_TEST

START_TEST(test_memory_node_without_reg_is_refused)
{
    parse_fails("no-reg", ERR_INVAL, "bad DTB: memory node /memory has no reg");
}
END_TEST

START_TEST(test_bank_wrapping_past_2_64_is_refused)
{
    parse_fails("wrap", ERR_RANGE,
                "memory bank [0xfffffffffffff000, +0x2000) in /memory@fffffffffffff000 wraps "
                "past 2^64");
}
END_TEST

START_TEST(test_more_than_two_address_cells_are_refused)
{
    parse_fails("three-cells", ERR_INVAL,
                "bad DTB: /memory@40000000: unsupported #address-cells 3 / #size-cells 2");
}
END_TEST

START_TEST(test_initrd_ending_before_its_start_is_refused)
{
    parse_fails("bad-initrd", ERR_INVAL,
                "bad DTB: initrd ends (0x43000000) before it starts (0x44000000)");
}
END_TEST

START_TEST(test_boot_module_without_reg_is_refused)
{
    parse_fails("module-no-reg", ERR_INVAL,
                "bad DTB: boot module /chosen/module@48000000 has no reg");
}
END_TEST

START_TEST(test_free_ranges_counts_past_max)
{
    parse_ok("two-banks");
    struct mem_bank f[2] = {{pa(1), 1}, {pa(1), 1}};
    struct mem_bank guard = {pa(0xdead), 0xbeef};
    ck_assert_uint_eq(memmap_free_ranges(&mm, f, 1), 4);
    ck_assert_uint_eq(pa_val(f[0].base), 0x40000000);
    ck_assert_uint_eq(f[0].size, 0x200000);
    ck_assert_uint_eq(pa_val(f[1].base), 1); /* untouched past max */
    ck_assert_uint_eq(memmap_free_ranges(&mm, &guard, 0), 4);
    ck_assert_uint_eq(pa_val(guard.base), 0xdead);
}
END_TEST

START_TEST(test_carve_with_a_full_table_changes_nothing)
{
    parse_ok("one-bank");
    paddr_t at = pa(0x1234);
    while (mm.nr_reserved < MEMMAP_MAX_RESERVED)
        ck_assert_int_eq(memmap_carve(&mm, PAGE_SIZE, PAGE_SIZE, PAGE_META, "fill", &at), ERR_OK);
    struct memmap before = mm;
    at = pa(0x1234);
    ck_assert_int_eq(memmap_carve(&mm, PAGE_SIZE, PAGE_SIZE, PAGE_META, "more", &at), ERR_NOMEM);
    ck_assert_int_eq(memcmp(&before, &mm, sizeof(mm)), 0);
    ck_assert_uint_eq(pa_val(at), 0x1234);
    /* 30 one-page carves from the bottom of RAM up, each its own range. */
    expect_reserved(0, 0x40000000, PAGE_SIZE, PAGE_META, "fill");
    expect_reserved(29, 0x4001d000, PAGE_SIZE, PAGE_META, "fill");
    expect_image(30);
    expect_dtb(31);
}
END_TEST

/* --- Raspberry Pi 4 firmware trees (tests/dt/rpi4-*.dts over rpi4.dtsi) -- */

/* Where a Pi's firmware leaves the DTB and booti puts Tally. */
#define RPI4_FDT_PA    0x2eff0000ull
#define RPI4_IMG_START 0x200000ull
#define RPI4_IMG_END   0x248000ull

static int rpi4_parse_at(uint64_t fdt_pa)
{
    memset(&mm, 0xa5, sizeof(mm));
    return memmap_from_fdt_at(blob, pa(fdt_pa), pa(RPI4_IMG_START), pa(RPI4_IMG_END), &mm, msg,
                              sizeof(msg));
}

/* expect_reserved() and the range's no-map flag. */
static void expect_rsv(unsigned i, uint64_t base, uint64_t size, enum page_usage usage, bool nomap,
                       const char *what)
{
    expect_reserved(i, base, size, usage, what);
    ck_assert_int_eq(mm.reserved[i].nomap, nomap);
}

/* A copy with room to edit (fdt_setprop), replacing blob. */
static void load_editable(const char *name)
{
    free(blob);
    blob = harness_load_dtb_editable(name, 4096);
}

/* Every board: the spin-table page, the image, the DTB; the CMA pool (size
 * only) and the disabled nvram node reserve nothing. */
static void expect_firmware_reserved(void)
{
    ck_assert_uint_eq(mm.nr_reserved, 3);
    expect_rsv(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_rsv(1, RPI4_IMG_START, RPI4_IMG_END - RPI4_IMG_START, PAGE_HYP, false, "tally image");
    expect_rsv(2, RPI4_FDT_PA, ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE), PAGE_RESERVED, false,
               "dtb");
}

static uint64_t firmware_reserved_pages(void)
{
    return 1 + (RPI4_IMG_END - RPI4_IMG_START) / PAGE_SIZE +
           ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE) / PAGE_SIZE;
}

START_TEST(test_rpi4_1g_is_one_bank_below_the_gpu_carve_out)
{
    load("rpi4-1g");
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x0, 0x3b400000);
    expect_firmware_reserved();
    ck_assert_uint_eq(free_pages(), 0x3b400 - firmware_reserved_pages());
}
END_TEST

START_TEST(test_rpi4_2g_has_the_hole_between_carve_out_and_1_gib)
{
    load("rpi4-2g");
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 2);
    expect_bank(0, 0x0, 0x3b400000);
    expect_bank(1, 0x40000000, 0x40000000);
    expect_firmware_reserved();
    ck_assert_uint_eq(free_pages(), 0x3b400 + 0x40000 - firmware_reserved_pages());
}
END_TEST

START_TEST(test_rpi4_4g_ends_below_the_peripherals_at_0xfc000000)
{
    load("rpi4-4g");
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 2);
    expect_bank(0, 0x0, 0x3b400000);
    expect_bank(1, 0x40000000, 0xbc000000);
    expect_firmware_reserved();
    ck_assert_uint_eq(free_pages(), 0x3b400 + 0xbc000 - firmware_reserved_pages());
}
END_TEST

START_TEST(test_rpi4_8g_has_two_banks_above_4_gib)
{
    load("rpi4-8g");
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 4);
    expect_bank(0, 0x0, 0x3b400000);
    expect_bank(1, 0x40000000, 0xbc000000);
    expect_bank(2, 0x100000000, 0x80000000);
    expect_bank(3, 0x180000000, 0x80000000);
    expect_firmware_reserved();
    ck_assert_uint_eq(free_pages(),
                      0x3b400 + 0xbc000 + 0x80000 + 0x80000 - firmware_reserved_pages());
}
END_TEST

START_TEST(test_rpi4_dtb_outside_ram_reserves_nothing_for_it)
{
    /* In the 1 GB board's carve-out hole: no slot to mark. */
    load("rpi4-1g");
    ck_assert_int_eq(rpi4_parse_at(0x3c000000), ERR_OK);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_rsv(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_rsv(1, RPI4_IMG_START, RPI4_IMG_END - RPI4_IMG_START, PAGE_HYP, false, "tally image");
}
END_TEST

START_TEST(test_rpi4_no_map_region_is_flagged_and_a_memreserve_inside_merges)
{
    load("rpi4-nomap");
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_reserved, 5);
    expect_rsv(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_rsv(1, RPI4_IMG_START, RPI4_IMG_END - RPI4_IMG_START, PAGE_HYP, false, "tally image");
    expect_rsv(2, RPI4_FDT_PA, ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE), PAGE_RESERVED, false,
               "dtb");
    expect_rsv(3, 0x39000000, 0x100000, PAGE_RESERVED, false, "ramoops@39000000");
    /* The /memreserve/ page at 0x3a100000 sorts after shm@ and is merged
     * into it: the lower range's name, no-map kept. */
    expect_rsv(4, 0x3a000000, 0x400000, PAGE_RESERVED, true, "shm@3a000000");
}
END_TEST

START_TEST(test_rpi4_dtb_inside_a_no_map_region_is_refused)
{
    load("rpi4-nomap");
    memcpy(&mm, &(struct memmap){.nr_banks = 7}, sizeof(mm));
    ck_assert_int_eq(memmap_from_fdt_at(blob, pa(0x3a200000), pa(RPI4_IMG_START), pa(RPI4_IMG_END),
                                        &mm, msg, sizeof(msg)),
                     ERR_EXIST);
    char want[160];
    snprintf(want, sizeof(want),
             "dtb [0x3a200000, 0x%llx) overlaps no-map reserved shm@3a000000 [0x3a000000, "
             "0x3a400000)",
             (unsigned long long)(0x3a200000 + ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE)));
    ck_assert_str_eq(msg, want);
    ck_assert_uint_eq(mm.nr_banks, 7); /* unchanged */
}
END_TEST

START_TEST(test_rpi4_memory_reg_in_the_wrong_cells_is_refused_by_name)
{
    /* A tree edited to 2 size cells while the firmware wrote 1: 2 entries of
     * 12 bytes are not a whole number of 16-byte ones. */
    load_editable("rpi4-4g");
    ck_assert_int_eq(fdt_setprop_u32(blob, 0, "#size-cells", 2), 0);
    ck_assert_int_eq(rpi4_parse_at(RPI4_FDT_PA), ERR_INVAL);
    ck_assert_str_eq(msg, "bad DTB: /memory@0: reg is 24 bytes, not a multiple of 16");
}
END_TEST

TALLY_SUITE(memmap)

Suite *memmap_suite(void)
{
    Suite *s = suite_create("memmap");
    TCase *tc = tcase_create("fdt");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_one_bank_reserves_image_and_dtb);
    tcase_add_test(tc, test_two_banks_are_sorted_and_the_hole_is_not_ram);
    tcase_add_test(tc, test_memreserve_rounds_outward_clips_and_drops_outside_ram);
    tcase_add_test(tc, test_reserved_memory_children_with_reg_are_reserved);
    tcase_add_test(tc, test_boot_modules_and_initrd_are_reserved);
    tcase_add_test(tc, test_no_memory_node_is_refused);
    tcase_add_test(tc, test_overlapping_banks_are_refused_naming_both);
    tcase_add_test(tc, test_bank_in_the_last_page_is_refused_not_wrapped);
    tcase_add_test(tc, test_reserved_range_ending_at_2_64_is_refused_not_dropped);
    tcase_add_test(tc, test_too_many_banks_are_refused);
    tcase_add_test(tc, test_too_many_reserved_ranges_are_refused);
    tcase_add_test(tc, test_zero_size_bank_is_refused);
    tcase_add_test(tc, test_unaligned_bank_is_rounded_inward);
    tcase_add_test(tc, test_bank_without_a_whole_page_is_refused);
    tcase_add_test(tc, test_bad_magic_is_refused);
    tcase_add_test(tc, test_truncated_blob_is_refused);
    tcase_add_test(tc, test_totalsize_beyond_limit_is_refused);
    tcase_add_test(tc, test_image_overlapping_reserved_memory_is_refused);
    tcase_add_test(tc, test_message_is_cut_to_msglen);
    tcase_add_test(tc, test_qemu_virt_gicv3_dump);
    tcase_add_test(tc, test_qemu_virt_gicv2_dump);
    tcase_add_test(tc, test_rpi4_firmware_banks);
    tcase_add_test(tc, test_qemu_raspi4b_dump);
    tcase_add_test(tc, test_blob_address_is_its_pointer);
    tcase_add_test(tc, test_carve_takes_the_lowest_aligned_free_range);
    tcase_add_test(tc, test_carve_failures_change_nothing);
    tcase_add_test(tc, test_malformed_reg_is_refused);
    tcase_add_test(tc, test_memory_node_without_reg_is_refused);
    tcase_add_test(tc, test_bank_wrapping_past_2_64_is_refused);
    tcase_add_test(tc, test_more_than_two_address_cells_are_refused);
    tcase_add_test(tc, test_initrd_ending_before_its_start_is_refused);
    tcase_add_test(tc, test_boot_module_without_reg_is_refused);
    tcase_add_test(tc, test_free_ranges_counts_past_max);
    tcase_add_test(tc, test_carve_with_a_full_table_changes_nothing);
    suite_add_tcase(s, tc);
    TCase *pi = tcase_create("rpi4");
    tcase_add_checked_fixture(pi, NULL, teardown);
    tcase_add_test(pi, test_rpi4_1g_is_one_bank_below_the_gpu_carve_out);
    tcase_add_test(pi, test_rpi4_2g_has_the_hole_between_carve_out_and_1_gib);
    tcase_add_test(pi, test_rpi4_4g_ends_below_the_peripherals_at_0xfc000000);
    tcase_add_test(pi, test_rpi4_8g_has_two_banks_above_4_gib);
    tcase_add_test(pi, test_rpi4_dtb_outside_ram_reserves_nothing_for_it);
    tcase_add_test(pi, test_rpi4_no_map_region_is_flagged_and_a_memreserve_inside_merges);
    tcase_add_test(pi, test_rpi4_dtb_inside_a_no_map_region_is_refused);
    tcase_add_test(pi, test_rpi4_memory_reg_in_the_wrong_cells_is_refused_by_name);
    suite_add_tcase(s, pi);
    return s;
}
