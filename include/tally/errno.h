/* SPDX-License-Identifier: MIT */
/*
 * Error codes: negative, one meaning each (pKVM's habit). A call that returns
 * one of these has changed nothing. The same numbers are returned to guests by
 * hypercalls, so they are ABI: never renumber, only append.
 */
#ifndef TALLY_ERRNO_H
#define TALLY_ERRNO_H

enum tally_err {
    ERR_OK = 0,
    ERR_NOMEM = -1,   /* no free page (or block of the order asked) */
    ERR_INVAL = -2,   /* argument malformed (bad flags, bad order, bad usage) */
    ERR_ALIGN = -3,   /* address or size not aligned to the granule asked */
    ERR_RANGE = -4,   /* address outside the input range or RAM */
    ERR_EXIST = -5,   /* something is already mapped there */
    ERR_NOENT = -6,   /* nothing is mapped there */
    ERR_BUSY = -7,    /* a reference count would pass its saturation limit */
    ERR_STATE = -8,   /* the object is in the wrong state for this operation */
    ERR_PERM = -9,    /* the caller does not own what it asked to change */
    ERR_NOTSUP = -10, /* operation or function id not supported */
    /* Sharing (mm/share.c, docs/hypercalls.md). */
    ERR_NOVM = -11,      /* the target VM does not exist */
    ERR_SELF = -12,      /* the target VM is the caller itself */
    ERR_SHARED = -13,    /* a page is already shared (with a VM or with Tally) */
    ERR_LENT = -14,      /* a page is lent out: its owner has no access */
    ERR_NOTSHARED = -15, /* a page is not shared/lent/borrowed as the call says */
    ERR_DEVICE = -16,    /* an IPA maps a device or memory no VM owns, not RAM */
    ERR_TOOBIG = -17,    /* more pages than one call may move (SHARE_MAX_PAGES) */
    ERR_DYING = -18,     /* the target VM is being torn down */
};

const char *tally_strerror(int err);

#endif
