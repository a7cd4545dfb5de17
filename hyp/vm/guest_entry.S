// SPDX-License-Identifier: MIT
// Guest entry and exit. guest_enter(ctx) is an ordinary call from C on the
// pCPU's tracked stack (SP_EL0): it saves Tally's callee-saved registers on
// that stack, records the stack pointer in ctx->host_sp, pushes ctx on the
// CPU's SP_EL2 stack (where every exception to EL2 lands) and ERETs into the
// guest with its general registers, SP_EL0, PC and PSTATE. Any exception
// from the guest comes in through vectors.S's lower-EL entries, which branch
// to guest_exit with x0/x1 pushed and x1 = the vector index: guest_exit finds
// ctx on SP_EL2, saves the guest's registers and the syndrome (ESR, FAR,
// HPFAR), pops SP_EL2 back to where it was, returns to SP_EL0 = host_sp,
// and "returns" from guest_enter with the exit code (vector & 3:
// EXIT_SYNC, EXIT_IRQ, EXIT_FIQ, EXIT_SERROR). Interrupts stay masked at
// EL2 on return (the exception masked them); the C code handles them.
//
// fp_save/fp_load move the FP/SIMD registers (q0-q31, FPSR, FPCR), used at
// vcpu load/put (Tally's C code is built with -mgeneral-regs-only).
#include "vcpu.h"

    .text
    .global guest_enter
guest_enter:
    stp     x29, x30, [sp, #-96]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    mov     x1, sp
    str     x1, [x0, #VCPU_CTX_HOST_SP]
    // ctx on SP_EL2: guest_exit finds it there. SP_EL0 becomes the guest's,
    // which MSR can write only while SP_EL2 is the stack in use (SPSel = 1,
    // as it also is when the exit comes back).
    msr     spsel, #1
    str     x0, [sp, #-16]!
    ldr     x1, [x0, #VCPU_CTX_SP_EL0]
    msr     sp_el0, x1
    ldp     x1, x2, [x0, #VCPU_CTX_PC]      // pc, pstate
    msr     elr_el2, x1
    msr     spsr_el2, x2
    ldp     x2, x3, [x0, #2 * 8]
    ldp     x4, x5, [x0, #4 * 8]
    ldp     x6, x7, [x0, #6 * 8]
    ldp     x8, x9, [x0, #8 * 8]
    ldp     x10, x11, [x0, #10 * 8]
    ldp     x12, x13, [x0, #12 * 8]
    ldp     x14, x15, [x0, #14 * 8]
    ldp     x16, x17, [x0, #16 * 8]
    ldp     x18, x19, [x0, #18 * 8]
    ldp     x20, x21, [x0, #20 * 8]
    ldp     x22, x23, [x0, #22 * 8]
    ldp     x24, x25, [x0, #24 * 8]
    ldp     x26, x27, [x0, #26 * 8]
    ldp     x28, x29, [x0, #28 * 8]
    ldr     x30, [x0, #30 * 8]
    ldp     x0, x1, [x0, #0]
    eret
    dsb     nsh                     // no speculation past the ERET
    isb

// From vectors.S: on SP_EL2, [sp] = {guest x0, guest x1}, [sp + 16] = ctx,
// x1 = vector index.
    .global guest_exit
guest_exit:
    ldr     x0, [sp, #16]
    stp     x2, x3, [x0, #2 * 8]
    stp     x4, x5, [x0, #4 * 8]
    stp     x6, x7, [x0, #6 * 8]
    stp     x8, x9, [x0, #8 * 8]
    stp     x10, x11, [x0, #10 * 8]
    stp     x12, x13, [x0, #12 * 8]
    stp     x14, x15, [x0, #14 * 8]
    stp     x16, x17, [x0, #16 * 8]
    stp     x18, x19, [x0, #18 * 8]
    stp     x20, x21, [x0, #20 * 8]
    stp     x22, x23, [x0, #22 * 8]
    stp     x24, x25, [x0, #24 * 8]
    stp     x26, x27, [x0, #26 * 8]
    stp     x28, x29, [x0, #28 * 8]
    str     x30, [x0, #30 * 8]
    ldp     x2, x3, [sp], #32       // guest x0, x1; ctx slot popped too
    stp     x2, x3, [x0, #0]
    mrs     x2, sp_el0
    str     x2, [x0, #VCPU_CTX_SP_EL0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #VCPU_CTX_PC]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [x0, #VCPU_CTX_ESR]
    mrs     x2, hpfar_el2
    str     x2, [x0, #VCPU_CTX_HPFAR]
    // Spectre mitigations (spectre.c chose them for this CPU), before the
    // first indirect branch or return at EL2 after the guest ran.
    ldr     x2, [x0, #VCPU_CTX_MITIGATE]
    cbz     x2, 3f
    ands    x3, x2, #0xff           // BHB loop: k taken branches
    b.eq    2f
1:  b       . + 4
    subs    x3, x3, #1
    b.ne    1b
    dsb     nsh
    isb
2:  tbz     x2, #8, 4f
    hint    #22                     // CLRBHB
    isb
4:  tst     x2, #((1 << 9) | (1 << 10))
    b.eq    3f
    mov     x19, x0                 // the SMC may clobber x0-x17
    mov     x20, x1
    tst     x2, #(1 << 10)
    mov     w0, #0x8000             // ARCH_WORKAROUND_1 = 0x80008000
    movk    w0, #0x8000, lsl #16
    mov     w3, #0x3fff             // ARCH_WORKAROUND_3 = 0x80003fff
    movk    w3, #0x8000, lsl #16
    csel    w0, w3, w0, ne
    smc     #0
    mov     x0, x19
    mov     x1, x20
3:
    and     x1, x1, #3
    msr     spsel, #0
    ldr     x2, [x0, #VCPU_CTX_HOST_SP]
    mov     sp, x2
    mov     x0, x1
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret

    .global fp_save
fp_save:
    stp     q0, q1, [x0, #0 * 32]
    stp     q2, q3, [x0, #1 * 32]
    stp     q4, q5, [x0, #2 * 32]
    stp     q6, q7, [x0, #3 * 32]
    stp     q8, q9, [x0, #4 * 32]
    stp     q10, q11, [x0, #5 * 32]
    stp     q12, q13, [x0, #6 * 32]
    stp     q14, q15, [x0, #7 * 32]
    stp     q16, q17, [x0, #8 * 32]
    stp     q18, q19, [x0, #9 * 32]
    stp     q20, q21, [x0, #10 * 32]
    stp     q22, q23, [x0, #11 * 32]
    stp     q24, q25, [x0, #12 * 32]
    stp     q26, q27, [x0, #13 * 32]
    stp     q28, q29, [x0, #14 * 32]
    stp     q30, q31, [x0, #15 * 32]
    mrs     x1, fpsr
    mrs     x2, fpcr
    add     x0, x0, #16 * 32
    stp     x1, x2, [x0]
    ret

    .global sve_reset
sve_reset:
    .arch_extension sve
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    mov     z\n\().d, #0
    .endr
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    pfalse  p\n\().b
    .endr
    wrffr   p0.b
    msr     S3_0_C1_C2_0, xzr       // ZCR_EL1
    ret

    .global fp_load
fp_load:
    ldp     q0, q1, [x0, #0 * 32]
    ldp     q2, q3, [x0, #1 * 32]
    ldp     q4, q5, [x0, #2 * 32]
    ldp     q6, q7, [x0, #3 * 32]
    ldp     q8, q9, [x0, #4 * 32]
    ldp     q10, q11, [x0, #5 * 32]
    ldp     q12, q13, [x0, #6 * 32]
    ldp     q14, q15, [x0, #7 * 32]
    ldp     q16, q17, [x0, #8 * 32]
    ldp     q18, q19, [x0, #9 * 32]
    ldp     q20, q21, [x0, #10 * 32]
    ldp     q22, q23, [x0, #11 * 32]
    ldp     q24, q25, [x0, #12 * 32]
    ldp     q26, q27, [x0, #13 * 32]
    ldp     q28, q29, [x0, #14 * 32]
    ldp     q30, q31, [x0, #15 * 32]
    add     x0, x0, #16 * 32
    ldp     x1, x2, [x0]
    msr     fpsr, x1
    msr     fpcr, x2
    ret
