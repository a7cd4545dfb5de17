// SPDX-License-Identifier: MIT
// libFuzzer target: the sharing handlers (mm/share.c) against the real mm/
// core and the fake architecture. Three VMs of 32 RAM pages and Tally's
// stage-1; bytes become calls (share, read-only share, unshare, lend,
// reclaim with or without a borrower, donate, relinquish, share with Tally
// and back, and teardown + rebuild of a VM with whatever it shares live).
//
// Input: calls of 9 bytes: u8 kind, u8 from, u8 to, u16 page (bit 15: the
// borrow window), u8 to_page, u8 nr (0-255: zero, past the limit and past
// the VM included, via the high bit: nr * 3), u16 unused.
//
// Checked after every call: every invariant of tests/host/share_fixture.h
// (references = mappings, each state matches who maps it and how, counts
// recomputed from the frames, census = frames reached), and a refused call
// changed nothing (census, counts, every entry, every frame). At the end
// every VM and Tally's stage-1 go, and every frame must be back.
#include "../host/harness.h"
#include "../host/share_fixture.h"
#include "fuzz_common.h"

#include <string.h>

#include <tally/errno.h>
#include <tally/page_alloc.h>

#define PAGES 32

static struct test_vm vm[3];
static struct test_vm *const all[] = {&vm[0], &vm[1], &vm[2]};
static struct aspace hyp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    atomics_init();
    /* 8 MiB: room for three VMs and every table, and few slots to scan in
     * the per-call invariant check. */
    sim_ram_setup_simple(8);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    test_world_create(all, 3, PAGES, &hyp);
    char msg[256];
    unsigned steps = 0;
    while (in.left && steps++ < 256) {
        uint8_t nr = 0;
        struct share_op op = {.kind = fuzz_u8(&in), .from = fuzz_u8(&in), .to = fuzz_u8(&in)};
        op.from %= 3;
        op.to %= 4;
        op.page = fuzz_u16(&in);
        op.to_page = fuzz_u8(&in);
        nr = fuzz_u8(&in);
        op.nr = nr & 0x80 ? (uint64_t)(nr & 0x7f) * 9 : nr % 9;
        fuzz_u16(&in);
        struct share_snapshot s0, s1;
        share_snapshot(all, 3, &hyp, &s0);
        int err = share_apply(all, 3, &op);
        FUZZ_CHECK(share_invariants(all, 3, &hyp, msg, sizeof(msg)),
                   "kind %u from %u to %u page %#x to_page %u nr %lu -> %d: %s",
                   op.kind % SOP_COUNT, op.from, op.to, op.page, op.to_page, op.nr, err, msg);
        FUZZ_CHECK(err <= 0 && err >= ERR_DYING, "result %d is no error code", err);
        if (err != ERR_OK) {
            share_snapshot(all, 3, &hyp, &s1);
            FUZZ_CHECK(share_snapshot_eq(&s0, &s1), "refused call (%d, kind %u) changed state", err,
                       op.kind % SOP_COUNT);
        }
    }
    uint64_t left = test_world_destroy(all, 3, &hyp);
    FUZZ_CHECK(left == 0, "after teardown: %lu frames and tables left", left);
    return 0;
}
