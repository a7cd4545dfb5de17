/* SPDX-License-Identifier: MIT */
/*
 * AArch64 system registers: accessors and the bit fields Tally uses at EL2.
 *
 * Only hyp/ includes this (mm/ stays architecture-free). Field names follow
 * the Arm ARM; values are what a register is written with, not guesses about
 * what firmware left there.
 */
#ifndef TALLY_SYSREG_H
#define TALLY_SYSREG_H

#ifdef __ASSEMBLER__
#define UL(x) (x)
#else
#include <tally/types.h>
#define UL(x) (x##ull)

#define read_sysreg(r)                                                                             \
    ({                                                                                             \
        uint64_t v__;                                                                              \
        __asm__ volatile("mrs %0, " #r : "=r"(v__));                                               \
        v__;                                                                                       \
    })

#define write_sysreg(r, v)                                                                         \
    do {                                                                                           \
        uint64_t v__ = (uint64_t)(v);                                                              \
        __asm__ volatile("msr " #r ", %0" : : "r"(v__) : "memory");                                \
    } while (0)

#define isb()    __asm__ volatile("isb" : : : "memory")
#define dsb(opt) __asm__ volatile("dsb " #opt : : : "memory")
#define dmb(opt) __asm__ volatile("dmb " #opt : : : "memory")
#define wfe()    __asm__ volatile("wfe" : : : "memory")
#define sev()    __asm__ volatile("sev" : : : "memory")
#endif

/* CurrentEL.EL, bits [3:2]. */
#define CURRENTEL_EL(v) (((v) >> 2) & 3)

/* MPIDR_EL1: affinity fields (Aff3 in [39:32], Aff2..0 in [23:0]). */
#define MPIDR_AFF_MASK UL(0xff00ffffff)

/* ID_AA64MMFR0_EL1.PARange, bits [3:0]: 0..6 = 32,36,40,42,44,48,52 bits. */
#define ID_AA64MMFR0_PARANGE(v) ((v)&0xf)

/* HCR_EL2 */
#define HCR_RW  (UL(1) << 31) /* EL1 is AArch64 */
#define HCR_E2H (UL(1) << 34) /* VHE; Tally runs with it clear */

/* SCTLR_EL2 (E2H = 0 layout) */
#define SCTLR_EL2_M   (UL(1) << 0)  /* stage-1 MMU */
#define SCTLR_EL2_A   (UL(1) << 1)  /* alignment check */
#define SCTLR_EL2_C   (UL(1) << 2)  /* data cacheability */
#define SCTLR_EL2_SA  (UL(1) << 3)  /* SP alignment check */
#define SCTLR_EL2_I   (UL(1) << 12) /* instruction cacheability */
#define SCTLR_EL2_WXN (UL(1) << 19) /* writable implies execute-never */
#define SCTLR_EL2_EE  (UL(1) << 25) /* big-endian data */
#define SCTLR_EL2_RES1                                                                             \
    ((UL(3) << 4) | (UL(1) << 11) | (UL(1) << 16) | (UL(1) << 18) | (UL(3) << 22) | (UL(3) << 28))

/*
 * MAIR_EL2 for head.S's boot map, which runs before any C: Attr0 Normal
 * write-back, Attr1 Device-nGnRE. The same value as TALLY_MAIR_EL2 in
 * <tally/pte.h>, which the tracked tables use (mmu.c checks they agree), so
 * the switch from one to the other keeps the memory types.
 */
#define MAIR_EL2_BOOT        UL(0x04ff)
#define MAIR_BOOT_IDX_NORMAL 0
#define MAIR_BOOT_IDX_DEVICE 1

/* TCR_EL2 (E2H = 0 layout): one range, TTBR0_EL2. */
#define TCR_EL2_T0SZ(bits) (64 - (bits))
#define TCR_EL2_IRGN0_WBWA (UL(1) << 8)
#define TCR_EL2_ORGN0_WBWA (UL(1) << 10)
#define TCR_EL2_SH0_INNER  (UL(3) << 12)
#define TCR_EL2_TG0_4K     (UL(0) << 14)
#define TCR_EL2_PS_SHIFT   16
#define TCR_EL2_RES1       ((UL(1) << 23) | (UL(1) << 31))

/* ESR_ELx */
#define ESR_EC(esr)  (((esr) >> 26) & 0x3f)
#define ESR_IL       (UL(1) << 25)
#define ESR_ISS(esr) ((esr)&0x1ffffff)
/* Data/instruction abort ISS: fault status code and write-not-read. */
#define ESR_DFSC(esr) ((esr)&0x3f)
#define ESR_WNR       (UL(1) << 6)

#define EC_UNKNOWN  0x00
#define EC_WFX      0x01
#define EC_FP_ASIMD 0x07
#define EC_ILLEGAL  0x0e
#define EC_SVC64    0x15
#define EC_HVC64    0x16
#define EC_SMC64    0x17
#define EC_SYS64    0x18
#define EC_SVE      0x19
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_PC_ALIGN 0x22
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define EC_SP_ALIGN 0x26
#define EC_SERROR   0x2f
#define EC_BRK64    0x3c

/* SPSR_ELx.M: exception level and stack the exception came from. */
#define SPSR_MODE(v) ((v)&0xf)

#endif
