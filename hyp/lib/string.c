// SPDX-License-Identifier: MIT
// Freestanding string and memory functions for the EL2 image: the set libfdt
// needs (memchr memcmp memcpy memmove memset strchr strlen strnlen strrchr
// strtoul) plus strcmp/strncmp for Tally's own parsing. Byte loops, except
// that memcpy moves 128 and memset 64 bytes per iteration when the ends are
// 8-byte aligned (guest kernel copies are tens of MiB). Compiled with
// -fno-tree-loop-distribute-patterns so GCC cannot turn these loops back
// into calls to themselves.
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
        /* 128 bytes per iteration in LDP/STP pairs: copying a guest kernel
         * (tens of MiB) into its RAM is the largest copy Tally does, and GCC
         * would move one register at a time. */
        size_t blocks = n / 128;
        if (blocks) {
            uint64_t t[16];
            __asm__ volatile(
                "1:\n\t"
                "ldp %[t0], %[t1], [%[s]]\n\t"
                "ldp %[t2], %[t3], [%[s], #16]\n\t"
                "ldp %[t4], %[t5], [%[s], #32]\n\t"
                "ldp %[t6], %[t7], [%[s], #48]\n\t"
                "ldp %[t8], %[t9], [%[s], #64]\n\t"
                "ldp %[t10], %[t11], [%[s], #80]\n\t"
                "ldp %[t12], %[t13], [%[s], #96]\n\t"
                "ldp %[t14], %[t15], [%[s], #112]\n\t"
                "add %[s], %[s], #128\n\t"
                "stp %[t0], %[t1], [%[d]]\n\t"
                "stp %[t2], %[t3], [%[d], #16]\n\t"
                "stp %[t4], %[t5], [%[d], #32]\n\t"
                "stp %[t6], %[t7], [%[d], #48]\n\t"
                "stp %[t8], %[t9], [%[d], #64]\n\t"
                "stp %[t10], %[t11], [%[d], #80]\n\t"
                "stp %[t12], %[t13], [%[d], #96]\n\t"
                "stp %[t14], %[t15], [%[d], #112]\n\t"
                "add %[d], %[d], #128\n\t"
                "subs %[n], %[n], #1\n\t"
                "b.ne 1b"
                : [t0] "=&r"(t[0]), [t1] "=&r"(t[1]), [t2] "=&r"(t[2]), [t3] "=&r"(t[3]),
                  [t4] "=&r"(t[4]), [t5] "=&r"(t[5]), [t6] "=&r"(t[6]), [t7] "=&r"(t[7]),
                  [t8] "=&r"(t[8]), [t9] "=&r"(t[9]), [t10] "=&r"(t[10]), [t11] "=&r"(t[11]),
                  [t12] "=&r"(t[12]), [t13] "=&r"(t[13]), [t14] "=&r"(t[14]), [t15] "=&r"(t[15]),
                  [s] "+r"(s), [d] "+r"(d), [n] "+r"(blocks)
                :
                : "memory", "cc");
            n %= 128;
        }
        for (; n >= 8; n -= 8, d += 8, s += 8)
            *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    if (((uintptr_t)d & 7) == 0) {
        uint64_t w = (unsigned char)c * 0x0101010101010101ull;
        /* 64 bytes per iteration (four STPs): pages zeroed when their last
         * reference goes are most of what Tally ever sets. */
        for (; n >= 64; n -= 64, d += 64) {
            uint64_t *q = (uint64_t *)(void *)d;
            q[0] = w, q[1] = w, q[2] = w, q[3] = w, q[4] = w, q[5] = w, q[6] = w, q[7] = w;
        }
        for (; n >= 8; n -= 8, d += 8)
            *(uint64_t *)(void *)d = w;
    }
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (unsigned char)c)
            return (void *)(p + i);
    }
    return NULL;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

char *strrchr(const char *s, int c)
{
    const char *last = NULL;
    for (;; s++) {
        if (*s == (char)c)
            last = s;
        if (!*s)
            return (char *)last;
    }
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* C11 strtoul: leading space, optional sign, base 0 (prefix decides) or
 * 2..36; saturates at ULONG_MAX on overflow. */
unsigned long strtoul(const char *s, char **end, int base)
{
    const char *p = s;
    bool neg = false, any = false, overflow = false;
    unsigned long v = 0;

    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        digit_value(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    for (int d; (d = digit_value(*p)) < base; p++) {
        any = true;
        if (v > (ULONG_MAX - (unsigned long)d) / (unsigned long)base)
            overflow = true;
        v = v * (unsigned long)base + (unsigned long)d;
    }
    if (end)
        *end = (char *)(any ? p : s);
    if (overflow)
        return ULONG_MAX;
    return neg ? -v : v;
}
