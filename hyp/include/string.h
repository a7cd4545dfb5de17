/* SPDX-License-Identifier: MIT */
/*
 * The freestanding string functions of the EL2 image (hyp/lib/string.c):
 * what Tally uses and exactly what Debian's libfdt.a needs. hyp/ builds with
 * -nostdinc, so this header stands in for the C library's <string.h>.
 */
#ifndef TALLY_HYP_STRING_H
#define TALLY_HYP_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
