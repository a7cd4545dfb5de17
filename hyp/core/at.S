// SPDX-License-Identifier: MIT
// uint64_t hyp_at_s1(uint64_t va, uint64_t el0): PAR_EL1 after AT S1E1R
// (el0 = 0) or AT S1E0R of va in the EL1&0 regime loaded on this CPU (a
// guest's, for MMIO decoding), the PAR_EL1 found on entry kept. The walk
// reads the guest's tables and may take a synchronous external abort at EL2
// (Linux commit 88a84ccccb39): hyp_exception_fixup() (exceptions.c) then
// counts it in hyp_at_fixups and resumes at hyp_at_fixup, which answers
// PAR.F = 1, FST = 0x10 (external abort). HCR_EL2.PTW makes a walk into
// stage-2 Device memory a fault instead of a read.
    .text
    .global hyp_at_s1, hyp_at_insn_e1, hyp_at_insn_e0, hyp_at_fixup
hyp_at_s1:
    stp     x19, x30, [sp, #-16]!
    mrs     x19, par_el1
    cbnz    x1, 1f
hyp_at_insn_e1:
    at      s1e1r, x0
    b       2f
1:
hyp_at_insn_e0:
    at      s1e0r, x0
2:  isb
    mrs     x0, par_el1
3:  msr     par_el1, x19
    ldp     x19, x30, [sp], #16
    ret
hyp_at_fixup:
    mov     x0, #(1 | (0x10 << 1))
    b       3b
