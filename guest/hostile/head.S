/* SPDX-License-Identifier: MIT */
/*
 * Hostile test guest: entry (Linux arm64 Image header, so Tally loads it as
 * a kernel), EL1 vectors, the probes and the SMCCC calls main.c uses. Like
 * guest/testguest it runs with the MMU off and is position independent.
 */

#include "../image-header.S"

primary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    adr     x1, __bss_start
    adr     x2, __bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  adr     x1, stack_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      hg_main
3:  wfi
    b       3b

/*
 * Vectors: a synchronous exception from EL1 (SP_EL1) calls
 * hg_sync(esr, far, elr) and resumes at the address it returns; anything
 * else calls hg_unexpected(kind), which does not return.
 */
    .macro  vbad kind
    .balign 0x80
    mov     x0, #\kind
    b       hg_unexpected
    .endm

    .balign 0x800
vectors:
    vbad    0
    vbad    1
    vbad    2
    vbad    3
    .balign 0x80                    /* 0x200: synchronous, EL1 with SP_EL1 */
    b       sync_el1
    vbad    5
    vbad    6
    vbad    7
    vbad    8
    vbad    9
    vbad    10
    vbad    11
    vbad    12
    vbad    13
    vbad    14
    vbad    15

/* Only the probes below fault, and they clobber nothing the handler needs
 * beyond x0-x18 and x30 (caller-saved in the C code that calls them). */
sync_el1:
    sub     sp, sp, #32
    stp     x29, x30, [sp]
    mrs     x0, esr_el1
    mrs     x1, far_el1
    mrs     x2, elr_el1
    bl      hg_sync
    msr     elr_el1, x0
    ldp     x29, x30, [sp]
    add     sp, sp, #32
    eret

/*
 * hg_storm_entry: where CPU_ON starts CPU 1 in the CPU_ON storm, x0 = the
 * address of a 32-bit release flag. It spins (MMU off: the flag is Device
 * memory, no cache to go stale) until the flag is non-zero, then CPU_OFF.
 */
    .global hg_storm_entry
hg_storm_entry:
1:  ldr     w1, [x0]
    cbz     w1, 1b
    mov     w0, #0x0002             // PSCI CPU_OFF = 0x84000002
    movk    w0, #0x8400, lsl #16
    hvc     #0
2:  wfi
    b       2b

/* Probes: one access each; an abort resumes after it. */
    .global hg_dc_civac
hg_dc_civac:
    dc      civac, x0
    ret

    .global hg_load, hg_store, hg_load_pair
hg_load:
    ldr     x1, [x0]
    ret
    .global hg_load_post
hg_load_post:                       // post-indexed: no syndrome, decodable
    ldr     x1, [x0], #8
    ret
hg_store:
    str     x1, [x0]
    ret
hg_load_pair:
    ldp     x1, x2, [x0]
    ret

/*
 * long hg_hvc6(u64 fid, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5): HVC #0 with
 * x0-x5 as given (the sharing calls take five arguments); returns x0.
 */
    .global hg_hvc6
hg_hvc6:
    hvc     #0
    ret

/*
 * UNDEF probes: one system-register access each, returning x0 (an MRS's
 * result, or the argument if the access was skipped). hg_sync resumes after
 * an UNDEF (EC 0) taken at one of them.
 */
    .macro  uprobe name, insn:vararg
    .global \name
\name:
    \insn
    ret
    .endm
    uprobe  hg_w_aa64pfr0, msr S3_0_C0_C4_0, x0     /* ID_AA64PFR0_EL1 */
    uprobe  hg_w_aa64isar2, msr S3_0_C0_C6_2, x0    /* ID_AA64ISAR2_EL1 */
    uprobe  hg_w_aa64mmfr0, msr S3_0_C0_C7_0, x0    /* ID_AA64MMFR0_EL1 */
    uprobe  hg_w_aa64dfr0, msr S3_0_C0_C5_0, x0     /* ID_AA64DFR0_EL1 */
    uprobe  hg_w_impdef, msr S3_0_C15_C0_0, x0      /* IMPLEMENTATION DEFINED */
    uprobe  hg_r_impdef, mrs x0, S3_1_C15_C2_1      /* IMPDEF (CPUECTLR on Cortex) */
    uprobe  hg_w_erxselr, msr S3_0_C5_C3_1, x0      /* ERXSELR_EL1 (RAS) */
    uprobe  hg_w_zcr, msr S3_0_C1_C2_0, x0          /* ZCR_EL1 (SVE) */
    uprobe  hg_w_smcr, msr S3_0_C1_C2_6, x0         /* SMCR_EL1 (SME) */
    uprobe  hg_w_gcr, msr S3_0_C1_C0_6, x0          /* GCR_EL1 (MTE) */
    uprobe  hg_r_amcr, mrs x0, S3_3_C13_C2_0        /* AMCR_EL0 (AMU) */
    uprobe  hg_w_tcr2, msr S3_0_C2_C0_3, x0         /* TCR2_EL1 (HCRX_EL2.TCR2En) */
    uprobe  hg_r_pmcr, mrs x0, pmcr_el0             /* PMCR_EL0 */


/*
 * u64 hg_call(int smc, u64 fid, u64 a1, u64 a2, u64 a3, u64 out[4]):
 * an SMCCC call through HVC #0 (smc == 0) or SMC #0 with x4-x17 set to
 * known values; returns x0 and writes x0-x3 to out[0..3]. out[4] is set to
 * 1 if x4-x17 came back unchanged, else 0.
 */
    .global hg_call
hg_call:
    stp     x19, x20, [sp, #-16]!
    mov     x19, x0
    mov     x20, x5
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    mov     x3, x4
    mov     x4, #0x404
    mov     x5, #0x505
    mov     x6, #0x606
    mov     x7, #0x707
    mov     x8, #0x808
    mov     x9, #0x909
    mov     x10, #0xa0a
    mov     x11, #0xb0b
    mov     x12, #0xc0c
    mov     x13, #0xd0d
    mov     x14, #0xe0e
    mov     x15, #0xf0f
    mov     x16, #0x1010
    mov     x17, #0x1111
    cbnz    x19, 1f
    hvc     #0
    b       2f
1:  smc     #0
2:  stp     x0, x1, [x20]
    stp     x2, x3, [x20, #16]
    mov     x0, xzr
    mov     x1, #0x404
    eor     x1, x1, x4
    orr     x0, x0, x1
    mov     x1, #0x505
    eor     x1, x1, x5
    orr     x0, x0, x1
    mov     x1, #0x606
    eor     x1, x1, x6
    orr     x0, x0, x1
    mov     x1, #0x707
    eor     x1, x1, x7
    orr     x0, x0, x1
    mov     x1, #0x808
    eor     x1, x1, x8
    orr     x0, x0, x1
    mov     x1, #0x909
    eor     x1, x1, x9
    orr     x0, x0, x1
    mov     x1, #0xa0a
    eor     x1, x1, x10
    orr     x0, x0, x1
    mov     x1, #0xb0b
    eor     x1, x1, x11
    orr     x0, x0, x1
    mov     x1, #0xc0c
    eor     x1, x1, x12
    orr     x0, x0, x1
    mov     x1, #0xd0d
    eor     x1, x1, x13
    orr     x0, x0, x1
    mov     x1, #0xe0e
    eor     x1, x1, x14
    orr     x0, x0, x1
    mov     x1, #0xf0f
    eor     x1, x1, x15
    orr     x0, x0, x1
    mov     x1, #0x1010
    eor     x1, x1, x16
    orr     x0, x0, x1
    mov     x1, #0x1111
    eor     x1, x1, x17
    orr     x0, x0, x1
    cmp     x0, #0
    cset    x19, eq
    str     x19, [x20, #32]
    ldr     x0, [x20]
    ldp     x19, x20, [sp], #16
    ret

    .section .bss.stack, "aw", %nobits
    .balign 16
    .space  16384
stack_top:
