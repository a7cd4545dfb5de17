// SPDX-License-Identifier: MIT
// The one formatter of the EL2 image (hyp/include/stdio.h lists what it
// understands). Portable C with no console and no libc names, so the host
// unit tests run exactly this code (tests/unit/test_hyp_runtime.c); the EL2
// image's vsnprintf/snprintf/printf (hyp/lib/printf.c) are wrappers.
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format.h"

struct out {
    char *buf;
    size_t size;
    size_t len; /* characters the full output has, even past size */
};

static void out_char(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void out_pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        out_char(o, c);
}

static void out_str(struct out *o, const char *s, int width, int prec, bool left)
{
    size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
    if (!left)
        out_pad(o, ' ', width - (int)n);
    for (size_t i = 0; i < n; i++)
        out_char(o, s[i]);
    if (left)
        out_pad(o, ' ', width - (int)n);
}

static void out_num(struct out *o, uint64_t v, bool neg, unsigned base, bool upper, int width,
                    bool zero, bool left, const char *prefix)
{
    char digits[24];
    int n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[v % base];
        v /= base;
    } while (v);
    int extra = (neg ? 1 : 0) + (int)strlen(prefix);
    int pad = width - n - extra;
    if (!left && !zero)
        out_pad(o, ' ', pad);
    if (neg)
        out_char(o, '-');
    for (const char *p = prefix; *p; p++)
        out_char(o, *p);
    if (!left && zero)
        out_pad(o, '0', pad);
    while (n)
        out_char(o, digits[--n]);
    if (left)
        out_pad(o, ' ', pad);
}

int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            out_char(&o, *p);
            continue;
        }
        bool left = false, zero = false;
        int width = 0, prec = -1, lng = 0;
        for (;; p++) {
            if (p[1] == '-')
                left = true;
            else if (p[1] == '0')
                zero = true;
            else
                break;
        }
        p++;
        if (*p == '*') {
            width = va_arg(ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            }
            while (*p >= '0' && *p <= '9')
                prec = prec * 10 + (*p++ - '0');
        }
        for (;; p++) {
            if (*p == 'l' || *p == 'z')
                lng = 1; /* long, long long and size_t are all 64-bit here */
            else if (*p != 'h')
                break;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            out_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10, false, width, zero, left,
                    "");
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            out_num(&o, v, false, *p == 'u' ? 10 : 16, *p == 'X', width, zero, left, "");
            break;
        }
        case 'p':
            out_num(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), false, 16, false, width, zero,
                    left, "0x");
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            out_str(&o, s ? s : "(null)", width, prec, left);
            break;
        }
        case 'c':
            out_char(&o, (char)va_arg(ap, int));
            break;
        case '%':
            out_char(&o, '%');
            break;
        case '\0':
            p--;
            break;
        default:
            out_char(&o, '%');
            out_char(&o, *p);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}
