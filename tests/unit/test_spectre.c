// SPDX-License-Identifier: MIT
// The Spectre decision (hyp/vm/spectre_policy.c) on the host: for QEMU's CPU
// models and for firmware answers of every kind, the exact
// SMCCC_ARCH_FEATURES answers a guest gets for ARCH_WORKAROUND_1/2/3 and the
// exact mitigation EL2 runs on every guest exit. ID register values are
// QEMU's for each model (target/arm/cpu64.c, cortex-a.c).
#include "../host/harness.h"

#include <string.h>

#include "vm/spectre_policy.h"

/* Firmware without SMCCC 1.1 (QEMU's built-in PSCI): every answer -1. */
static const struct spectre_fw no_fw = {SMCCC_RET_NOT_SUPPORTED, SMCCC_RET_NOT_SUPPORTED,
                                        SMCCC_RET_NOT_SUPPORTED};

static const struct spectre_cpu_id cortex_a72 = {.midr = 0x410fd083, .id_aa64pfr0 = 0x00002222};
static const struct spectre_cpu_id cortex_a57 = {.midr = 0x411fd070, .id_aa64pfr0 = 0x00002222};
static const struct spectre_cpu_id cortex_a53 = {.midr = 0x410fd034, .id_aa64pfr0 = 0x00002222};
/* CSV2 = 1, CSV3 = 1; SSBS = 2; no ECBHB, no CLRBHB. */
static const struct spectre_cpu_id neoverse_n1 = {.midr = 0x414fd0c1,
                                                  .id_aa64pfr0 = 0x1100000010111112,
                                                  .id_aa64pfr1 = 0x20,
                                                  .id_aa64mmfr1 = 0x0000000010212122};
/* QEMU's max (implementer 0): CSV2 = 3, CSV3 = 1, SSBS = 2, ECBHB = 1,
 * CLRBHB = 1. */
static const struct spectre_cpu_id max = {.midr = 0x000f0510,
                                          .id_aa64pfr0 = 0x1301000000112222ull | (3ull << 56),
                                          .id_aa64pfr1 = 0x20,
                                          .id_aa64mmfr1 = 1ull << 60,
                                          .id_aa64isar2 = 1ull << 28};
/* A core no list names (a64fx: implementer 'F'), no CSV2: only the
 * firmware can speak for it. */
static const struct spectre_cpu_id unknown_core = {.midr = 0x461f0010,
                                                   .id_aa64pfr0 = 0x0000000101111111};

static struct spectre_plan plan(const struct spectre_cpu_id *id, struct spectre_fw fw)
{
    struct spectre_plan p;
    memset(&p, 0xa5, sizeof(p)); /* every field must be written */
    spectre_policy(id, &fw, &p);
    return p;
}

static void assert_answers(const struct spectre_plan *p, int64_t wa1, int64_t wa2, int64_t wa3,
                           uint64_t mitigate, bool fw_ssbd_on)
{
    ck_assert_int_eq(p->wa1, wa1);
    ck_assert_int_eq(p->wa2, wa2);
    ck_assert_int_eq(p->wa3, wa3);
    ck_assert_uint_eq(p->mitigate, mitigate);
    ck_assert_int_eq(p->fw_ssbd_on, fw_ssbd_on);
}

START_TEST(test_cortex_a72_without_firmware_is_vulnerable_to_v2_and_v4_and_loops_8)
{
    struct spectre_plan p = plan(&cortex_a72, no_fw);
    assert_answers(&p, -1, -1, -1, MITIGATE_BHB_LOOP(8), false);
    ck_assert_int_eq(p.v2, SPECTRE_VULNERABLE);
    ck_assert_int_eq(p.bhb, SPECTRE_MITIGATED);
    ck_assert_int_eq(p.v4, SPECTRE_VULNERABLE);
}
END_TEST

START_TEST(test_cortex_a72_with_firmware_wa1_calls_it_on_every_exit)
{
    struct spectre_plan p = plan(&cortex_a72, (struct spectre_fw){0, -1, -1});
    assert_answers(&p, 0, -1, 0, MITIGATE_FW_WA1 | MITIGATE_BHB_LOOP(8), false);
    ck_assert_int_eq(p.v2, SPECTRE_MITIGATED);
}
END_TEST

START_TEST(test_cortex_a72_with_firmware_wa1_wa2_wa3_loops_and_turns_ssbd_on)
{
    /* The loop is EL2's own; the firmware's WA3 is only for cores without. */
    struct spectre_plan p = plan(&cortex_a72, (struct spectre_fw){0, 0, 0});
    assert_answers(&p, 0, -2, 0, MITIGATE_FW_WA1 | MITIGATE_BHB_LOOP(8), true);
    ck_assert_int_eq(p.v4, SPECTRE_MITIGATED);
}
END_TEST

START_TEST(test_cortex_a57_loops_8_like_the_a72)
{
    struct spectre_plan p = plan(&cortex_a57, no_fw);
    assert_answers(&p, -1, -1, -1, MITIGATE_BHB_LOOP(8), false);
    p = plan(&cortex_a57, (struct spectre_fw){0, -1, -1});
    assert_answers(&p, 0, -1, 0, MITIGATE_FW_WA1 | MITIGATE_BHB_LOOP(8), false);
}
END_TEST

START_TEST(test_cortex_a53_is_unaffected_whatever_the_firmware_says)
{
    struct spectre_plan p = plan(&cortex_a53, no_fw);
    assert_answers(&p, 1, -2, 1, 0, false);
    ck_assert_int_eq(p.v2, SPECTRE_UNAFFECTED);
    ck_assert_int_eq(p.bhb, SPECTRE_UNAFFECTED);
    ck_assert_int_eq(p.v4, SPECTRE_UNAFFECTED);
    p = plan(&cortex_a53, (struct spectre_fw){0, 0, 0});
    assert_answers(&p, 1, -2, 1, 0, false);
}
END_TEST

START_TEST(test_neoverse_n1_has_csv2_and_ssbs_and_loops_24)
{
    struct spectre_plan p = plan(&neoverse_n1, no_fw);
    assert_answers(&p, 1, -1, 0, MITIGATE_BHB_LOOP(24), false);
    ck_assert_int_eq(p.v2, SPECTRE_UNAFFECTED);
    ck_assert_int_eq(p.bhb, SPECTRE_MITIGATED);
    ck_assert_int_eq(p.v4, SPECTRE_MITIGATED); /* by the guest's own PSTATE.SSBS */
    /* SSBS wins over a firmware WA2: nothing turned on for good. */
    p = plan(&neoverse_n1, (struct spectre_fw){0, 0, 0});
    assert_answers(&p, 1, -1, 0, MITIGATE_BHB_LOOP(24), false);
}
END_TEST

START_TEST(test_max_is_unaffected_with_nothing_on_exit)
{
    struct spectre_plan p = plan(&max, no_fw);
    assert_answers(&p, 1, -1, 1, 0, false);
    ck_assert_int_eq(p.v4, SPECTRE_MITIGATED);
}
END_TEST

START_TEST(test_csv2_csv3_ssbs_set_on_an_a72)
{
    /* CSV2 = 1 ends v2 but not BHB (that needs CSV2 = 3); CSV3 (Meltdown)
     * changes nothing here; SSBS = 1 is the guest's own v4 mitigation. */
    struct spectre_cpu_id id = cortex_a72;
    id.id_aa64pfr0 |= (1ull << 56) | (1ull << 60);
    id.id_aa64pfr1 = 1ull << 4;
    struct spectre_plan p = plan(&id, no_fw);
    assert_answers(&p, 1, -1, 0, MITIGATE_BHB_LOOP(8), false);
    id.id_aa64pfr0 &= ~(0xfull << 56);
    id.id_aa64pfr0 |= 3ull << 56;
    p = plan(&id, no_fw);
    assert_answers(&p, 1, -1, 1, 0, false);
}
END_TEST

START_TEST(test_clrbhb_is_preferred_to_the_loop_and_ecbhb_needs_nothing)
{
    struct spectre_cpu_id id = neoverse_n1;
    id.id_aa64isar2 = 1ull << 28;
    struct spectre_plan p = plan(&id, no_fw);
    assert_answers(&p, 1, -1, 0, MITIGATE_CLRBHB, false);
    id.id_aa64mmfr1 |= 1ull << 60;
    p = plan(&id, no_fw);
    assert_answers(&p, 1, -1, 1, 0, false);
}
END_TEST

START_TEST(test_firmware_wa1_answers_1_unaffected_minus1_minus2_vulnerable)
{
    struct spectre_plan p = plan(&cortex_a72, (struct spectre_fw){1, -1, -1});
    assert_answers(&p, 1, -1, 0, MITIGATE_BHB_LOOP(8), false);
    ck_assert_int_eq(p.v2, SPECTRE_UNAFFECTED);
    p = plan(&cortex_a72, (struct spectre_fw){-2, -1, -1});
    assert_answers(&p, -1, -1, -1, MITIGATE_BHB_LOOP(8), false);
    p = plan(&cortex_a72, (struct spectre_fw){-1, -1, -1});
    assert_answers(&p, -1, -1, -1, MITIGATE_BHB_LOOP(8), false);
}
END_TEST

START_TEST(test_firmware_wa2_answers_0_on_for_good_1_and_minus2_not_required_minus1_not)
{
    struct spectre_plan p = plan(&cortex_a72, (struct spectre_fw){-1, 0, -1});
    ck_assert_int_eq(p.wa2, -2);
    ck_assert(p.fw_ssbd_on);
    ck_assert_int_eq(p.v4, SPECTRE_MITIGATED);
    p = plan(&cortex_a72, (struct spectre_fw){-1, 1, -1});
    ck_assert_int_eq(p.wa2, -2);
    ck_assert(!p.fw_ssbd_on);
    ck_assert_int_eq(p.v4, SPECTRE_UNAFFECTED);
    p = plan(&cortex_a72, (struct spectre_fw){-1, -2, -1});
    ck_assert_int_eq(p.wa2, -2);
    ck_assert(!p.fw_ssbd_on);
    ck_assert_int_eq(p.v4, SPECTRE_UNAFFECTED);
    p = plan(&cortex_a72, (struct spectre_fw){-1, -1, -1});
    ck_assert_int_eq(p.wa2, -1);
    ck_assert(!p.fw_ssbd_on);
    ck_assert_int_eq(p.v4, SPECTRE_VULNERABLE);
}
END_TEST

START_TEST(test_firmware_wa3_on_a_core_without_loop_replaces_wa1_on_exit)
{
    struct spectre_plan p = plan(&unknown_core, (struct spectre_fw){0, -1, 0});
    assert_answers(&p, 0, -1, 0, MITIGATE_FW_WA3, false);
    ck_assert_int_eq(p.bhb, SPECTRE_MITIGATED);
    p = plan(&unknown_core, (struct spectre_fw){0, -1, 1});
    assert_answers(&p, 0, -1, 0, MITIGATE_FW_WA1, false);
    ck_assert_int_eq(p.bhb, SPECTRE_UNAFFECTED);
    p = plan(&unknown_core, (struct spectre_fw){1, -1, 1});
    assert_answers(&p, 1, -1, 1, 0, false);
    p = plan(&unknown_core, (struct spectre_fw){0, -1, -2});
    assert_answers(&p, 0, -1, -1, MITIGATE_FW_WA1, false);
    ck_assert_int_eq(p.bhb, SPECTRE_VULNERABLE);
    p = plan(&unknown_core, no_fw);
    assert_answers(&p, -1, -1, -1, 0, false);
}
END_TEST

START_TEST(test_only_implementer_and_part_number_pick_the_loop)
{
    /* Another variant and revision of the A72 (r1p3): still 8. */
    struct spectre_cpu_id id = cortex_a72;
    id.midr = 0x411fd083;
    struct spectre_plan p = plan(&id, no_fw);
    ck_assert_uint_eq(p.mitigate, MITIGATE_BHB_LOOP(8));
    /* The A72's part number from another implementer: no loop. */
    id.midr = 0x420fd083;
    p = plan(&id, no_fw);
    ck_assert_uint_eq(p.mitigate, 0);
    ck_assert_int_eq(p.bhb, SPECTRE_VULNERABLE);
}
END_TEST

TALLY_SUITE(spectre)
Suite *spectre_suite(void)
{
    Suite *s = suite_create("spectre");
    TCase *t = tcase_create("policy");
    tcase_add_test(t, test_cortex_a72_without_firmware_is_vulnerable_to_v2_and_v4_and_loops_8);
    tcase_add_test(t, test_cortex_a72_with_firmware_wa1_calls_it_on_every_exit);
    tcase_add_test(t, test_cortex_a72_with_firmware_wa1_wa2_wa3_loops_and_turns_ssbd_on);
    tcase_add_test(t, test_cortex_a57_loops_8_like_the_a72);
    tcase_add_test(t, test_cortex_a53_is_unaffected_whatever_the_firmware_says);
    tcase_add_test(t, test_neoverse_n1_has_csv2_and_ssbs_and_loops_24);
    tcase_add_test(t, test_max_is_unaffected_with_nothing_on_exit);
    tcase_add_test(t, test_csv2_csv3_ssbs_set_on_an_a72);
    tcase_add_test(t, test_clrbhb_is_preferred_to_the_loop_and_ecbhb_needs_nothing);
    tcase_add_test(t, test_firmware_wa1_answers_1_unaffected_minus1_minus2_vulnerable);
    tcase_add_test(t, test_firmware_wa2_answers_0_on_for_good_1_and_minus2_not_required_minus1_not);
    tcase_add_test(t, test_firmware_wa3_on_a_core_without_loop_replaces_wa1_on_exit);
    tcase_add_test(t, test_only_implementer_and_part_number_pick_the_loop);
    suite_add_tcase(s, t);
    return s;
}
