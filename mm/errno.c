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
    }
    return "unknown error";
}
