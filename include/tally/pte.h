/* SPDX-License-Identifier: MIT */
/*
 * Translation table descriptors, VMSAv8-64 with the 4 KiB granule, for the
 * two regimes Tally builds: EL2 stage-1 (its own address space, one VA range,
 * non-VHE) and stage-2 (guest IPA -> PA).
 *
 * The parts both formats share are what the page tracker relies on, so a
 * table page can be torn down without knowing its stage:
 *
 *   63    55 54   53        48 47                      12 11     2 1 0
 *   +-----+--+----+----------+--------------------------+--------+---+
 *   | ... |SW|XN  |   res0   |  output address [47:12]  | attrs  |T V|
 *   +-----+--+----+----------+--------------------------+--------+---+
 *
 *   bits[1:0]  0bx0 invalid; 0b11 table (levels 0-2) or page (level 3);
 *              0b01 block (levels 1 and 2: 1 GiB and 2 MiB)
 *   bit 55     software: this entry owns one page reference for each 4 KiB
 *              page it maps (taken with into_raw, returned with from_raw)
 *   bit 56     software, blocks only (with bit 55): the entry owns ONE
 *              reference, on the compound page that holds all its pages
 *   bit 10     AF, always set (Tally never relies on access-flag faults)
 *   bits[9:8]  SH, inner shareable
 *
 * Only bit 0 decides validity: an invalid descriptor may carry other bits
 * (the engine parks a leaf's new value there during break-before-make).
 *
 * EL2 stage-1 leaf attributes:
 *   [4:2] AttrIndx into MAIR_EL2 (TALLY_MAIR_EL2 below: 0 Normal WB, 1 Device)
 *   [7]   AP[2]: read-only     [6] AP[1]: RES1 in a one-privilege regime
 *   [54]  XN
 *
 * Stage-2 leaf attributes:
 *   [5:2] MemAttr: 0b1111 Normal inner+outer write-back, 0b0001 Device-nGnRE
 *   [6]   S2AP[0]: read        [7] S2AP[1]: write
 *   [54]  XN[1] (XN[0], bit 53, stays 0: executable at EL1 and EL0 or neither)
 */
#ifndef TALLY_PTE_H
#define TALLY_PTE_H

#include <tally/types.h>

typedef uint64_t pte_t;

#define PTE_LEVELS     4   /* levels 0..3 */
#define PTE_PER_TABLE  512 /* 4 KiB / 8 bytes */
#define PTE_INDEX_BITS 9

#define PTE_VALID       (1ull << 0)
#define PTE_TYPE_MASK   0x3ull
#define PTE_TYPE_BLOCK  0x1ull /* level 1 or 2 */
#define PTE_TYPE_TABLE  0x3ull /* level 0, 1 or 2 */
#define PTE_TYPE_PAGE   0x3ull /* level 3 */
#define PTE_OA_MASK     0x0000fffffffff000ull
#define PTE_SH_INNER    (0x3ull << 8)
#define PTE_AF          (1ull << 10)
#define PTE_XN          (1ull << 54)
#define PTE_SW_OWNED    (1ull << 55)
#define PTE_SW_BLOCKREF (1ull << 56)

/* EL2 stage-1. */
#define PTE_S1_ATTRIDX(i)     ((uint64_t)(i) << 2)
#define PTE_S1_ATTRIDX_MASK   (0x7ull << 2)
#define PTE_S1_AP_RO          (1ull << 7)
#define PTE_S1_AP_RES1        (1ull << 6)
#define MAIR_IDX_NORMAL_WB    0 /* Normal, inner/outer write-back, read+write allocate */
#define MAIR_IDX_DEVICE_nGnRE 1
/* MAIR_EL2 to program with these tables: Attr0 = 0xff, Attr1 = 0x04. */
#define TALLY_MAIR_EL2 0x04ffull

/* Stage-2. */
#define PTE_S2_MEMATTR(x)           ((uint64_t)(x) << 2)
#define PTE_S2_MEMATTR_MASK         (0xfull << 2)
#define PTE_S2_MEMATTR_NORMAL_WB    0xfull
#define PTE_S2_MEMATTR_DEVICE_nGnRE 0x1ull
/* With HCR_EL2.FWB (FEAT_S2FWB): Normal Write-Back whatever stage 1 says,
 * so a guest cannot see RAM non-cacheably (device encodings are unchanged). */
#define PTE_S2_MEMATTR_FWB_FORCE_WB 0x6ull
#define PTE_S2_AP_R                 (1ull << 6)
#define PTE_S2_AP_W                 (1ull << 7)

/* Bits a leaf keeps when its permissions change: where it points, whether
 * it owns references, and its type. Everything else is attributes. */
#define PTE_LEAF_KEEP (PTE_OA_MASK | PTE_SW_OWNED | PTE_SW_BLOCKREF | PTE_TYPE_MASK)

static inline unsigned pte_level_shift(unsigned level)
{
    return PAGE_SHIFT + PTE_INDEX_BITS * (3 - level);
}

static inline uint64_t pte_level_size(unsigned level)
{
    return 1ull << pte_level_shift(level);
}

static inline unsigned pte_index(uint64_t ia, unsigned level)
{
    return (unsigned)(ia >> pte_level_shift(level)) & (PTE_PER_TABLE - 1);
}

static inline bool pte_is_valid(pte_t e)
{
    return e & PTE_VALID;
}

/* A valid entry at this level that points to a next-level table. */
static inline bool pte_is_table(pte_t e, unsigned level)
{
    return level < 3 && (e & PTE_TYPE_MASK) == PTE_TYPE_TABLE;
}

/* A valid entry at this level that maps memory (block or page). */
static inline bool pte_is_leaf(pte_t e, unsigned level)
{
    return pte_is_valid(e) && !pte_is_table(e, level);
}

static inline uint64_t pte_oa(pte_t e)
{
    return e & PTE_OA_MASK;
}

static inline pte_t pte_make_table(paddr_t table)
{
    return (pa_val(table) & PTE_OA_MASK) | PTE_TYPE_TABLE;
}

#endif
