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
//                          GICV, GICv3 ITS, RTC, fw_cfg, virtio-mmio, flash
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
//   cpu-on-storm           50 cycles of CPU_ON + 20 more CPU_ONs of CPU 1:
//                          SUCCESS once, ALREADY_ON 20 times, then CPU_OFF
// At the end the boot CPU calls CPU_OFF: the last vCPU off ends the VM.
//   still-answering        TALLY_HC_VERSION after all of the above
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
#define TALLY_MAGIC           0x54414c4c59ull

#define NOT_SUPPORTED      (-1L)
#define INVALID_PARAMETERS (-2L)
#define ALREADY_ON         (-4L)
#define INVALID_ADDRESS    (-9L)
#define PSCI_CPU_OFF       0x84000002ull
#define STORM_CYCLES       50
#define STORM_CALLS        20

u64 hg_call(int smc, u64 fid, u64 a1, u64 a2, u64 a3, u64 out[5]);
void hg_load(u64 addr);
void hg_store(u64 addr);
void hg_load_pair(u64 addr);
void hg_storm_entry(void);
void hg_load_post(u64 addr);
void hg_dc_civac(u64 addr);
void hg_main(const void *fdt);
u64 hg_sync(u64 esr, u64 far, u64 elr);
void hg_unexpected(u64 kind);

static u32 passed, failed;
/* Aborts taken by the probes (the handler skips the access). */
static u64 aborts, last_esr, last_far, last_elr;

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

u64 hg_sync(u64 esr, u64 far, u64 elr)
{
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
    static const u64 ids[] = {0x86000002, 0x8600fffe, 0x8600ffff, 0xc6000000,       0xc600ffff,
                              0x87000000, 0x12345678, 0xffffffff, 0xc4000000 | 0x1f};
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
    u64 nr_vcpus = out[3];
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
    static const u64 host_devices[] = {0x08030000, 0x08040000, 0x08080000, 0x09010000,
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
    check_cpu_on_bad_entry(nr_vcpus);
    check_cpu_on_storm(nr_vcpus);
    hg_call(0, TALLY_HC_VERSION, 0, 0, 0, out);
    result("still-answering", out[0] == 0x10000 && out[1] == TALLY_MAGIC && out[4], "x0", out[0]);

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
