// SPDX-License-Identifier: MIT
// The portable parts of the EL2 runtime, run on the host exactly as the
// image runs them: the printf formatter (hyp/lib/format.c), Tally's boot
// arguments (hyp/core/bootargs.c) and the device-tree lookups for the console
// and the GIC (hyp/core/dt.c). Device trees are QEMU's own (dumped by mk/dt.mk,
// read from $TALLY_DT_DIR) or built in memory with libfdt's writer.
#include "../host/harness.h"

#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bootargs.h"
#include "core/dt.h"
#include "lib/format.h"

static char out[64];

__attribute__((format(printf, 1, 2))) static int fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    memset(out, 'x', sizeof(out));
    int n = fmt_vsnprintf(out, sizeof(out), f, ap);
    va_end(ap);
    return n;
}

START_TEST(test_fmt_integers_in_every_base)
{
    ck_assert_int_eq(fmt("%d|%i|%u|%x|%X", -42, 7, 4000000000u, 0xbeef, 0xbeef), 26);
    ck_assert_str_eq(out, "-42|7|4000000000|beef|BEEF");
}
END_TEST

START_TEST(test_fmt_width_zero_and_left_flags)
{
    ck_assert_int_eq(fmt("[%5d][%-5d][%05d][%05d][%*u]", 42, 42, 42, -42, 4, 7u), 34);
    ck_assert_str_eq(out, "[   42][42   ][00042][-0042][   7]");
}
END_TEST

START_TEST(test_fmt_64bit_lengths)
{
    fmt("%lx %lu", (unsigned long)UINT64_MAX, (unsigned long)UINT64_MAX);
    ck_assert_str_eq(out, "ffffffffffffffff 18446744073709551615");
    fmt("%ld %llx %zu", (long)INT64_MIN, 0x1234ull, (size_t)5);
    ck_assert_str_eq(out, "-9223372036854775808 1234 5");
    fmt("%016lx %02x %hhu %hu", 0xabul, 7u, (unsigned char)200, (unsigned short)60000);
    ck_assert_str_eq(out, "00000000000000ab 07 200 60000");
}
END_TEST

START_TEST(test_fmt_strings_chars_percent_and_null)
{
    const char *volatile none = NULL; /* hidden from -Wformat-overflow */
    fmt("%s|%.3s|%6s|%-6s|%c|%%", "abc", "abcdef", "ab", "ab", 'z');
    ck_assert_str_eq(out, "abc|abc|    ab|ab    |z|%");
    fmt("%s", none);
    ck_assert_str_eq(out, "(null)");
}
END_TEST

START_TEST(test_fmt_pointer_is_hex_with_prefix)
{
    fmt("%p %p", (void *)0x40200000ul, (void *)0);
    ck_assert_str_eq(out, "0x40200000 0x0");
}
END_TEST

START_TEST(test_fmt_unknown_conversion_is_copied)
{
    const char *f = "a%qb%";
    fmt(f, 0);
    ck_assert_str_eq(out, "a%qb");
}
END_TEST

__attribute__((format(printf, 3, 4))) static int fmt_into(char *buf, size_t size, const char *f,
                                                          ...)
{
    va_list ap;
    va_start(ap, f);
    int n = fmt_vsnprintf(buf, size, f, ap);
    va_end(ap);
    return n;
}

START_TEST(test_fmt_truncates_and_returns_full_length)
{
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    ck_assert_int_eq(fmt_into(buf, sizeof(buf), "%s", "0123456789"), 10);
    ck_assert_str_eq(buf, "0123456");
    memset(buf, 'x', sizeof(buf));
    ck_assert_int_eq(fmt_into(buf, 0, "%d", 12345), 5);
    ck_assert_int_eq(buf[0], 'x');
    ck_assert_int_eq(fmt_into(buf, 1, "%d", 12345), 5);
    ck_assert_str_eq(buf, "");
}
END_TEST

static char val[32];

START_TEST(test_bootarg_found_among_other_words)
{
    bootargs_set("console=ttyAMA0  tally.test=stack-overflow tally.panic=wait");
    ck_assert(bootarg_get("tally.test", val, sizeof(val)));
    ck_assert_str_eq(val, "stack-overflow");
    ck_assert(bootarg_get("tally.panic", val, sizeof(val)));
    ck_assert_str_eq(val, "wait");
    ck_assert(bootarg_get("console", val, sizeof(val)));
    ck_assert_str_eq(val, "ttyAMA0");
}
END_TEST

START_TEST(test_bootarg_name_must_match_whole_word)
{
    bootargs_set("tally.testing=1 xtally.test=2 tally.test");
    memset(val, 'x', sizeof(val));
    ck_assert(!bootarg_get("tally.test", val, sizeof(val)));
    ck_assert_int_eq(val[0], 'x');
}
END_TEST

START_TEST(test_bootarg_first_word_wins_and_value_may_be_empty)
{
    bootargs_set("tally.test= tally.test=bad-access");
    ck_assert(bootarg_get("tally.test", val, sizeof(val)));
    ck_assert_str_eq(val, "");
}
END_TEST

START_TEST(test_bootarg_value_is_cut_to_the_buffer)
{
    bootargs_set("tally.test=stack-overflow");
    ck_assert(bootarg_get("tally.test", val, 4));
    ck_assert_str_eq(val, "sta");
}
END_TEST

START_TEST(test_bootargs_absent_or_past_the_limit)
{
    bootargs_set(NULL);
    ck_assert(!bootarg_get("tally.test", val, sizeof(val)));
    char line[BOOTARGS_MAX + 32];
    memset(line, 'a', BOOTARGS_MAX - 4);
    strcpy(line + BOOTARGS_MAX - 4, " tally.test=x");
    bootargs_set(line);
    ck_assert(!bootarg_get("tally.test", val, sizeof(val)));
}
END_TEST

static void *blob;

static void load(const char *name)
{
    free(blob);
    blob = harness_load_dtb(name, NULL);
}

static void teardown(void)
{
    free(blob);
    blob = NULL;
}

/*
 * A small tree: /aliases/serial0 = uart path, /chosen/stdout-path and
 * bootargs (NULL: absent), /soc (#address-cells = #size-cells = 1) with a
 * UART of the given compatible at 0x1c090000 and, if gic is not NULL, an
 * interrupt controller of that compatible with two reg entries.
 */
static void build(const char *stdout_path, const char *uart_compat, const char *gic,
                  const char *bootargs)
{
    const size_t size = 4096;
    free(blob);
    blob = calloc(1, size);
    ck_assert_ptr_nonnull(blob);
    ck_assert_int_eq(fdt_create(blob, size), 0);
    ck_assert_int_eq(fdt_finish_reservemap(blob), 0);
    ck_assert_int_eq(fdt_begin_node(blob, ""), 0);
    ck_assert_int_eq(fdt_property_u32(blob, "#address-cells", 2), 0);
    ck_assert_int_eq(fdt_property_u32(blob, "#size-cells", 2), 0);
    ck_assert_int_eq(fdt_begin_node(blob, "aliases"), 0);
    ck_assert_int_eq(fdt_property_string(blob, "serial0", "/soc/uart@1c090000"), 0);
    ck_assert_int_eq(fdt_end_node(blob), 0);
    ck_assert_int_eq(fdt_begin_node(blob, "chosen"), 0);
    if (stdout_path)
        ck_assert_int_eq(fdt_property_string(blob, "stdout-path", stdout_path), 0);
    if (bootargs)
        ck_assert_int_eq(fdt_property_string(blob, "bootargs", bootargs), 0);
    ck_assert_int_eq(fdt_end_node(blob), 0);
    ck_assert_int_eq(fdt_begin_node(blob, "soc"), 0);
    ck_assert_int_eq(fdt_property_u32(blob, "#address-cells", 1), 0);
    ck_assert_int_eq(fdt_property_u32(blob, "#size-cells", 1), 0);
    ck_assert_int_eq(fdt_property(blob, "ranges", NULL, 0), 0);
    ck_assert_int_eq(fdt_begin_node(blob, "uart@1c090000"), 0);
    ck_assert_int_eq(fdt_property_string(blob, "compatible", uart_compat), 0);
    fdt32_t uart_reg[] = {cpu_to_fdt32(0x1c090000), cpu_to_fdt32(0x1000)};
    ck_assert_int_eq(fdt_property(blob, "reg", uart_reg, sizeof(uart_reg)), 0);
    ck_assert_int_eq(fdt_end_node(blob), 0);
    if (gic) {
        ck_assert_int_eq(fdt_begin_node(blob, "interrupt-controller@2c001000"), 0);
        ck_assert_int_eq(fdt_property_string(blob, "compatible", gic), 0);
        fdt32_t gic_reg[] = {cpu_to_fdt32(0x2c001000), cpu_to_fdt32(0x1000),
                             cpu_to_fdt32(0x2c002000), cpu_to_fdt32(0x2000)};
        ck_assert_int_eq(fdt_property(blob, "reg", gic_reg, sizeof(gic_reg)), 0);
        ck_assert_int_eq(fdt_end_node(blob), 0);
    }
    ck_assert_int_eq(fdt_end_node(blob), 0);
    ck_assert_int_eq(fdt_end_node(blob), 0);
    ck_assert_int_eq(fdt_finish(blob), 0);
}

/* The stdout UART if it is a PL011 (what these tests built). */
static bool stdout_pl011(const void *b, uint64_t *base, uint64_t *size)
{
    struct dt_uart u;
    if (!dt_stdout_uart(b, &u) || u.kind != DT_UART_PL011)
        return false;
    *base = u.base;
    *size = u.size;
    return true;
}

START_TEST(test_dt_qemu_virt_gicv3)
{
    struct dt_gic g;
    uint64_t base = 0, size = 0;
    load("qemu-virt-gicv3");
    dt_gic(blob, &g);
    ck_assert_uint_eq(g.version, 3);
    ck_assert_str_eq(g.compatible, "arm,gic-v3");
    ck_assert_uint_eq(g.nr_regs, 2);
    ck_assert_uint_eq(g.base[0], 0x08000000);
    ck_assert_uint_eq(g.size[0], 0x10000);
    ck_assert_uint_eq(g.base[1], 0x080a0000);
    ck_assert_uint_eq(g.size[1], 0xf60000);
    ck_assert(stdout_pl011(blob, &base, &size));
    ck_assert_uint_eq(base, 0x09000000);
    ck_assert_uint_eq(size, 0x1000);
}
END_TEST

START_TEST(test_dt_qemu_virt_gicv2_has_its_four_regions)
{
    static const uint64_t bases[] = {0x08000000, 0x08010000, 0x08030000, 0x08040000};
    struct dt_gic g;
    load("qemu-virt-gicv2");
    dt_gic(blob, &g);
    ck_assert_uint_eq(g.version, 2);
    ck_assert_str_eq(g.compatible, "arm,cortex-a15-gic");
    ck_assert_uint_eq(g.nr_regs, 4);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(g.base[i], bases[i]);
        ck_assert_uint_eq(g.size[i], 0x10000);
    }
}
END_TEST

START_TEST(test_dt_stdout_alias_with_options_and_one_cell_parent)
{
    uint64_t base = 0, size = 0;
    build("serial0:115200n8", "arm,pl011", NULL, NULL);
    ck_assert(stdout_pl011(blob, &base, &size));
    ck_assert_uint_eq(base, 0x1c090000);
    ck_assert_uint_eq(size, 0x1000);
    build("/soc/uart@1c090000", "arm,pl011", NULL, NULL);
    base = size = 0;
    ck_assert(stdout_pl011(blob, &base, &size));
    ck_assert_uint_eq(base, 0x1c090000);
}
END_TEST

START_TEST(test_dt_stdout_that_is_not_a_pl011_or_is_missing)
{
    uint64_t base = 7, size = 7;
    build("serial0", "ns16550a", NULL, NULL);
    ck_assert(!stdout_pl011(blob, &base, &size));
    build(NULL, "arm,pl011", NULL, NULL);
    ck_assert(!stdout_pl011(blob, &base, &size));
    build("serial7:115200", "arm,pl011", NULL, NULL);
    ck_assert(!stdout_pl011(blob, &base, &size));
    ck_assert_uint_eq(base, 7);
    ck_assert_uint_eq(size, 7);
}
END_TEST

START_TEST(test_dt_gic400_is_v2_and_no_gic_is_version_0)
{
    struct dt_gic g;
    build(NULL, "arm,pl011", "arm,gic-400", NULL);
    dt_gic(blob, &g);
    ck_assert_uint_eq(g.version, 2);
    ck_assert_str_eq(g.compatible, "arm,gic-400");
    ck_assert_uint_eq(g.nr_regs, 2);
    ck_assert_uint_eq(g.base[1], 0x2c002000);
    ck_assert_uint_eq(g.size[1], 0x2000);
    build(NULL, "arm,pl011", "arm,gic-v5-imaginary", NULL);
    dt_gic(blob, &g);
    ck_assert_uint_eq(g.version, 0);
    ck_assert_uint_eq(g.nr_regs, 0);
    ck_assert_ptr_null(g.compatible);
}
END_TEST

START_TEST(test_dt_bootargs_present_or_absent)
{
    build(NULL, "arm,pl011", NULL, "tally.test=bad-access");
    ck_assert_str_eq(dt_bootargs(blob), "tally.test=bad-access");
    build(NULL, "arm,pl011", NULL, NULL);
    ck_assert_ptr_null(dt_bootargs(blob));
}
END_TEST

TALLY_SUITE(hyp_runtime)
Suite *hyp_runtime_suite(void)
{
    Suite *s = suite_create("hyp_runtime");
    TCase *f = tcase_create("format");
    tcase_add_test(f, test_fmt_integers_in_every_base);
    tcase_add_test(f, test_fmt_width_zero_and_left_flags);
    tcase_add_test(f, test_fmt_64bit_lengths);
    tcase_add_test(f, test_fmt_strings_chars_percent_and_null);
    tcase_add_test(f, test_fmt_pointer_is_hex_with_prefix);
    tcase_add_test(f, test_fmt_unknown_conversion_is_copied);
    tcase_add_test(f, test_fmt_truncates_and_returns_full_length);
    suite_add_tcase(s, f);
    TCase *b = tcase_create("bootargs");
    tcase_add_test(b, test_bootarg_found_among_other_words);
    tcase_add_test(b, test_bootarg_name_must_match_whole_word);
    tcase_add_test(b, test_bootarg_first_word_wins_and_value_may_be_empty);
    tcase_add_test(b, test_bootarg_value_is_cut_to_the_buffer);
    tcase_add_test(b, test_bootargs_absent_or_past_the_limit);
    suite_add_tcase(s, b);
    TCase *d = tcase_create("dt");
    tcase_add_checked_fixture(d, NULL, teardown);
    tcase_add_test(d, test_dt_qemu_virt_gicv3);
    tcase_add_test(d, test_dt_qemu_virt_gicv2_has_its_four_regions);
    tcase_add_test(d, test_dt_stdout_alias_with_options_and_one_cell_parent);
    tcase_add_test(d, test_dt_stdout_that_is_not_a_pl011_or_is_missing);
    tcase_add_test(d, test_dt_gic400_is_v2_and_no_gic_is_version_0);
    tcase_add_test(d, test_dt_bootargs_present_or_absent);
    suite_add_tcase(s, d);
    return s;
}
