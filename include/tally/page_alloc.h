/* SPDX-License-Identifier: MIT */
/*
 * Buddy allocator of physical pages, orders 0 (4 KiB) to PAGE_MAX_ORDER
 * (1 GiB). Free lists are threaded through the metadata slots of the free
 * pages themselves, so the allocator needs no memory of its own.
 *
 *   order 2   [ A A A A ]              a free block: head slot has
 *   order 1   [ B B ][ C C ]           SLOT_F_FREE_HEAD and its order;
 *   order 0   [D][E][F][G]             the buddy of block p at order k
 *                                      is p ^ (1 << k) (in page numbers)
 *
 * Order-0 pages also pass through a small per-CPU cache (no lock, no atomic)
 * so the common alloc/free is O(1) and cheap. Only its own CPU ever touches
 * a cache: page_alloc_drain() returns the calling CPU's cache to the buddy
 * lists, and once every CPU that freed pages has drained its own, blocks are
 * fully merged again. Cached pages count as free everywhere.
 * Pages handed out are UNUSED: type them with *_from_unused().
 *
 * Free pages are not zeroed when freed. A page given with page_alloc_add()
 * or freed by its last drop is marked SLOT_F_DIRTY, and *_from_unused()
 * zeroes a dirty page before its new owner sees it: nothing an old owner
 * (a guest, a stack, firmware) wrote reaches a new one, and memory nobody
 * uses again is never written. Raw page_alloc() callers get the bytes as
 * they are.
 */
#ifndef TALLY_PAGE_ALLOC_H
#define TALLY_PAGE_ALLOC_H

#include <tally/meta.h>

#define PAGE_MAX_ORDER 18

/* Reset the allocator (after meta_init): no free pages yet. */
void page_alloc_init(void);
/* Give RAM pages to the allocator: they become unused and free. Pages must be
 * in a bank and currently have a fixed usage (how meta_init leaves them). */
void page_alloc_add(paddr_t start, uint64_t npages);
/* A block of 2^order pages, aligned to its size. ERR_NOMEM, ERR_INVAL. */
int page_alloc(unsigned order, paddr_t *out);
/* Return a block taken with page_alloc(order). Its slots must be unused. */
void page_free(paddr_t p, unsigned order);
/* Return the calling CPU's cache to the buddy lists (never another CPU's:
 * it may be allocating at that moment). Safe at any time. */
void page_alloc_drain(void);

uint64_t page_alloc_free_pages(void);
/* Number of free blocks of this order (per-CPU cached pages count at order 0). */
uint64_t page_alloc_free_blocks(unsigned order);

#endif
