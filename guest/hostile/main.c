// SPDX-License-Identifier: MIT
// Hostile test guest: a bare-metal EL1 program that does to Tally what a
// buggy or malicious guest would, and checks that each attempt ends in the
// documented answer (an injected synchronous external abort, PSCI/SMCCC
// error codes, registers left alone) while Tally carries on. It prints
// `hostile: PASS name` / `hostile: FAIL name: ...` per check, then
// `hostile: N passed, M failed` and PSCI SYSTEM_OFF; the QEMU scenario then
// checks that Tally tore the VM down with every page back.
//
// Checks (docs/guests.md, "Hostile guest"):
//   abort-unmapped-ipa     load and store at IPA 0x3f00000000
//   abort-above-ram        every page of the 16 MiB above the guest's RAM (in
//                          IPA space where the host keeps Tally's memory)
//   abort-host-devices     host frames not given to the guest: GICv2 GICH and
//                          GICV, GICv3 ITS, GPIO, fw_cfg, virtio-mmio, flash
//   abort-no-syndrome      LDP from the emulated distributor (no ISV)
//   cmo-on-mmio            DC CIVAC on the distributor and unmapped IPA space:
//                          completes without an abort
//   mmio-walk-fault        a load whose stage-1 walk reads the emulated
//                          distributor (TTBR1 there): one injected abort
//   smccc-undefined        undefined ids in and out of Tally's range: -1, and
//                          x1-x3 unchanged but x0, x4-x17 preserved
//   psci-over-smc          PSCI_VERSION through SMC (trapped) as through HVC
//   psci-bad-arguments     CPU_ON/AFFINITY_INFO of absent CPUs, bad levels,
//                          CPU_ON of itself, unsupported functions
//   cpu-on-bad-entry       CPU_ON at an address outside RAM: INVALID_ADDRESS,
//                          CPU 1 stays OFF
//   hc-features            TALLY_HC_FEATURES: 0 for Tally's ids, -1 past them
//   share-bad-requests     sharing calls with a missing VM, itself, unaligned,
//                          out-of-range and wrapping IPAs, 0 and 513 pages,
//                          bad flags, an MMIO page, IPAs above its RAM (where
//                          Tally's memory is), pages it does not share, lend
//                          or borrow: each its own error code, and the
//                          accounting call's counts unchanged
//   share-with-tally       share 2 pages with Tally, again (ERR_SHARED),
//                          unshare, again (ERR_NOTSHARED), with exact counts;
//                          one page is left shared through SYSTEM_OFF
//   idreg-write-undef      MSR to four ID registers: one UNDEF each, the
//                          registers read back unchanged
//   trapped-reg-undef      IMPLEMENTATION DEFINED registers, RAS (ERXSELR),
//                          SVE (ZCR, only where SVE is not advertised;
//                          where it is, ZCR writes must not UNDEF),
//                          SME (SMCR), MTE (GCR), AMU (AMCR),
//                          TCR2, and PMCR_EL0 when the PMU reads as absent:
//                          one UNDEF each (trapped ones injected by Tally)
//   pmu-no-el2-cycles      with a PMU: the cycle counter and an event counter
//                          filtered to count only EL2 read 0 across 2,000
//                          HVCs (MDCR_EL2.HPMD, HCCD), while counting EL1
//                          they advance
//   cpu-on-storm           50 cycles of CPU_ON + 20 more CPU_ONs of CPU 1:
//                          SUCCESS once, ALREADY_ON 20 times, then CPU_OFF
//   still-answering        TALLY_HC_VERSION after all of the above
// At the end the boot CPU calls CPU_OFF: the last vCPU off ends the VM.
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t u64;
typedef uint32_t u32;

#define UART 0x09000000ull
#define GICD 0x08000000ull

#define PSCI_VERSION          0x84000000ull
#define PSCI_CPU_SUSPEND      0x84000001ull
#define PSCI_CPU_ON_64        0xc4000003ull
#define PSCI_AFFINITY_INFO_64 0xc4000004ull
#define PSCI_SYSTEM_OFF       0x84000008ull
#define PSCI_FEATURES         0x8400000aull
#define TALLY_HC_VERSION      0x86000000ull
#define TALLY_HC_ACCOUNTING   0x86000001ull
#define TALLY_HC_FEATURES     0x86000002ull
#define TALLY_HC_SHARE        0xc6000003ull
#define TALLY_HC_UNSHARE      0xc6000004ull
#define TALLY_HC_LEND         0xc6000005ull
#define TALLY_HC_RECLAIM      0xc6000006ull
#define TALLY_HC_DONATE       0xc6000007ull
#define TALLY_HC_RELINQUISH   0xc6000008ull
#define TALLY_HC_SHARE_HYP    0xc6000009ull
#define TALLY_HC_UNSHARE_HYP  0xc600000aull
#define TALLY_MAGIC           0x54414c4c59ull
#define BORROW_IPA            0x8000000000ull

/* include/tally/errno.h */
#define ERR_INVAL     (-2L)
#define ERR_ALIGN     (-3L)
#define ERR_RANGE     (-4L)
#define ERR_NOENT     (-6L)
#define ERR_NOVM      (-11L)
#define ERR_SELF      (-12L)
#define ERR_SHARED    (-13L)
#define ERR_NOTSHARED (-15L)
#define ERR_DEVICE    (-16L)
#define ERR_TOOBIG    (-17L)

#define NOT_SUPPORTED      (-1L)
#define INVALID_PARAMETERS (-2L)
#define ALREADY_ON         (-4L)
#define INVALID_ADDRESS    (-9L)
#define PSCI_CPU_OFF       0x84000002ull
#define STORM_CYCLES       50
#define STORM_CALLS        20

u64 hg_call(int smc, u64 fid, u64 a1, u64 a2, u64 a3, u64 out[5]);
long hg_hvc6(u64 fid, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5);
void hg_load(u64 addr);
void hg_store(u64 addr);
void hg_load_pair(u64 addr);
void hg_storm_entry(void);
void hg_load_post(u64 addr);
void hg_dc_civac(u64 addr);
void hg_main(const void *fdt);
u64 hg_sync(u64 esr, u64 far, u64 elr);
void hg_unexpected(u64 kind);
/* UNDEF probes (head.S): one MSR/MRS each; return x0. */
u64 hg_w_aa64pfr0(u64 v);
u64 hg_w_aa64isar2(u64 v);
u64 hg_w_aa64mmfr0(u64 v);
u64 hg_w_aa64dfr0(u64 v);
u64 hg_w_impdef(u64 v);
u64 hg_r_impdef(u64 v);
u64 hg_w_erxselr(u64 v);
u64 hg_w_zcr(u64 v);
u64 hg_w_smcr(u64 v);
u64 hg_w_gcr(u64 v);
u64 hg_r_amcr(u64 v);
u64 hg_w_tcr2(u64 v);
u64 hg_r_pmcr(u64 v);

static u32 passed, failed;
/* Aborts taken by the probes (the handler skips the access). */
static u64 aborts, last_esr, last_far, last_elr;
/* UNDEFs (EC 0) taken by the UNDEF probes. */
static u64 undefs, last_undef_elr;

static void putc_(char c)
{
    while (*(volatile u32 *)(UART + 0x18) & (1u << 5))
        ;
    *(volatile u32 *)UART = (u32)c;
}

static void puts_(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            putc_('\r');
        putc_(*s);
    }
}

static void puthex(u64 v)
{
    char b[19];
    int i = 18;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    puts_(b + i);
}

static void putu(u64 v)
{
    char b[21];
    int i = 20;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(b + i);
}

static void result(const char *name, bool ok, const char *detail, u64 value)
{
    puts_(ok ? "hostile: PASS " : "hostile: FAIL ");
    puts_(name);
    if (!ok) {
        puts_(": ");
        puts_(detail);
        puts_(" ");
        puthex(value);
    }
    puts_("\n");
    if (ok)
        passed++;
    else
        failed++;
}

typedef u64 (*uprobe_fn)(u64);

static bool is_undef_probe(u64 elr)
{
    /* Compared one by one: a table of function addresses would need
     * absolute relocations, and this image is position independent. */
    return elr == (u64)hg_w_aa64pfr0 || elr == (u64)hg_w_aa64isar2 || elr == (u64)hg_w_aa64mmfr0 ||
           elr == (u64)hg_w_aa64dfr0 || elr == (u64)hg_w_impdef || elr == (u64)hg_r_impdef ||
           elr == (u64)hg_w_erxselr || elr == (u64)hg_w_zcr || elr == (u64)hg_w_smcr ||
           elr == (u64)hg_w_gcr || elr == (u64)hg_r_amcr || elr == (u64)hg_w_tcr2 ||
           elr == (u64)hg_r_pmcr;
}

u64 hg_sync(u64 esr, u64 far, u64 elr)
{
    if ((esr >> 26) == 0 && is_undef_probe(elr)) {
        undefs++;
        last_undef_elr = elr;
        return elr + 4;
    }
    aborts++;
    last_esr = esr;
    last_far = far;
    last_elr = elr;
    if (elr != (u64)hg_load && elr != (u64)hg_store && elr != (u64)hg_load_pair &&
        elr != (u64)hg_load_post) {
        puts_("hostile: FAIL unexpected exception: esr=");
        puthex(esr);
        puts_(" elr=");
        puthex(elr);
        puts_("\n");
        hg_call(0, PSCI_SYSTEM_OFF, 0, 0, 0, (u64[5]){0});
    }
    return elr + 4;
}

void hg_unexpected(u64 kind)
{
    puts_("hostile: FAIL unexpected exception vector ");
    putu(kind);
    puts_("\n");
    hg_call(0, PSCI_SYSTEM_OFF, 0, 0, 0, (u64[5]){0});
    for (;;)
        __asm__ volatile("wfi");
}

static long call(u64 fid, u64 a1, u64 a2, u64 a3)
{
    u64 out[5];
    return (long)hg_call(0, fid, a1, a2, a3, out);
}

/* One probe: exactly one synchronous external abort (EC 0x25, DFSC 0x10)
 * at the probe instruction, WnR as the access, FAR = addr. */
static bool probe(void (*fn)(u64), u64 addr, bool store, u64 *why)
{
    u64 before = aborts;
    fn(addr);
    if (aborts != before + 1) {
        *why = aborts - before;
        return false;
    }
    bool ok = (last_esr >> 26) == 0x25 && (last_esr & 0x3f) == 0x10 &&
              !!(last_esr & (1u << 6)) == store && last_elr == (u64)fn &&
              (fn == hg_load_pair || last_far == addr);
    *why = last_esr;
    return ok;
}

static void check_probes(const char *name, const u64 *addrs, unsigned n)
{
    u64 why = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!probe(hg_load, addrs[i], false, &why) || !probe(hg_store, addrs[i], true, &why)) {
            puts_("hostile: at ");
            puthex(addrs[i]);
            puts_("\n");
            result(name, false, "not one injected abort, ESR/count", why);
            return;
        }
    }
    result(name, true, "", 0);
}

static void check_above_ram(u64 ram_pages)
{
    u64 end = 0x40000000ull + ram_pages * 4096, why = 0;
    for (u64 a = end; a < end + (16ull << 20); a += 4096) {
        if (!probe(hg_load, a, false, &why)) {
            puts_("hostile: at ");
            puthex(a);
            puts_("\n");
            result("abort-above-ram", false, "not one injected abort, ESR/count", why);
            return;
        }
    }
    result("abort-above-ram", probe(hg_store, end, true, &why), "store: ESR/count", why);
}

/* DC CIVAC on the emulated distributor and on unmapped IPA space: nothing
 * to clean there, so the instruction completes (Tally skips it, as KVM
 * does) and no abort is taken (hg_sync would report one as unexpected). */
static void check_cache_maintenance_on_mmio(void)
{
    u64 before = aborts;
    hg_dc_civac(GICD);
    hg_dc_civac(GICD + 0x1000);
    hg_dc_civac(0x3f00000000ull);
    result("cmo-on-mmio", aborts == before, "aborts taken", aborts - before);
}

/*
 * An access whose stage-1 walk reads MMIO: with the MMU on, TTBR0 maps the
 * low 2 GiB (devices, then RAM) with 1 GiB blocks, and TTBR1 points at the
 * emulated distributor (IPA 0x08000000, not mapped at stage 2). A load from
 * the TTBR1 half makes the walk read "page tables" there: a stage-2 fault
 * on the stage-1 walk (S1PTW), whose HPFAR names the distributor. Tally
 * must not emulate that as a distributor access: the guest gets one
 * synchronous external abort at the load, and Tally carries on.
 */
static u64 walk_l1[512] __attribute__((aligned(4096)));
#define MMU_VA_HIGH 0xffffff8000000000ull /* TTBR1, T1SZ = 25 */
static void check_mmio_walk_fault(void)
{
    walk_l1[0] = 0x00000000ull | (1u << 10) | (0u << 2) | 1;             /* Device-nGnRnE */
    walk_l1[1] = 0x40000000ull | (1u << 10) | (3u << 8) | (1u << 2) | 1; /* Normal WB */
    u64 tcr = 25 | (1u << 8) | (1u << 10) | (3u << 12) | (25ull << 16) | (1ull << 24) |
              (1ull << 26) | (3ull << 28) | (2ull << 30) | (2ull << 32);
    __asm__ volatile("msr mair_el1, %0\n\tmsr tcr_el1, %1\n\tmsr ttbr0_el1, %2\n\t"
                     "msr ttbr1_el1, %3\n\tdsb sy\n\ttlbi vmalle1\n\tdsb sy\n\tisb"
                     :
                     : "r"(0xff00ull), "r"(tcr), "r"((u64)walk_l1), "r"(GICD)
                     : "memory");
    u64 sctlr;
    __asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
    __asm__ volatile("msr sctlr_el1, %0\n\tisb" : : "r"(sctlr | 1) : "memory");
    u64 why = 0;
    /* Post-indexed: Tally could decode it from the instruction, and the
     * walk's IPA has the VA's page offset: only the fault kind (a walk)
     * keeps it from being "emulated" as a read of GICD_CTLR. */
    bool ok = probe(hg_load_post, MMU_VA_HIGH + 0x1000, false, &why);
    __asm__ volatile("msr sctlr_el1, %0\n\tisb\n\ttlbi vmalle1\n\tdsb sy\n\tisb"
                     :
                     : "r"(sctlr)
                     : "memory");
    result("mmio-walk-fault", ok, "ESR/count", why);
}

static void check_smccc_undefined(void)
{
    static const u64 ids[] = {0x86000003, 0xc600000b, 0x8600fffe, 0x8600ffff, 0xc6000000,
                              0xc600ffff, 0x87000000, 0x12345678, 0xffffffff, 0xc4000000 | 0x1f};
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        u64 out[5];
        long r = (long)hg_call(0, ids[i], 0x111, 0x222, 0x333, out);
        if (r != NOT_SUPPORTED || out[1] != 0x111 || out[2] != 0x222 || out[3] != 0x333 ||
            !out[4]) {
            result("smccc-undefined", false, "an undefined id answered or changed registers",
                   ids[i]);
            return;
        }
    }
    result("smccc-undefined", true, "", 0);
}

static void check_psci_bad_arguments(void)
{
    static const struct {
        char what[32];
        u64 fid, a1, a2;
        long want;
    } cases[] = {
        {"CPU_ON of an absent CPU", PSCI_CPU_ON_64, 0xff, 0x40200000, INVALID_PARAMETERS},
        {"CPU_ON of itself", PSCI_CPU_ON_64, 0, 0x40200000, ALREADY_ON},
        {"AFFINITY_INFO of an absent CPU", PSCI_AFFINITY_INFO_64, 0x12345, 0, INVALID_PARAMETERS},
        {"AFFINITY_INFO level 1", PSCI_AFFINITY_INFO_64, 0, 1, 0 /* ON: the cluster */},
        {"AFFINITY_INFO level 3", PSCI_AFFINITY_INFO_64, 0, 3, 0},
        {"AFFINITY_INFO level 4", PSCI_AFFINITY_INFO_64, 0, 4, INVALID_PARAMETERS},
        {"CPU_ON entry outside RAM", PSCI_CPU_ON_64, 1, 0x3f00000000ull, INVALID_ADDRESS},
        {"CPU_ON entry below RAM", PSCI_CPU_ON_64, 1, 0x3ffff000, INVALID_ADDRESS},
        {"CPU_ON misaligned entry", PSCI_CPU_ON_64, 1, 0x40200002, INVALID_ADDRESS},
        {"CPU_SUSPEND reserved bits", PSCI_CPU_SUSPEND, 1u << 30, 0, INVALID_PARAMETERS},
        {"CPU_SUSPEND state id", PSCI_CPU_SUSPEND, 1, 0, INVALID_PARAMETERS},
        {"CPU_SUSPEND standby level 1", PSCI_CPU_SUSPEND, 1u << 24, 0, INVALID_PARAMETERS},
        {"CPU_SUSPEND power-down off RAM", PSCI_CPU_SUSPEND, 1u << 16, 0x10, INVALID_ADDRESS},
        {"FEATURES of a bad id", PSCI_FEATURES, 0xdeadbeef, 0, NOT_SUPPORTED},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long r = call(cases[i].fid, cases[i].a1, cases[i].a2, 0);
        if (r != cases[i].want) {
            result("psci-bad-arguments", false, cases[i].what, (u64)r);
            return;
        }
    }
    result("psci-bad-arguments", true, "", 0);
}

static void check_cpu_on_bad_entry(u64 nr_vcpus)
{
    if (nr_vcpus < 2) {
        result("cpu-on-bad-entry", false, "needs 2 vCPUs, has", nr_vcpus);
        return;
    }
    long r = call(PSCI_CPU_ON_64, 1, 0x3f00000000ull, 0);
    long st = call(PSCI_AFFINITY_INFO_64, 1, 0, 0);
    /* Refused: CPU 1 never started (OFF is 1). */
    result("cpu-on-bad-entry", r == INVALID_ADDRESS && st == 1, "CPU_ON returned", (u64)r);
}

/* CPU_ON storms against CPU 1: each cycle, the first CPU_ON is SUCCESS and
 * the STORM_CALLS after it, while CPU 1 is on its way or running, are all
 * ALREADY_ON; then CPU 1 is let go, calls CPU_OFF, and reads OFF again. */
static volatile u32 storm_release;
static void check_cpu_on_storm(u64 nr_vcpus)
{
    if (nr_vcpus < 2) {
        result("cpu-on-storm", false, "needs 2 vCPUs, has", nr_vcpus);
        return;
    }
    for (unsigned c = 0; c < STORM_CYCLES; c++) {
        storm_release = 0;
        long r = call(PSCI_CPU_ON_64, 1, (u64)hg_storm_entry, (u64)&storm_release);
        if (r != 0) {
            result("cpu-on-storm", false, "first CPU_ON of a cycle returned", (u64)r);
            return;
        }
        for (unsigned i = 0; i < STORM_CALLS; i++) {
            r = call(PSCI_CPU_ON_64, 1, (u64)hg_storm_entry, (u64)&storm_release);
            if (r != ALREADY_ON) {
                result("cpu-on-storm", false, "a CPU_ON of a started CPU returned", (u64)r);
                return;
            }
        }
        __asm__ volatile("dsb sy" ::: "memory");
        storm_release = 1;
        long st = -100;
        for (int i = 0; i < 10000000 && st != 1; i++)
            st = call(PSCI_AFFINITY_INFO_64, 1, 0, 0);
        if (st != 1) {
            result("cpu-on-storm", false, "CPU 1 did not turn OFF, AFFINITY_INFO", (u64)st);
            return;
        }
    }
    result("cpu-on-storm", true, "", 0);
}

static void check_features(void)
{
    static const u64 ids[] = {0x86000000, 0x86000001, 0x86000002, 0xc6000003,
                              0xc6000004, 0xc6000005, 0xc6000006, 0xc6000007,
                              0xc6000008, 0xc6000009, 0xc600000a};
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (call(TALLY_HC_FEATURES, ids[i], 0, 0) != 0) {
            result("hc-features", false, "not reported:", ids[i]);
            return;
        }
    long r1 = call(TALLY_HC_FEATURES, 0x86000003, 0, 0);
    long r2 = call(TALLY_HC_FEATURES, 0xc600000b, 0, 0);
    result("hc-features", r1 == NOT_SUPPORTED && r2 == NOT_SUPPORTED, "an undefined id reported",
           (u64)r1);
}

/* TALLY_HC_ACCOUNTING's x1..x6 (x2, the table count, left out: a share
 * with Tally does not change the VM's stage-2). */
static void counts(u64 c[6])
{
    u64 out[5];
    hg_call(0, TALLY_HC_ACCOUNTING, 0, 0, 0, out);
    c[0] = out[1];
    c[1] = out[3];
    /* x4-x6 are not in out[]: read them through a second, raw call. */
    register u64 x0 __asm__("x0") = TALLY_HC_ACCOUNTING;
    register u64 x4 __asm__("x4"), x5 __asm__("x5"), x6 __asm__("x6");
    __asm__ volatile("hvc #0"
                     : "+r"(x0), "=r"(x4), "=r"(x5), "=r"(x6)
                     :
                     : "x1", "x2", "x3", "memory");
    c[2] = x4;
    c[3] = x5;
    c[4] = x6;
    c[5] = x0;
}

static bool same(const u64 *a, const u64 *b)
{
    for (int i = 0; i < 6; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static void check_share_bad_requests(u64 vm_id, u64 ram_pages)
{
    u64 page = 0x40000000ull + (ram_pages - 256) * 4096; /* its own RAM, unused */
    u64 above = 0x40000000ull + ram_pages * 4096, end = 1ull << 40, other = vm_id + 7;
    const struct {
        char what[28];
        u64 fid, a1, a2, a3, a4, a5;
        long want;
    } cases[] = {
        {"share with missing VM", TALLY_HC_SHARE, page, 1, other, BORROW_IPA, 0, ERR_NOVM},
        {"share with itself", TALLY_HC_SHARE, page, 1, vm_id, BORROW_IPA, 0, ERR_SELF},
        {"lend to itself", TALLY_HC_LEND, page, 1, vm_id, BORROW_IPA, 0, ERR_SELF},
        {"donate to missing VM", TALLY_HC_DONATE, page, 1, other, BORROW_IPA, 0, ERR_NOVM},
        {"share unaligned IPA", TALLY_HC_SHARE, page + 8, 1, other, BORROW_IPA, 0, ERR_ALIGN},
        {"share IPA past 2^40", TALLY_HC_SHARE, end, 1, other, BORROW_IPA, 0, ERR_RANGE},
        {"share wrapping range", TALLY_HC_SHARE, end - 4096, 2, other, BORROW_IPA, 0, ERR_RANGE},
        {"share 0 pages", TALLY_HC_SHARE, page, 0, other, BORROW_IPA, 0, ERR_INVAL},
        {"share 513 pages", TALLY_HC_SHARE, page, 513, other, BORROW_IPA, 0, ERR_TOOBIG},
        {"share bad flags", TALLY_HC_SHARE, page, 1, other, BORROW_IPA, 2, ERR_INVAL},
        {"unshare with itself", TALLY_HC_UNSHARE, page, 1, vm_id, BORROW_IPA, 0, ERR_SELF},
        {"unshare with missing VM", TALLY_HC_UNSHARE, page, 1, other, 8, 0, ERR_NOVM},
        {"share with Tally: MMIO", TALLY_HC_SHARE_HYP, UART, 1, 0, 0, 0, ERR_DEVICE},
        {"share with Tally: above RAM", TALLY_HC_SHARE_HYP, above, 1, 0, 0, 0, ERR_NOENT},
        {"share with Tally: past RAM", TALLY_HC_SHARE_HYP, page, 300, 0, 0, 0, ERR_NOENT},
        {"unshare from Tally: unshared", TALLY_HC_UNSHARE_HYP, page, 1, 0, 0, 0, ERR_NOTSHARED},
        {"reclaim: not lent", TALLY_HC_RECLAIM, page, 1, other, BORROW_IPA, 0, ERR_NOTSHARED},
        {"relinquish own page", TALLY_HC_RELINQUISH, page, 1, 0, 0, 0, ERR_NOTSHARED},
        {"relinquish unmapped", TALLY_HC_RELINQUISH, BORROW_IPA, 1, 0, 0, 0, ERR_NOENT},
    };
    u64 before[6], after[6];
    counts(before);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long r =
            hg_hvc6(cases[i].fid, cases[i].a1, cases[i].a2, cases[i].a3, cases[i].a4, cases[i].a5);
        counts(after);
        if (r != cases[i].want || !same(before, after)) {
            result("share-bad-requests", false, cases[i].what, (u64)r);
            return;
        }
    }
    result("share-bad-requests", before[0] == ram_pages, "pages owned", before[0]);
}

static void check_share_with_tally(u64 ram_pages)
{
    u64 page = 0x40000000ull + (ram_pages - 256) * 4096, c[6];
    long r1 = hg_hvc6(TALLY_HC_SHARE_HYP, page, 2, 0, 0, 0);
    counts(c);
    bool shared = r1 == 0 && c[4] == 2 && c[0] == ram_pages && c[5] == 0;
    long r2 = hg_hvc6(TALLY_HC_SHARE_HYP, page + 4096, 1, 0, 0, 0);
    long r3 = hg_hvc6(TALLY_HC_UNSHARE_HYP, page, 2, 0, 0, 0);
    long r4 = hg_hvc6(TALLY_HC_UNSHARE_HYP, page, 1, 0, 0, 0);
    counts(c);
    bool ok = shared && r2 == ERR_SHARED && r3 == 0 && r4 == ERR_NOTSHARED && c[4] == 0;
    /* One page stays shared through SYSTEM_OFF: the teardown takes it back
     * from Tally (the scenario checks leaked=0). */
    long r5 = hg_hvc6(TALLY_HC_SHARE_HYP, page, 1, 0, 0, 0);
    counts(c);
    ok = ok && r5 == 0 && c[4] == 1;
    result("share-with-tally", ok, "share/again/unshare/again",
           (u64)((r1 & 0xff) << 24 | (r2 & 0xff) << 16 | (r3 & 0xff) << 8 | (r4 & 0xff)));
}

/* Exactly one UNDEF at the probe itself. */
static bool undef_once(uprobe_fn fn, u64 arg)
{
    u64 before = undefs;
    fn(arg);
    return undefs == before + 1 && last_undef_elr == (u64)fn;
}

#define READ(r)                                                                                    \
    ({                                                                                             \
        u64 v__;                                                                                   \
        __asm__ volatile("mrs %0, " #r : "=r"(v__));                                               \
        v__;                                                                                       \
    })
#define WRITE(r, v) __asm__ volatile("msr " #r ", %0" ::"r"((u64)(v)) : "memory")

static void check_idreg_writes(void)
{
    u64 pfr0 = READ(S3_0_C0_C4_0), isar2 = READ(S3_0_C0_C6_2);
    u64 mmfr0 = READ(S3_0_C0_C7_0), dfr0 = READ(S3_0_C0_C5_0);
    bool ok = undef_once(hg_w_aa64pfr0, ~pfr0) && undef_once(hg_w_aa64isar2, ~isar2) &&
              undef_once(hg_w_aa64mmfr0, ~mmfr0) && undef_once(hg_w_aa64dfr0, ~dfr0);
    ok = ok && READ(S3_0_C0_C4_0) == pfr0 && READ(S3_0_C0_C6_2) == isar2 &&
         READ(S3_0_C0_C7_0) == mmfr0 && READ(S3_0_C0_C5_0) == dfr0;
    result("idreg-write-undef", ok, "UNDEFs", undefs);
}

/* ZCR_EL1 is the guest's where SVE is advertised, an UNDEF where not. */
static bool zcr_as_advertised(void)
{
    if (!((READ(S3_0_C0_C4_0) >> 32) & 0xf))
        return undef_once(hg_w_zcr, 1);
    u64 before = undefs;
    hg_w_zcr(1);
    hg_w_zcr(0);
    return undefs == before;
}

static void check_trapped_regs(void)
{
    /* The guest's own CPACR_EL1 lets FP, SVE and SME through (FPEN, ZEN, SMEN; RES0
     * without them), so what traps them is Tally's CPTR_EL2. */
    u64 cpacr = READ(cpacr_el1);
    WRITE(cpacr_el1, cpacr | (3u << 16) | (3u << 20) | (3u << 24));
    __asm__ volatile("isb");
    /* In this order; a failure names the first probe without its UNDEF
     * (no table of function addresses: the image has no absolute
     * relocations). */
    unsigned bad = !undef_once(hg_w_impdef, 1)    ? 1
                   : !undef_once(hg_r_impdef, 1)  ? 2
                   : !undef_once(hg_w_erxselr, 1) ? 3
                   : !zcr_as_advertised()         ? 4
                   : !undef_once(hg_w_smcr, 1)    ? 5
                   : !undef_once(hg_w_gcr, 1)     ? 6
                   : !undef_once(hg_r_amcr, 1)    ? 7
                   : !undef_once(hg_w_tcr2, 1)    ? 8
                                                  : 0;
    WRITE(cpacr_el1, cpacr);
    __asm__ volatile("isb");
    if (bad) {
        result("trapped-reg-undef", false, "no UNDEF for probe", bad);
        return;
    }
    /* PMUVer 0: the PMU is hidden, and trapped whole. */
    if (((READ(S3_0_C0_C5_0) >> 8) & 0xf) == 0 && !undef_once(hg_r_pmcr, 0)) {
        result("trapped-reg-undef", false, "no UNDEF for PMCR_EL0 with PMUVer 0", 0);
        return;
    }
    result("trapped-reg-undef", true, "", 0);
}

#define PMCR_E         (1u << 0)
#define PMCR_P         (1u << 1)
#define PMCR_C         (1u << 2)
#define PMCR_DP        (1u << 5)
#define PMCR_LC        (1u << 6)
#define PMU_FILTER_P   (1u << 31) /* do not count at EL1 */
#define PMU_FILTER_U   (1u << 30) /* do not count at EL0 */
#define PMU_FILTER_NSH (1u << 27) /* count at EL2 */
#define PMU_CPU_CYCLES 0x11
#define PMU_CYCLE_BIT  (1u << 31)

/* Run the PMU with `filter` on the cycle counter and on event counter 0
 * (CPU_CYCLES) across 2,000 HVCs and a busy loop at EL1; out: both counts. */
static void pmu_run(u64 filter, u64 *cycles, u64 *events)
{
    u64 out[5];
    WRITE(pmcr_el0, PMCR_P | PMCR_C | PMCR_LC);
    WRITE(pmccfiltr_el0, filter);
    WRITE(pmselr_el0, 0);
    __asm__ volatile("isb");
    WRITE(pmxevtyper_el0, filter | PMU_CPU_CYCLES);
    WRITE(pmcntenset_el0, PMU_CYCLE_BIT | 1u);
    WRITE(pmcr_el0, PMCR_E | PMCR_LC); /* DP = 0: the guest asks for EL2 cycles */
    __asm__ volatile("isb");
    for (unsigned i = 0; i < 2000; i++)
        hg_call(0, TALLY_HC_VERSION, 0, 0, 0, out);
    for (volatile unsigned i = 0; i < 10000; i++)
        ;
    WRITE(pmcr_el0, PMCR_LC);
    __asm__ volatile("isb");
    *cycles = READ(pmccntr_el0);
    WRITE(pmselr_el0, 0);
    __asm__ volatile("isb");
    *events = READ(pmxevcntr_el0);
    WRITE(pmcntenclr_el0, PMU_CYCLE_BIT | 1u);
}

static void check_pmu_el2(void)
{
    if (((READ(S3_0_C0_C5_0) >> 8) & 0xf) == 0) {
        puts_("hostile: PMU reads as absent (hidden: the CPU has no MDCR_EL2.HCCD)\n");
        result("pmu-no-el2-cycles", true, "", 0);
        return;
    }
    u64 el2_cycles, el2_events, el1_cycles, el1_events;
    pmu_run(PMU_FILTER_P | PMU_FILTER_U | PMU_FILTER_NSH, &el2_cycles, &el2_events);
    pmu_run(PMU_FILTER_U, &el1_cycles, &el1_events);
    puts_("hostile: PMU given: EL2-only counts ");
    putu(el2_cycles);
    puts_(" cycles, ");
    putu(el2_events);
    puts_(" events; EL1 counts ");
    putu(el1_cycles);
    puts_(" cycles, ");
    putu(el1_events);
    puts_(" events\n");
    if (el2_cycles || el2_events)
        result("pmu-no-el2-cycles", false, "EL2 cycles counted", el2_cycles + el2_events);
    else
        result("pmu-no-el2-cycles", el1_cycles && el1_events, "EL1 not counted", el1_cycles);
}

void hg_main(const void *fdt)
{
    u64 out[5];
    (void)fdt;
    puts_("hostile: start\n");
    hg_call(0, TALLY_HC_VERSION, 0, 0, 0, out);
    if (out[1] != TALLY_MAGIC) {
        puts_("hostile: FAIL not running under Tally\n");
        hg_call(0, PSCI_SYSTEM_OFF, 0, 0, 0, out);
    }
    u64 nr_vcpus = out[3], vm_id = out[2];
    hg_call(0, TALLY_HC_ACCOUNTING, 0, 0, 0, out);
    u64 ram_pages = out[1];
    puts_("hostile: ");
    putu(nr_vcpus);
    puts_(" vCPUs, ");
    putu(ram_pages);
    puts_(" RAM pages\n");

    static const u64 unmapped[] = {0x3f00000000ull, 0x7fffffff000ull};
    check_probes("abort-unmapped-ipa", unmapped, 2);
    check_above_ram(ram_pages);
    static const u64 host_devices[] = {0x08030000, 0x08040000, 0x08080000, 0x09030000,
                                       0x09020000, 0x0a000000, 0x00000000, 0x04000000};
    check_probes("abort-host-devices", host_devices, 8);
    u64 why = 0;
    result("abort-no-syndrome", probe(hg_load_pair, GICD, false, &why), "ESR/count", why);
    check_cache_maintenance_on_mmio();
    check_mmio_walk_fault();
    check_smccc_undefined();
    u64 v_hvc = (u64)call(PSCI_VERSION, 0, 0, 0);
    u64 v_smc = hg_call(1, PSCI_VERSION, 0, 0, 0, out);
    result("psci-over-smc", v_smc == v_hvc && v_smc == 0x10000, "SMC PSCI_VERSION", v_smc);
    check_psci_bad_arguments();
    check_features();
    check_share_bad_requests(vm_id, ram_pages);
    check_share_with_tally(ram_pages);
    check_cpu_on_bad_entry(nr_vcpus);
    check_idreg_writes();
    check_trapped_regs();
    check_pmu_el2();
    check_cpu_on_storm(nr_vcpus);
    hg_call(0, TALLY_HC_VERSION, 0, 0, 0, out);
    result("still-answering", out[0] == 0x10001 && out[1] == TALLY_MAGIC && out[4], "x0", out[0]);

    puts_("hostile: ");
    putu(passed);
    puts_(" passed, ");
    putu(failed);
    puts_(" failed\n");
    /* CPU 1 is off: this CPU_OFF is the last vCPU's, which ends the VM. */
    hg_call(0, PSCI_CPU_OFF, 0, 0, 0, out);
    puts_("hostile: FAIL CPU_OFF returned\n");
    hg_call(0, PSCI_SYSTEM_OFF, 0, 0, 0, out);
    for (;;)
        __asm__ volatile("wfi");
}
