/* SPDX-License-Identifier: MIT */
/*
 * Test guest entry: a Linux arm64 Image header (so QEMU's -kernel, U-Boot's
 * booti or a hypervisor loads it as a kernel), the boot CPU's and the
 * secondary CPU's entry, the EL1 exception vectors and the SMCCC call.
 *
 * The image is position independent (every address is PC-relative and the
 * link has no relocations): it runs wherever the loader puts it. It runs with
 * the MMU off, so every data access is Device-nGnRnE; the C code is built with
 * -mstrict-align and uses no exclusive or LSE atomics.
 */

#include "../image-header.S"

/* x0 = physical address of the DTB (arm64 boot protocol). */
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    adr     x1, __bss_start
    adr     x2, __bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  adr     x1, stack0_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      tg_main
3:  wfi
    b       3b

/* PSCI CPU_ON target. x0 = context id: the top of this CPU's stack, also
 * passed on to tg_secondary_main so it can check what arrived. */
    .global tg_secondary_entry
tg_secondary_entry:
    msr     daifset, #0xf
    mov     sp, x0
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    bl      tg_secondary_main
4:  wfi
    b       4b

/*
 * long tg_smccc(int conduit_hvc, u64 fid, u64 a1, u64 a2, u64 a3, u64 out[4])
 * SMCCC 1.1 call through HVC (conduit_hvc != 0) or SMC; x0..x3 of the answer
 * go to out[] (when out is not NULL); returns x0.
 */
    .global tg_smccc
tg_smccc:
    mov     x9, x5
    mov     x8, x0
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    mov     x3, x4
    cbz     x8, 5f
    hvc     #0
    b       6f
5:  smc     #0
6:  cbz     x9, 7f
    stp     x0, x1, [x9]
    stp     x2, x3, [x9, #16]
7:  ret

/*
 * Exception vectors. Every entry saves x0-x30, ELR_EL1 and SPSR_EL1 in a
 * struct tg_frame on the current stack, calls tg_exception(frame, kind) and
 * restores the (possibly changed) frame before ERET; kind is the vector
 * index (0..15, e.g. 4 = synchronous, 5 = IRQ from EL1 with SP_EL1).
 */
    .macro  ventry kind
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       vector_common
    .endm

    .balign 0x800
vectors:
    ventry  0
    ventry  1
    ventry  2
    ventry  3
    ventry  4
    ventry  5
    ventry  6
    ventry  7
    ventry  8
    ventry  9
    ventry  10
    ventry  11
    ventry  12
    ventry  13
    ventry  14
    ventry  15

vector_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x30, x2, [sp, #240]
    str     x3, [sp, #256]
    mov     x0, sp
    bl      tg_exception
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #272
    eret

/*
 * The unmapped-IPA probes: one load and one store to x0. The abort handler
 * recognises these two instructions by address and skips them.
 */
    .global tg_probe_load, tg_probe_store
tg_probe_load:
    ldr     x1, [x0]
    ret
tg_probe_store:
    str     x1, [x0]
    ret

    .section .bss.stack, "aw", %nobits
    .balign 16
    .space  16384
stack0_top:
