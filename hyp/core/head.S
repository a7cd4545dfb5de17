// SPDX-License-Identifier: MIT
// Entry of the Tally image: the Linux arm64 Image header, the boot CPU's path
// from the boot loader to C (hyp_main), and the secondary CPUs' path from
// PSCI CPU_ON to C (smp_secondary_main).
//
// Boot CPU, entered at the image base with the MMU off and x0 = DTB address:
//   1. check CurrentEL == EL2, else print a message on the early PL011 and park
//   2. turn the MMU and caches on with a static identity "boot map"
//      (1 GiB blocks, Normal memory except the GiB holding the early UART),
//      so that C and libfdt run on cacheable memory where unaligned accesses
//      and exclusives are well defined; mmu.c later replaces it with tracked
//      tables built by the page-table engine
//   3. apply the R_AARCH64_RELATIVE relocations (the image is linked at 0
//      and runs wherever it was loaded), clear .bss
//   4. TPIDR_EL2 = &hyp_percpu[0], SP_EL2 = CPU 0's emergency stack, then run
//      on SP_EL0 (SPSel = 0) with the boot stack, VBAR_EL2 = hyp_vectors;
//      SErrors unmasked (reported), IRQ and FIQ stay masked at EL2
//   5. hyp_main(dtb)
#include <tally/sysreg.h>
#include "percpu.h"

// adr_l: PC-relative address of a symbol anywhere within +/-4 GiB.
.macro adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm

#define SCTLR_BOOT (SCTLR_EL2_RES1 | SCTLR_EL2_M | SCTLR_EL2_C | SCTLR_EL2_SA | SCTLR_EL2_I)
#define TCR_BOOT (TCR_EL2_RES1 | TCR_EL2_T0SZ(39) | TCR_EL2_IRGN0_WBWA | TCR_EL2_ORGN0_WBWA | \
                  TCR_EL2_SH0_INNER | TCR_EL2_TG0_4K)
#define R_AARCH64_RELATIVE 1027

// mov_q: load a 64-bit constant without a literal pool.
.macro mov_q reg, val
    movz    \reg, #(((\val) >> 48) & 0xffff), lsl #48
    movk    \reg, #(((\val) >> 32) & 0xffff), lsl #32
    movk    \reg, #(((\val) >> 16) & 0xffff), lsl #16
    movk    \reg, #((\val) & 0xffff)
.endm

    .section .text.head, "ax"
    .global _start
_start:
    // Linux arm64 Image header (Documentation/arch/arm64/booting.rst).
    b       primary_entry           // code0
    .long   0                       // code1
    .quad   0                       // text_offset: load at a 2 MiB boundary
    .quad   tally_image_size        // image_size, .bss included (tally.lds)
    .quad   0xa                     // flags: LE, 4 KiB pages, anywhere in RAM
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5: no PE/COFF header

primary_entry:
    msr     daifset, #0xf           // masked until the vectors are in place
    mov     x19, x0                 // DTB physical address
    mrs     x0, CurrentEL
    ubfx    x0, x0, #2, #2
    cmp     x0, #2
    b.ne    not_at_el2

    // EL2 without VHE, EL1 in AArch64; caches and MMU off until set up.
    mov_q   x0, HCR_RW
    msr     hcr_el2, x0
    mov_q   x0, SCTLR_EL2_RES1
    msr     sctlr_el2, x0
    isb

    // Boot map: MAIR, TCR (PS = the CPU's PA range, at most 48 bits), TTBR0.
    mov_q   x0, MAIR_EL2_BOOT
    msr     mair_el2, x0
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #0xf
    cmp     x1, #5
    mov     x2, #5
    csel    x1, x1, x2, ls
    mov_q   x0, TCR_BOOT
    orr     x0, x0, x1, lsl #TCR_EL2_PS_SHIFT
    msr     tcr_el2, x0
    adr_l   x0, boot_map_l1
    msr     ttbr0_el2, x0
    isb
    tlbi    alle2
    dsb     nsh
    isb
    mov_q   x0, SCTLR_BOOT
    msr     sctlr_el2, x0
    isb
    ic      iallu
    dsb     nsh
    isb

    // Self-relocation: *(base + r_offset) = base + r_addend for every entry
    // of .rela.dyn (R_AARCH64_NONE entries are skipped); the build checks that
    // no other type exists.
    adr     x11, _start
    adr_l   x9, __rela_start
    adr_l   x10, __rela_end
1:  cmp     x9, x10
    b.hs    2f
    ldp     x12, x13, [x9]
    ldr     x14, [x9, #16]
    add     x9, x9, #24
    cbz     x13, 1b                 // R_AARCH64_NONE: a slot ld left unused
    cmp     x13, #R_AARCH64_RELATIVE
    b.ne    bad_relocation
    add     x14, x14, x11
    str     x14, [x12, x11]
    b       1b
2:
    // Clear .bss (16-byte aligned at both ends, tally.lds).
    adr_l   x0, __bss_start
    adr_l   x1, __bss_end
3:  cmp     x0, x1
    b.hs    4f
    stp     xzr, xzr, [x0], #16
    b       3b
4:
    adr_l   x0, hyp_percpu
    msr     tpidr_el2, x0
    adr_l   x0, hyp_emergency_stacks
    add     x0, x0, #EMERGENCY_STACK_SIZE
    mov     sp, x0                  // SP_EL2: CPU 0's emergency stack
    msr     spsel, #0
    adr_l   x0, boot_stack
    add     x0, x0, #BOOT_STACK_SIZE
    mov     sp, x0                  // SP_EL0: the boot stack
    adr_l   x0, hyp_vectors
    msr     vbar_el2, x0
    isb
    msr     daifclr, #4             // SErrors are reported from now on
    mov     x0, x19
    bl      hyp_main
    b       park

// Secondary CPUs: PSCI CPU_ON enters here at EL2, MMU off, x0 = the CPU's
// struct percpu (identity mapped, cleaned to the point of coherency).
    .global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    mov_q   x0, HCR_RW
    msr     hcr_el2, x0
    ldr     x0, [x19, #PERCPU_MAIR]
    msr     mair_el2, x0
    ldr     x0, [x19, #PERCPU_TCR]
    msr     tcr_el2, x0
    ldr     x0, [x19, #PERCPU_TTBR0]
    msr     ttbr0_el2, x0
    isb
    tlbi    alle2
    dsb     nsh
    isb
    ldr     x0, [x19, #PERCPU_SCTLR]
    msr     sctlr_el2, x0
    isb
    ic      iallu
    dsb     nsh
    isb
    ldr     x0, [x19, #PERCPU_VBAR]
    msr     vbar_el2, x0
    msr     tpidr_el2, x19
    ldr     x0, [x19, #PERCPU_SP_EMRG]
    mov     sp, x0                  // SP_EL2
    msr     spsel, #0
    ldr     x0, [x19, #PERCPU_SP]
    mov     sp, x0                  // SP_EL0: the tracked kernel stack
    isb
    msr     daifclr, #4             // SErrors are reported
    mov     x0, x19
    bl      smp_secondary_main
    b       park

// Spin-table CPUs: firmware's loop jumps here at EL2, MMU off, with nothing
// in x0; the boot CPU left the CPU's struct percpu in spin_table_context
// (cleaned to the point of coherency) before writing cpu-release-addr.
    .global spin_table_entry
spin_table_entry:
    adr_l   x0, spin_table_context
    ldr     x0, [x0]
    b       secondary_entry

// smp_park(flag): store-release 1 to *flag, then wait for ever touching no
// memory (a spin-table CPU cannot be turned off; its stack is freed once the
// boot CPU sees the flag).
    .global smp_park
smp_park:
    mov     w1, #1
    stlr    w1, [x0]
    sev
1:  wfe
    b       1b

// Not at EL2: say so on the platform's early PL011 (MMU off, so its physical
// address works at any EL) and park.
not_at_el2:
    mov     x20, x0
    adr     x1, msg_not_el2
    bl      early_puts
    add     x0, x20, #'0'
    bl      early_putc
    adr     x1, msg_not_el2_tail
    bl      early_puts
    b       park

bad_relocation:
    adr     x1, msg_bad_reloc
    bl      early_puts
    b       park

park:
    wfe
    b       park

// early_puts: x1 = NUL-terminated string. early_putc: w0 = character.
// Clobber x0-x4; use only the PL011 data and flag registers.
early_puts:
    mov     x3, x30
5:  ldrb    w0, [x1], #1
    cbz     w0, 6f
    bl      early_putc
    b       5b
6:  ret     x3

early_putc:
    mov_q   x2, TALLY_EARLY_UART
7:  ldr     w4, [x2, #0x18]         // UARTFR
    tbnz    w4, #5, 7b              // TXFF: transmit FIFO full
    str     w0, [x2]                // UARTDR
    ret

msg_not_el2:
    .asciz  "\r\ntally: entered at EL"
msg_not_el2_tail:
    .asciz  ", not EL2: Tally is a hypervisor and must be started at EL2 (QEMU: -M virt,virtualization=on). Parked.\r\n"
msg_bad_reloc:
    .asciz  "\r\ntally: unsupported relocation type in the image (only R_AARCH64_RELATIVE is handled). Parked.\r\n"

// mmu_switch(ttbr0, tcr, sctlr): replace the boot map with the tracked tables.
// Both are identity maps of this code, but block sizes and permissions
// differ, so the switch happens with the MMU off (no stale or conflicting
// TLB entry can be used) and touches no memory while it is off.
    .text
    .global mmu_switch
mmu_switch:
    dsb     ish                     // table writes complete
    mrs     x3, sctlr_el2
    bic     x3, x3, #SCTLR_EL2_M
    msr     sctlr_el2, x3
    isb
    msr     tcr_el2, x1
    msr     ttbr0_el2, x0
    isb
    tlbi    alle2
    dsb     ish
    isb
    msr     sctlr_el2, x2
    isb
    ic      iallu
    dsb     ish
    isb
    ret

// call_on_stack(top, fn): run fn() on the stack ending at top (SP_EL0), with
// a fresh frame chain. fn must not return.
    .global call_on_stack
call_on_stack:
    mov     sp, x0
    mov     x29, xzr
    mov     x30, xzr
    br      x1

// The boot map: 512 level-1 blocks of 1 GiB covering a 39-bit identity map.
// Normal write-back memory, except the GiB of the early UART (Device-nGnRE,
// execute-never). Precomputed, so it needs no writes with the MMU off.
    .section .rodata.bootmap, "a"
    .balign 4096
boot_map_l1:
    .set    gib, 0
    .rept   512
    .if     gib == (TALLY_EARLY_UART >> 30)
    .quad   (gib << 30) | (1 << 54) | (1 << 10) | (1 << 6) | (MAIR_BOOT_IDX_DEVICE << 2) | 1
    .else
    .quad   (gib << 30) | (1 << 10) | (3 << 8) | (1 << 6) | (MAIR_BOOT_IDX_NORMAL << 2) | 1
    .endif
    .set    gib, gib + 1
    .endr

    .bss
    .balign 16
boot_stack:
    .skip   BOOT_STACK_SIZE
