// SPDX-License-Identifier: MIT
// Device discovery (hyp/core/dt.c) on the Raspberry Pi 4's firmware device
// trees (tests/dt/rpi4-{1,2,4,8}g.dts over tests/dt/rpi4.dtsi): the console,
// the GIC-400, the watchdog through /soc's and /scb's `ranges`, exact
// addresses. Their memory maps are tested in test_memmap.c.
#include "../host/harness.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dt.h"

static void *blob;

static void load(const char *name)
{
    free(blob);
    blob = harness_load_dtb(name, NULL);
}

/* A copy with room to edit (fdt_setprop), replacing blob. */
static void load_editable(const char *name)
{
    free(blob);
    blob = harness_load_dtb_editable(name, 4096);
}

static void teardown(void)
{
    free(blob);
    blob = NULL;
}

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
