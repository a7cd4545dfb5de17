// SPDX-License-Identifier: MIT
// Names of Tally's error codes, for logs and test failure messages.
#include <tally/errno.h>

const char *tally_strerror(int err)
{
    switch (err) {
    case ERR_OK:
        return "ok";
    case ERR_NOMEM:
        return "out of memory";
    case ERR_INVAL:
        return "invalid argument";
    case ERR_ALIGN:
        return "not aligned";
    case ERR_RANGE:
        return "out of range";
    case ERR_EXIST:
        return "already mapped";
    case ERR_NOENT:
        return "not mapped";
    case ERR_BUSY:
        return "reference count saturated";
    case ERR_STATE:
        return "wrong state";
    case ERR_PERM:
        return "not permitted";
    case ERR_NOTSUP:
        return "not supported";
    case ERR_NOVM:
        return "no such VM";
    case ERR_SELF:
        return "target is the caller";
    case ERR_SHARED:
        return "already shared";
    case ERR_LENT:
        return "lent out";
    case ERR_NOTSHARED:
        return "not shared";
    case ERR_DEVICE:
        return "not RAM";
    case ERR_TOOBIG:
        return "request too large";
    case ERR_DYING:
        return "VM being torn down";
    }
    return "unknown error";
}
