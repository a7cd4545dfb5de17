/* SPDX-License-Identifier: MIT */
/*
 * Taking a range of 4 KiB pages apart into stage-2 TLB invalidations: range
 * TLBIs (TLBI RIPAS2E1IS, FEAT_TLBIRANGE) and, for an odd page, one plain
 * TLBI IPAS2E1IS. Pure arithmetic, so the host tests check every operand
 * the EL2 code (hyp/core/arch.c) issues.
 *
 * One range TLBI covers (NUM + 1) << (5 * SCALE + 1) pages from its base,
 * NUM in [0, 31], SCALE in [0, 3]: 2 .. 2^21 pages (8 GiB). A count is taken
 * apart the way Linux does it (__flush_tlb_range_op): whole 2^21-page
 * chunks first, then an odd page as a plain TLBI, then the count's bits
 * [5s+1, 5s+5] as one range TLBI at each scale s from 0 up. The operations
 * are consecutive and disjoint: they cover exactly the pages asked for, no
 * more, in at most one per 2^21 pages plus five.
 *
 *   pages = 0b 10110 00011 00000 00110 1   22 << 16 | 3 << 11 | 6 << 1 | 1
 *              s=3   s=2   s=1   s=0   plain TLBI
 *   -> plain TLBI, then (scale 0, NUM 5), (scale 2, NUM 2), (scale 3, NUM 21)
 */
#ifndef TALLY_TLBI_RANGE_H
#define TALLY_TLBI_RANGE_H

#include <tally/types.h>

#define TLBI_RANGE_SCALE_MAX 3u
#define TLBI_RANGE_NUM_MAX   31u
/* Pages of one range TLBI of that scale and NUM field. */
#define TLBI_RANGE_PAGES(scale, num) (((uint64_t)(num) + 1) << (5 * (scale) + 1))
#define TLBI_RANGE_MAX_PAGES         TLBI_RANGE_PAGES(TLBI_RANGE_SCALE_MAX, TLBI_RANGE_NUM_MAX)

/* One invalidation: a plain TLBI of the page at ipa (range false), or a
 * range TLBI of TLBI_RANGE_PAGES(scale, num) pages from ipa. */
struct tlbi_range_op {
    uint64_t ipa;
    bool range;
    uint8_t scale, num; /* num: the NUM field, pages / 2^(5 * scale + 1) - 1 */
};

/* Where the taking apart of [ipa, ipa + pages * 4 KiB) stands. */
struct tlbi_range_iter {
    uint64_t ipa, pages;
    unsigned scale;
};

static inline struct tlbi_range_iter tlbi_range_start(uint64_t ipa, uint64_t pages)
{
    return (struct tlbi_range_iter){ipa, pages, 0};
}

/* The next operation, or false when the range is covered. */
static inline bool tlbi_range_next(struct tlbi_range_iter *it, struct tlbi_range_op *op)
{
    while (it->pages) {
        uint64_t n;
        if (it->pages >= TLBI_RANGE_MAX_PAGES) {
            *op = (struct tlbi_range_op){it->ipa, true, TLBI_RANGE_SCALE_MAX, TLBI_RANGE_NUM_MAX};
            n = TLBI_RANGE_MAX_PAGES;
        } else if (it->pages & 1) {
            *op = (struct tlbi_range_op){it->ipa, false, 0, 0};
            n = 1;
        } else {
            /* Below the maximum and even: bits above 5 * 3 + 5 are clear,
             * so the scales run out no later than the count does. */
            unsigned s = it->scale++;
            uint64_t field = (it->pages >> (5 * s + 1)) & TLBI_RANGE_NUM_MAX;
            if (!field)
                continue;
            *op = (struct tlbi_range_op){it->ipa, true, (uint8_t)s, (uint8_t)(field - 1)};
            n = TLBI_RANGE_PAGES(s, field - 1);
        }
        it->ipa += n << PAGE_SHIFT;
        it->pages -= n;
        return true;
    }
    return false;
}

/* Pages one operation covers. */
static inline uint64_t tlbi_range_op_pages(const struct tlbi_range_op *op)
{
    return op->range ? TLBI_RANGE_PAGES(op->scale, op->num) : 1;
}

/*
 * The register operand. TLBI RIPAS2E1IS: TG [47:46] = 0b01 (4 KiB), SCALE
 * [45:44], NUM [43:39], TTL [38:37] = 0 (any level), BaseADDR [36:0] =
 * IPA[48:12]. TLBI IPAS2E1IS: IPA[51:12] in [39:0], TTL [47:44] = 0.
 */
static inline uint64_t tlbi_range_operand(const struct tlbi_range_op *op)
{
    if (!op->range)
        return op->ipa >> PAGE_SHIFT;
    return (1ull << 46) | ((uint64_t)op->scale << 44) | ((uint64_t)op->num << 39) |
           ((op->ipa >> PAGE_SHIFT) & ((1ull << 37) - 1));
}

#endif
