// SPDX-License-Identifier: MIT
/*
 * The two-VM sharing test (docs/guests.md, "Sharing between two VMs"):
 * bootargs testguest.share=owner in one VM, testguest.share=peer in the
 * other, both members of one --shmem region. The owner shares, lends,
 * donates and shares with Tally pages at the top of its RAM; the peer maps
 * them in its borrow window and checks what it sees; both check the
 * accounting hypercall's exact counts after every step. With
 * testguest.share-orphan=1 the owner powers off while the peer still maps
 * one of its pages, and the peer then relinquishes it (docs/guests.md: only
 * that page outlives the owner; its block was broken at the first share).
 *
 * Handshake, in the first words of the shared region (zero at boot):
 *   word 0: the owner's step, word 1: the peer's step.
 * The peer writes 1 when it is up. For each step N >= 2 the owner changes
 * the sharing, writes N and waits until the peer's word is N; the peer waits
 * for N, checks its side and writes N. Each wait gives up after 120 s.
 * Word 2: 1 if the owner powers off with a page still shared (step 8).
 */
#include "testguest.h"

#define TALLY_HC_ACCOUNTING 0x86000001UL
#define TALLY_HC_SHARE      0xc6000003UL
#define TALLY_HC_UNSHARE    0xc6000004UL
#define TALLY_HC_LEND       0xc6000005UL
#define TALLY_HC_RECLAIM    0xc6000006UL
#define TALLY_HC_DONATE     0xc6000007UL
#define TALLY_HC_RELINQUISH 0xc6000008UL
#define ERR_EXIST           (-5L)
#define ERR_NOENT           (-6L)
#define ERR_SHARED          (-13L)
#define ERR_NOTSHARED       (-15L)
#define ERR_NOVM            (-11L)
#define ERR_DYING           (-18L)

#define PAGE        4096UL
#define BORROW_IPA  0x8000000000UL /* the bottom of the borrow window (40 bits) */
#define STEP_OFF    8              /* the owner is about to power off */
#define STEP_DONE   9              /* the peer has relinquished the last page */
#define WAIT_S      120
#define EC_DABT_CUR 0x25

static volatile u32 *shm;
static u64 vm_id, other_id;
static u64 ncpus_hint; /* the VM's vCPUs (TALLY_HC_VERSION x3) */

/* An HVC with x0-x5 as given; x0-x6 of the answer in out[] (may be NULL). */
static long hc(u64 fid, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 out[7])
{
    register u64 x0 __asm__("x0") = fid;
    register u64 x1 __asm__("x1") = a1;
    register u64 x2 __asm__("x2") = a2;
    register u64 x3 __asm__("x3") = a3;
    register u64 x4 __asm__("x4") = a4;
    register u64 x5 __asm__("x5") = a5;
    register u64 x6 __asm__("x6");
    __asm__ volatile("hvc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "=r"(x6)
                     :
                     : "x7", "memory");
    if (out) {
        out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
        out[4] = x4, out[5] = x5, out[6] = x6;
    }
    return (long)x0;
}

/* TALLY_HC_ACCOUNTING must say exactly: pages owned (x1), shared with a VM
 * (x3), lent (x4), borrowed (x5: other VMs' pages mapped), shared with Tally
 * (x6). No pointer tables here: the guest is position independent. */
static bool counts_are(const char *name, u64 owned, u64 shared, u64 lent, u64 borrowed, u64 hyp)
{
    u64 o[7];
    hc(TALLY_HC_ACCOUNTING, 0, 0, 0, 0, 0, o);
    const u64 want[] = {owned, 0, shared, lent, borrowed, hyp};
    if (o[0] != 0) {
        tg_fail(name, "TALLY_HC_ACCOUNTING returned", (long)o[0]);
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (i == 1) /* x2, the table pages: not asserted (splits vary) */
            continue;
        if (o[i + 1] != want[i]) {
            con_puts("testguest: ");
            con_puts(name);
            con_puts(": ");
            con_puts("x");
            con_putu((u64)i + 1);
            con_puts(" want ");
            con_putu(want[i]);
            con_puts("\n");
            tg_fail(name, "accounting count differs, got", (long)o[i + 1]);
            return false;
        }
    }
    return true;
}

static void result(const char *name, bool ok, const char *detail, long value)
{
    if (ok)
        tg_pass(name);
    else
        tg_fail(name, detail, value);
}

static void wait_word(int word, u32 step)
{
    u64 until = cntvct() + cntfrq() * WAIT_S;
    while (shm[word] < step)
        if (cntvct() > until) {
            tg_fail("share-handshake", "timed out waiting for step", step);
            tg_finish();
        }
}

static u32 rd(u64 ipa)
{
    return *(volatile u32 *)ipa;
}
static void wr(u64 ipa, u32 v)
{
    *(volatile u32 *)ipa = v;
    dsb_sy();
}

/* One access at ipa must take one injected data abort with that fault
 * status class (DFSC & 0x3c: 0x0c permission, 0x10 external abort). */
static bool aborts(bool store, u64 ipa, u64 dfsc_class)
{
    u64 esr, far;
    u32 n = tg_probe(store, ipa, &esr, &far);
    if (n != 1 || (esr >> 26) != EC_DABT_CUR || (esr & 0x3c) != dfsc_class ||
        !!(esr & (1UL << 6)) != store || far != ipa) {
        con_puts("testguest: probe: aborts ");
        con_putu(n);
        con_puts(" esr ");
        con_puthex(esr);
        con_puts(" far ");
        con_puthex(far);
        con_puts("\n");
        return false;
    }
    return true;
}

/*
 * Two vCPUs of the owner hammer SHARE/UNSHARE on overlapping ranges: in
 * round i, vCPU c shares pages [j, j+2) of four (j = (i + c) % 3) at
 * W + 16 + j and, when that succeeded, unshares them. A share may be refused
 * only because the other vCPU holds one of the pages (ERR_SHARED) or its
 * target entry (ERR_EXIST); an unshare of what the vCPU shared never fails.
 */
#define HAMMER_N 500
static u64 hammer_base;
static u32 hammer_ok[2], hammer_refused[2], hammer_bad[2];
static volatile u32 hammer_done;

static void hammer(int c)
{
    for (u32 i = 0; i < HAMMER_N; i++) {
        u64 j = (i + (u32)c) % 3;
        u64 pg = hammer_base + j * PAGE, w = BORROW_IPA + (16 + j) * PAGE;
        long r = hc(TALLY_HC_SHARE, pg, 2, other_id, w, 0, NULL);
        if (r == ERR_SHARED || r == ERR_EXIST) {
            hammer_refused[c]++;
        } else if (r != 0) {
            hammer_bad[c]++;
        } else {
            hammer_ok[c]++;
            if (hc(TALLY_HC_UNSHARE, pg, 2, other_id, w, 0, NULL) != 0)
                hammer_bad[c]++;
        }
    }
}

static void hammer_cpu1(void)
{
    hammer(1);
    dsb_sy();
    hammer_done = 1;
}

static void check_hammer(u64 R)
{
    hammer_base = tg_ram_end() - 8 * PAGE;
    long r = tg_start_cpu1(hammer_cpu1);
    if (r != 0) {
        tg_fail("share-hammer", "CPU_ON of the second vCPU returned", r);
        return;
    }
    hammer(0);
    u64 until = cntvct() + cntfrq() * WAIT_S;
    while (!hammer_done)
        if (cntvct() > until) {
            tg_fail("share-hammer", "the second vCPU did not finish", 0);
            return;
        }
    con_puts("testguest: hammer: vCPU 0 shared ");
    con_putu(hammer_ok[0]);
    con_puts(" times, vCPU 1 ");
    con_putu(hammer_ok[1]);
    con_puts("; refused ");
    con_putu(hammer_refused[0] + hammer_refused[1]);
    con_puts("\n");
    u32 bad = hammer_bad[0] + hammer_bad[1];
    result("share-hammer",
           bad == 0 && hammer_ok[0] + hammer_refused[0] == HAMMER_N &&
               hammer_ok[1] + hammer_refused[1] == HAMMER_N &&
               counts_are("share-hammer", R, 0, 0, 0, 0),
           "unexpected results:", bad);
}

static void owner(u64 ram_pages, bool orphan)
{
    u64 top = tg_ram_end() - 16 * PAGE;
    u64 a = top, b = top + PAGE, c = top + 2 * PAGE, d = top + 3 * PAGE, e = top + 4 * PAGE;
    u64 R = ram_pages;
    long r;
    u32 v;

    /* Fresh pages from the allocator read as zeros. */
    bool zero = true;
    for (u64 p = top; p < top + 5 * PAGE; p += 4)
        zero = zero && rd(p) == 0;
    result("share-fresh-pages-zero", zero, "a page at the top of RAM is not zero", 0);

    wait_word(1, 1); /* the peer is up */
    result("share-start-counts", counts_are("share-start-counts", R, 0, 0, 0, 0), "", 0);

    /* 2: page a shared read-write at BORROW_IPA. */
    wr(a, 0xc0ffee02);
    r = hc(TALLY_HC_SHARE, a, 1, other_id, BORROW_IPA, 0, NULL);
    result("share-rw", r == 0 && counts_are("share-rw", R, 1, 0, 0, 0), "SHARE returned", r);
    shm[0] = 2;
    wait_word(1, 2);
    result("share-rw-peer-write-seen", rd(a) == 0xbeef0002, "the owner reads", rd(a));

    /* 3: page b shared read-only at BORROW_IPA + 1 page. */
    wr(b, 0xc0ffee03);
    r = hc(TALLY_HC_SHARE, b, 1, other_id, BORROW_IPA + PAGE, 1, NULL);
    result("share-ro", r == 0 && counts_are("share-ro", R, 2, 0, 0, 0), "SHARE returned", r);
    shm[0] = 3;
    wait_word(1, 3);
    result("share-ro-unchanged", rd(b) == 0xc0ffee03, "the owner reads", rd(b));

    /* 4: a unshared. */
    r = hc(TALLY_HC_UNSHARE, a, 1, other_id, BORROW_IPA, 0, NULL);
    r = r                                                                            ? r
        : hc(TALLY_HC_UNSHARE, a, 1, other_id, BORROW_IPA, 0, NULL) == ERR_NOTSHARED ? 0
                                                                                     : -99;
    result("unshare", r == 0 && counts_are("unshare", R, 1, 0, 0, 0), "UNSHARE (twice) returned",
           r);
    shm[0] = 4;
    wait_word(1, 4);

    /* 5: c lent at BORROW_IPA + 2 pages; the owner's own access aborts. */
    wr(c, 0xc0ffee05);
    r = hc(TALLY_HC_LEND, c, 1, other_id, BORROW_IPA + 2 * PAGE, 0, NULL);
    result("lend", r == 0 && counts_are("lend", R, 1, 1, 0, 0), "LEND returned", r);
    result("lend-owner-access-aborts", aborts(false, c, 0x0c) && aborts(true, c, 0x0c),
           "the owner's access to its lent page did not fault", 0);
    shm[0] = 5;
    wait_word(1, 5);

    /* 6: c reclaimed, with what the borrower wrote. */
    r = hc(TALLY_HC_RECLAIM, c, 1, other_id, BORROW_IPA + 2 * PAGE, 0, NULL);
    result("reclaim", r == 0 && counts_are("reclaim", R, 1, 0, 0, 0), "RECLAIM returned", r);
    result("reclaim-borrower-write-seen", rd(c) == 0x1e5d0005, "the owner reads", rd(c));
    shm[0] = 6;
    wait_word(1, 6);

    /* 7: d donated at BORROW_IPA + 3 pages; the owner loses it. */
    wr(d, 0xc0ffee07);
    r = hc(TALLY_HC_DONATE, d, 1, other_id, BORROW_IPA + 3 * PAGE, 0, NULL);
    result("donate", r == 0 && counts_are("donate", R - 1, 1, 0, 0, 0), "DONATE returned", r);
    result("donate-owner-access-aborts", aborts(false, d, 0x10),
           "the owner's access to its donated page did not abort", 0);
    shm[0] = 7;
    wait_word(1, 7);

    /* The peer donated d back: the owner owns it in its own window. */
    v = rd(BORROW_IPA);
    result("donate-back", v == 0xd0d0a7ed && counts_are("donate-back", R, 1, 0, 0, 0),
           "the owner reads the returned page", v);

    /* Share e with Tally and take it back. */
    r = hc(TALLY_HC_SHARE_HYP, e, 1, 0, 0, 0, NULL);
    bool hyp = r == 0 && counts_are("share-hyp", R, 1, 0, 0, 1);
    r = hyp ? hc(TALLY_HC_UNSHARE_HYP, e, 1, 0, 0, 0, NULL) : r;
    result("share-hyp", hyp && r == 0 && counts_are("share-hyp", R, 1, 0, 0, 0),
           "SHARE_HYP/UNSHARE_HYP returned", r);

    /* Power off; with testguest.share-orphan=1 while the peer still maps b,
     * else once b is unshared. */
    if (orphan) {
        shm[2] = 1;
    } else {
        r = hc(TALLY_HC_UNSHARE, b, 1, other_id, BORROW_IPA + PAGE, 0, NULL);
        result("unshare-ro", r == 0 && counts_are("unshare-ro", R, 0, 0, 0, 0), "UNSHARE returned",
               r);
        if (ncpus_hint >= 2)
            check_hammer(R);
    }
    shm[0] = STEP_OFF;
}

static void peer(u64 ram_pages)
{
    u64 R = ram_pages;
    long r;

    result("share-start-counts", counts_are("share-start-counts", R, 0, 0, 0, 0), "", 0);
    shm[1] = 1;

    wait_word(0, 2);
    u32 v = rd(BORROW_IPA);
    result("share-rw-peer-reads", v == 0xc0ffee02 && counts_are("share-rw-peer", R, 0, 0, 1, 0),
           "the peer reads", v);
    wr(BORROW_IPA, 0xbeef0002);
    shm[1] = 2;

    wait_word(0, 3);
    v = rd(BORROW_IPA + PAGE);
    result("share-ro-peer-reads", v == 0xc0ffee03 && counts_are("share-ro-peer", R, 0, 0, 2, 0),
           "the peer reads", v);
    result("share-ro-write-permission-fault", aborts(true, BORROW_IPA + PAGE, 0x0c),
           "no permission fault for a write to a read-only share", 0);
    shm[1] = 3;

    wait_word(0, 4);
    result("unshare-peer-access-aborts",
           aborts(false, BORROW_IPA, 0x10) && counts_are("unshare-peer", R, 0, 0, 1, 0),
           "the unshared page is still mapped", 0);
    shm[1] = 4;

    wait_word(0, 5);
    v = rd(BORROW_IPA + 2 * PAGE);
    result("lend-borrower-reads", v == 0xc0ffee05 && counts_are("lend-borrower", R, 0, 0, 2, 0),
           "the borrower reads", v);
    wr(BORROW_IPA + 2 * PAGE, 0x1e5d0005);
    shm[1] = 5;

    wait_word(0, 6);
    result("reclaim-borrower-access-aborts",
           aborts(false, BORROW_IPA + 2 * PAGE, 0x10) &&
               counts_are("reclaim-borrower", R, 0, 0, 1, 0),
           "the reclaimed page is still mapped", 0);
    shm[1] = 6;

    wait_word(0, 7);
    v = rd(BORROW_IPA + 3 * PAGE);
    result("donate-new-owner-reads",
           v == 0xc0ffee07 && counts_are("donate-new-owner", R + 1, 0, 0, 1, 0),
           "the new owner reads", v);
    wr(BORROW_IPA + 3 * PAGE, 0xd0d0a7ed);
    r = hc(TALLY_HC_DONATE, BORROW_IPA + 3 * PAGE, 1, other_id, BORROW_IPA, 0, NULL);
    result("donate-on", r == 0 && counts_are("donate-on", R, 0, 0, 1, 0), "DONATE returned", r);
    shm[1] = 7;

    /* The owner powers off; wait until it is gone (ERR_NOVM for any call
     * naming it; UNSHARE of a page never shared changes nothing). */
    wait_word(0, STEP_OFF);
    u64 until = cntvct() + cntfrq() * WAIT_S;
    do {
        r = hc(TALLY_HC_UNSHARE, BORROW_IPA + 3 * PAGE, 1, other_id, BORROW_IPA, 0, NULL);
        if (cntvct() > until) {
            tg_fail("share-owner-gone", "the owner is still there, UNSHARE returned", r);
            tg_finish();
        }
    } while (r != ERR_NOVM && r != ERR_DYING); /* DYING: a reset's teardown */
    if (!shm[2]) {
        result("owner-gone-counts",
               counts_are("owner-gone-counts", R, 0, 0, 0, 0) &&
                   aborts(false, BORROW_IPA + PAGE, 0x10),
               "the page unshared before the owner's power-off is still mapped", 0);
        shm[1] = STEP_DONE;
        return;
    }
    v = rd(BORROW_IPA + PAGE);
    result("share-outlives-owner",
           v == 0xc0ffee03 && counts_are("share-outlives-owner", R, 0, 0, 1, 0),
           "after the owner's teardown the peer reads", v);

    r = hc(TALLY_HC_RELINQUISH, BORROW_IPA + PAGE, 1, 0, 0, 0, NULL);
    long again = hc(TALLY_HC_RELINQUISH, BORROW_IPA + PAGE, 1, 0, 0, 0, NULL);
    result("relinquish",
           r == 0 && again == ERR_NOENT && counts_are("relinquish", R, 0, 0, 0, 0) &&
               aborts(false, BORROW_IPA + PAGE, 0x10),
           "RELINQUISH returned", r);
    shm[1] = STEP_DONE;
}

void share_test(bool is_owner, bool orphan)
{
    int node = dt_find_compatible(-1, "tally,shmem");
    u64 base, o[7], ram_size = tg_ram_end() - 0x40000000UL; /* one bank at 0x40000000 */
    if (node < 0 || !dt_prop_cells(node, "reg", 0, 2, &base)) {
        tg_fail("share-setup", "no tally,shmem region in the device tree", 0);
        return;
    }
    shm = (volatile u32 *)base;
    hc(0x86000000UL, 0, 0, 0, 0, 0, o); /* TALLY_HC_VERSION: x2 = this VM's id */
    vm_id = o[2];
    ncpus_hint = o[3];
    other_id = vm_id ^ 1; /* the test runs as VMs 0 and 1 */
    con_puts(is_owner ? "testguest: sharing as the owner, VM "
                      : "testguest: sharing as the peer, VM ");
    con_putu(vm_id);
    con_puts(", region at ");
    con_puthex(base);
    con_puts("\n");
    if (is_owner && shm[0] == STEP_OFF) {
        /* Rebuilt after the run's SYSTEM_RESET (testguest.reset=1): RAM the
         * allocator got back from the first run, whose top 16 pages that
         * run wrote, reads zero. Then power off for good. */
        bool zero = true;
        for (u64 p = tg_ram_end() - 16 * PAGE; p < tg_ram_end(); p += 4)
            zero = zero && rd(p) == 0;
        result("share-reused-pages-zero", zero, "a page written by the run before is not zero", 0);
        tg_reset_at_end = false;
        return;
    }
    if (is_owner)
        owner(ram_size / PAGE, orphan);
    else
        peer(ram_size / PAGE);
}

/*
 * VM-to-VM sharing cost for make bench-exits (docs/benchmarks.md): VM 0 runs
 * testguest.bench=1, VM 1 testguest.bench=peer, both members of one --shmem
 * region. The peer says it is up (word 1), then sleeps in WFI between
 * virtual-timer ticks every 10 ms until the bencher's word 0 says done:
 * under -icount every instruction any vCPU runs advances the one clock both
 * read, so the peer must not spin. The bencher shares BENCH_PAGES pages at
 * the top of its RAM with the peer and unshares them, BENCH_ROUNDS times
 * after one untimed round (which faults the pages in and gives each its own
 * count: the first share of a page of a compound block breaks the block).
 */
#define BENCH_PAGES  64
#define BENCH_ROUNDS 100
#define BENCH_DONE   0xbe4cd0e5u

static bool bench_region(void)
{
    int node = dt_find_compatible(-1, "tally,shmem");
    u64 base, o[7];
    if (node < 0 || !dt_prop_cells(node, "reg", 0, 2, &base))
        return false;
    shm = (volatile u32 *)base;
    hc(0x86000000UL, 0, 0, 0, 0, 0, o); /* TALLY_HC_VERSION: x2 = this VM's id */
    vm_id = o[2];
    other_id = vm_id ^ 1;
    return true;
}

u64 share_bench_pages(void)
{
    if (!bench_region())
        return 0; /* alone: no peer to share with */
    wait_word(1, 1);
    u64 top = tg_ram_end() - (BENCH_PAGES + 16) * PAGE, t0 = 0;
    for (u64 p = top; p < top + BENCH_PAGES * PAGE; p += PAGE)
        wr(p, (u32)p);
    long bad = 0;
    for (unsigned i = 0; i <= BENCH_ROUNDS; i++) {
        if (i == 1)
            t0 = cntvct();
        bad |= hc(TALLY_HC_SHARE, top, BENCH_PAGES, other_id, BORROW_IPA, 0, NULL);
        bad |= hc(TALLY_HC_UNSHARE, top, BENCH_PAGES, other_id, BORROW_IPA, 0, NULL);
    }
    u64 per_page = (cntvct() - t0) / (BENCH_ROUNDS * BENCH_PAGES);
    shm[0] = BENCH_DONE;
    dsb_sy();
    if (bad) {
        con_puts("testguest: bench: SHARE/UNSHARE with the peer failed\n");
        return 0;
    }
    return per_page;
}

void share_bench_peer(u32 timer_intid)
{
    if (!bench_region()) {
        tg_fail("bench-peer", "no tally,shmem region in the device tree", 0);
        tg_finish();
    }
    if (gic_init() != 0) {
        tg_fail("bench-peer", "no GIC", 0);
        tg_finish();
    }
    gic_cpu_init();
    gic_enable_ppi_sgi(timer_intid);
    con_puts("testguest: bench peer up, VM ");
    con_putu(vm_id);
    con_puts("\n");
    shm[1] = 1;
    dsb_sy();
    /* IRQs stay masked: WFI wakes on the pending tick all the same. */
    u64 until = cntvct() + cntfrq() * WAIT_S;
    while (shm[0] != BENCH_DONE && cntvct() < until) {
        sysreg_write(cntv_tval_el0, cntfrq() / 100);
        sysreg_write(cntv_ctl_el0, 1);
        isb();
        __asm__ volatile("wfi" ::: "memory");
        sysreg_write(cntv_ctl_el0, 0);
        isb();
    }
    if (shm[0] == BENCH_DONE)
        tg_pass("bench-peer");
    else
        tg_fail("bench-peer", "the bencher never finished", 0);
    tg_finish();
}
