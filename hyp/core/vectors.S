// SPDX-License-Identifier: MIT
// EL2 exception vectors. Tally's code runs on SP_EL0 (SPSel = 0), so every
// exception taken at EL2 switches to SP_EL2, the CPU's emergency stack: a
// kernel-stack overflow (a store into the guard page) still has a stack to
// report it on. Each entry saves the registers in a struct exc_frame
// (exceptions.c) and calls hyp_exception(frame, vector index), which decodes
// and reports, and never returns, unless hyp_exception_fixup() knows the
// instruction (an AT walking a guest's tables): then it resumes at the
// fix-up; a nested exception (taken with SP_EL2 in use) comes in through
// the "current EL, SPx" group. Exceptions from a guest (lower EL) go to
// guest_exit (guest_entry.S), which returns to the vCPU loop.
#include <tally/sysreg.h>

// struct exc_frame (36 words) + a frame record {x29, ELR} so a debugger's
// backtrace continues into the code that took the exception.
#define FRAME_SIZE (38 * 8)

.macro vector_entry idx
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0 * 8]
    mov     x1, #\idx
    b       save_and_report
.endm

// From a guest: push its x0/x1 on SP_EL2 (guest_enter left ctx above them).
.macro guest_vector idx
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\idx
    b       guest_exit
.endm

    .text
    .balign 2048
    .global hyp_vectors
hyp_vectors:
    // Current EL with SP_EL0: Tally's own code.
    vector_entry 0      // synchronous
    vector_entry 1      // IRQ
    vector_entry 2      // FIQ
    vector_entry 3      // SError
    // Current EL with SP_ELx: inside an exception handler (nested).
    vector_entry 4
    vector_entry 5
    vector_entry 6
    vector_entry 7
    // Lower EL, AArch64: the guest.
    guest_vector 8
    guest_vector 9
    guest_vector 10
    guest_vector 11
    // Lower EL, AArch32 (guest EL0 in AArch32): the same exits.
    guest_vector 12
    guest_vector 13
    guest_vector 14
    guest_vector 15

// x0 and x1 are saved; x1 = vector index. Save the rest, then report. The
// CFI (in .debug_frame, for debuggers only) says: the caller's frame is the
// code that took the exception, its PC is ELR and its x29 the saved one.
    .cfi_sections .debug_frame
save_and_report:
    .cfi_startproc
    .cfi_signal_frame
    stp     x2, x3, [sp, #2 * 8]
    stp     x4, x5, [sp, #4 * 8]
    stp     x6, x7, [sp, #6 * 8]
    stp     x8, x9, [sp, #8 * 8]
    stp     x10, x11, [sp, #10 * 8]
    stp     x12, x13, [sp, #12 * 8]
    stp     x14, x15, [sp, #14 * 8]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #18 * 8]
    stp     x20, x21, [sp, #20 * 8]
    stp     x22, x23, [sp, #22 * 8]
    stp     x24, x25, [sp, #24 * 8]
    stp     x26, x27, [sp, #26 * 8]
    stp     x28, x29, [sp, #28 * 8]
    mrs     x2, sp_el0
    stp     x30, x2, [sp, #30 * 8]  // x30, and the interrupted SP_EL0
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #32 * 8]
    mrs     x5, esr_el2
    mrs     x3, far_el2
    stp     x5, x3, [sp, #34 * 8]
    ldr     x4, [sp, #29 * 8]
    stp     x4, x2, [sp, #36 * 8]   // frame record: interrupted x29, ELR
    add     x29, sp, #36 * 8
    .cfi_def_cfa x29, 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov     x19, x1                 // the vector index (x19 is in the frame)
    mov     x0, sp
    bl      hyp_exception_fixup     // an instruction with a fix-up?
    cbnz    x0, 2f
    mov     x0, sp
    mov     x1, x19
    bl      hyp_exception
1:  wfe
    b       1b
    // Resume at the fix-up with every register but x0-x17 as it was (the
    // fix-up code follows the C calling convention).
2:  msr     elr_el2, x0
    ldp     x18, x19, [sp, #18 * 8]
    ldp     x20, x21, [sp, #20 * 8]
    ldp     x22, x23, [sp, #22 * 8]
    ldp     x24, x25, [sp, #24 * 8]
    ldp     x26, x27, [sp, #26 * 8]
    ldp     x28, x29, [sp, #28 * 8]
    ldr     x30, [sp, #30 * 8]
    add     sp, sp, #FRAME_SIZE
    eret
    .cfi_endproc
