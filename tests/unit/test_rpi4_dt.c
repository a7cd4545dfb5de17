// SPDX-License-Identifier: MIT
// The Raspberry Pi 4's firmware device trees (tests/dt/rpi4-{1,2,4,8}g.dts
// over tests/dt/rpi4.dtsi, and rpi4-nomap.dts): the boot memory map
// (hyp/core/memmap.c) of every board size, and device discovery
// (hyp/core/dt.c) through /soc's and /scb's `ranges`. Exact banks, ranges,
// addresses and messages.
#include "../host/harness.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tally/errno.h>
#include <tally/memmap.h>

#include "core/dt.h"

/* Where a Pi's firmware leaves the DTB and booti puts Tally. */
#define FDT_PA    0x2eff0000ull
#define IMG_START 0x200000ull
#define IMG_END   0x248000ull

static void *blob;
static size_t blob_size;
static struct memmap mm;
static char msg[256];

static void load(const char *name)
{
    free(blob);
    blob = harness_load_dtb(name, &blob_size);
}

/* A copy with room to edit (fdt_setprop), replacing blob. */
static void load_editable(const char *name)
{
    load(name);
    size_t size = blob_size + 4096;
    void *b = malloc(size);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fdt_open_into(blob, b, (int)size), 0);
    free(blob);
    blob = b;
}

static void teardown(void)
{
    free(blob);
    blob = NULL;
}

static int parse_at(uint64_t fdt_pa)
{
    memset(&mm, 0xa5, sizeof(mm));
    return memmap_from_fdt_at(blob, pa(fdt_pa), pa(IMG_START), pa(IMG_END), &mm, msg,
                              sizeof(msg));
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
                            bool nomap, const char *what)
{
    ck_assert_uint_lt(i, mm.nr_reserved);
    const struct memmap_range *r = &mm.reserved[i];
    ck_assert_msg(pa_val(r->base) == base && r->size == size,
                  "reserved %u (%s) is [%#llx, +%#llx), expected [%#llx, +%#llx)", i, r->what,
                  (unsigned long long)pa_val(r->base), (unsigned long long)r->size,
                  (unsigned long long)base, (unsigned long long)size);
    ck_assert_int_eq(r->usage, usage);
    ck_assert_int_eq(r->nomap, nomap);
    ck_assert_str_eq(r->what, what);
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

/* Every board: the spin-table page, the image, the DTB; the CMA pool (size
 * only) and the disabled nvram node reserve nothing. */
static void expect_firmware_reserved(void)
{
    ck_assert_uint_eq(mm.nr_reserved, 3);
    expect_reserved(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_reserved(1, IMG_START, IMG_END - IMG_START, PAGE_HYP, false, "tally image");
    expect_reserved(2, FDT_PA, ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE), PAGE_RESERVED, false,
                    "dtb");
}

static uint64_t firmware_reserved_pages(void)
{
    return 1 + (IMG_END - IMG_START) / PAGE_SIZE + ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE) / PAGE_SIZE;
}

START_TEST(test_rpi4_1g_is_one_bank_below_the_gpu_carve_out)
{
    load("rpi4-1g");
    ck_assert_int_eq(parse_at(FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_banks, 1);
    expect_bank(0, 0x0, 0x3b400000);
    expect_firmware_reserved();
    ck_assert_uint_eq(free_pages(), 0x3b400 - firmware_reserved_pages());
}
END_TEST

START_TEST(test_rpi4_2g_has_the_hole_between_carve_out_and_1_gib)
{
    load("rpi4-2g");
    ck_assert_int_eq(parse_at(FDT_PA), ERR_OK);
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
    ck_assert_int_eq(parse_at(FDT_PA), ERR_OK);
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
    ck_assert_int_eq(parse_at(FDT_PA), ERR_OK);
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
    ck_assert_int_eq(parse_at(0x3c000000), ERR_OK);
    ck_assert_uint_eq(mm.nr_reserved, 2);
    expect_reserved(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_reserved(1, IMG_START, IMG_END - IMG_START, PAGE_HYP, false, "tally image");
}
END_TEST

START_TEST(test_rpi4_no_map_region_is_flagged_and_a_memreserve_inside_merges)
{
    load("rpi4-nomap");
    ck_assert_int_eq(parse_at(FDT_PA), ERR_OK);
    ck_assert_uint_eq(mm.nr_reserved, 5);
    expect_reserved(0, 0x0, 0x1000, PAGE_RESERVED, false, "memreserve");
    expect_reserved(1, IMG_START, IMG_END - IMG_START, PAGE_HYP, false, "tally image");
    expect_reserved(2, FDT_PA, ALIGN_UP(fdt_totalsize(blob), PAGE_SIZE), PAGE_RESERVED, false,
                    "dtb");
    expect_reserved(3, 0x39000000, 0x100000, PAGE_RESERVED, false, "ramoops@39000000");
    /* The /memreserve/ page at 0x3a100000 sorts after shm@ and is merged
     * into it: the lower range's name, no-map kept. */
    expect_reserved(4, 0x3a000000, 0x400000, PAGE_RESERVED, true, "shm@3a000000");
}
END_TEST

START_TEST(test_rpi4_dtb_inside_a_no_map_region_is_refused)
{
    load("rpi4-nomap");
    memcpy(&mm, &(struct memmap){.nr_banks = 7}, sizeof(mm));
    ck_assert_int_eq(memmap_from_fdt_at(blob, pa(0x3a200000), pa(IMG_START), pa(IMG_END), &mm, msg,
                                        sizeof(msg)),
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
    ck_assert_int_eq(parse_at(FDT_PA), ERR_INVAL);
    ck_assert_str_eq(msg, "bad DTB: /memory@0: reg is 24 bytes, not a multiple of 16");
}
END_TEST

/* --- devices through ranges ---------------------------------------------- */

START_TEST(test_rpi4_console_is_the_mini_uart_at_its_cpu_address)
{
    struct dt_uart u;
    load("rpi4-4g");
    ck_assert(dt_stdout_uart(blob, &u));
    ck_assert_int_eq(u.kind, DT_UART_MINI);
    ck_assert_uint_eq(u.base, 0xfe215040);
    ck_assert_uint_eq(u.size, 0x40);
    ck_assert_int_eq(u.node, fdt_path_offset(blob, "/soc/serial@7e215040"));
}
END_TEST

START_TEST(test_rpi4_stdout_serial0_is_the_pl011)
{
    struct dt_uart u;
    load_editable("rpi4-1g");
    int chosen = fdt_path_offset(blob, "/chosen");
    ck_assert_int_eq(fdt_setprop_string(blob, chosen, "stdout-path", "serial0:115200n8"), 0);
    ck_assert(dt_stdout_uart(blob, &u));
    ck_assert_int_eq(u.kind, DT_UART_PL011);
    ck_assert_uint_eq(u.base, 0xfe201000);
    ck_assert_uint_eq(u.size, 0x200);
}
END_TEST

START_TEST(test_rpi4_gic400_frames_come_through_the_third_soc_range)
{
    static const uint64_t base[] = {0xff841000, 0xff842000, 0xff844000, 0xff846000};
    static const uint64_t size[] = {0x1000, 0x2000, 0x2000, 0x2000};
    struct dt_gic g;
    load("rpi4-8g");
    dt_gic(blob, &g);
    ck_assert_uint_eq(g.version, 2);
    ck_assert_str_eq(g.compatible, "arm,gic-400");
    ck_assert_uint_eq(g.nr_regs, 4);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(g.base[i], base[i]);
        ck_assert_uint_eq(g.size[i], size[i]);
    }
}
END_TEST

START_TEST(test_rpi4_watchdog_and_every_reg_entry_translate)
{
    uint64_t b = 0, s = 0;
    load("rpi4-2g");
    int node = dt_find_compatible(blob, "brcm,bcm2835-pm-wdt", &b, &s);
    ck_assert_int_eq(node, fdt_path_offset(blob, "/soc/watchdog@7e100000"));
    ck_assert_uint_eq(b, 0xfe100000);
    ck_assert_uint_eq(s, 0x114);
    ck_assert(dt_reg(blob, node, 1, &b, &s));
    ck_assert_uint_eq(b, 0xfe00a000);
    ck_assert(dt_reg(blob, node, 2, &b, &s));
    ck_assert_uint_eq(b, 0xfec11000);
    ck_assert(!dt_reg(blob, node, 3, &b, &s));
}
END_TEST

START_TEST(test_rpi4_two_cell_bus_translates_and_disabled_nodes_are_not_found)
{
    uint64_t b = 0, s = 0;
    load("rpi4-4g");
    ck_assert(dt_reg(blob, fdt_path_offset(blob, "/scb/pcie@7d500000"), 0, &b, &s));
    ck_assert_uint_eq(b, 0xfd500000);
    ck_assert_uint_eq(s, 0x9310);
    b = s = 7;
    ck_assert_int_eq(dt_find_compatible(blob, "brcm,bcm2711-pcie", &b, &s), -1);
    ck_assert_uint_eq(b, 7);
}
END_TEST

START_TEST(test_rpi4_address_outside_every_range_or_bus_without_ranges_is_not_translated)
{
    uint64_t b = 7, s = 7;
    load_editable("rpi4-1g");
    int uart = fdt_path_offset(blob, "/soc/serial@7e215040");
    /* The last page of the window at 0x7e000000 (24 MiB) still translates. */
    fdt32_t last[2] = {cpu_to_fdt32(0x7f7ff000), cpu_to_fdt32(0x40)};
    ck_assert_int_eq(fdt_setprop(blob, uart, "reg", last, sizeof(last)), 0);
    ck_assert(dt_reg(blob, uart, 0, &b, &s));
    ck_assert_uint_eq(b, 0xff7ff000);
    b = s = 7;
    /* 0x7f800000 is just past the window at 0x7e000000 (24 MiB), in none
     * of /soc's three. */
    fdt32_t reg[2] = {cpu_to_fdt32(0x7f800000), cpu_to_fdt32(0x40)};
    ck_assert_int_eq(fdt_setprop(blob, uart, "reg", reg, sizeof(reg)), 0);
    uart = fdt_path_offset(blob, "/soc/serial@7e215040");
    ck_assert(!dt_reg(blob, uart, 0, &b, &s));
    struct dt_uart u;
    ck_assert(!dt_stdout_uart(blob, &u));
    /* A bus without `ranges` is not memory mapped at all. */
    int soc = fdt_path_offset(blob, "/soc");
    ck_assert_int_eq(fdt_delprop(blob, soc, "ranges"), 0);
    int pl011 = fdt_path_offset(blob, "/soc/serial@7e201000");
    ck_assert(!dt_reg(blob, pl011, 0, &b, &s));
    ck_assert_uint_eq(b, 7);
    ck_assert_uint_eq(s, 7);
}
END_TEST

TALLY_SUITE(rpi4_dt)

Suite *rpi4_dt_suite(void)
{
    Suite *s = suite_create("rpi4_dt");
    TCase *tc = tcase_create("firmware");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_rpi4_1g_is_one_bank_below_the_gpu_carve_out);
    tcase_add_test(tc, test_rpi4_2g_has_the_hole_between_carve_out_and_1_gib);
    tcase_add_test(tc, test_rpi4_4g_ends_below_the_peripherals_at_0xfc000000);
    tcase_add_test(tc, test_rpi4_8g_has_two_banks_above_4_gib);
    tcase_add_test(tc, test_rpi4_dtb_outside_ram_reserves_nothing_for_it);
    tcase_add_test(tc, test_rpi4_no_map_region_is_flagged_and_a_memreserve_inside_merges);
    tcase_add_test(tc, test_rpi4_dtb_inside_a_no_map_region_is_refused);
    tcase_add_test(tc, test_rpi4_memory_reg_in_the_wrong_cells_is_refused_by_name);
    tcase_add_test(tc, test_rpi4_console_is_the_mini_uart_at_its_cpu_address);
    tcase_add_test(tc, test_rpi4_stdout_serial0_is_the_pl011);
    tcase_add_test(tc, test_rpi4_gic400_frames_come_through_the_third_soc_range);
    tcase_add_test(tc, test_rpi4_watchdog_and_every_reg_entry_translate);
    tcase_add_test(tc, test_rpi4_two_cell_bus_translates_and_disabled_nodes_are_not_found);
    tcase_add_test(tc,
                   test_rpi4_address_outside_every_range_or_bus_without_ranges_is_not_translated);
    suite_add_tcase(s, tc);
    return s;
}
