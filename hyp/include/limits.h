/* SPDX-License-Identifier: MIT */
/*
 * <limits.h> for the EL2 image. GCC's own limits.h chains to the C library's
 * with #include_next, which a -nostdinc build does not have; these are the
 * AArch64 LP64 values.
 */
#ifndef TALLY_HYP_LIMITS_H
#define TALLY_HYP_LIMITS_H

#define CHAR_BIT   8
#define SCHAR_MIN  (-128)
#define SCHAR_MAX  127
#define UCHAR_MAX  255
#define CHAR_MIN   0 /* char is unsigned on AArch64 */
#define CHAR_MAX   255
#define SHRT_MIN   (-32768)
#define SHRT_MAX   32767
#define USHRT_MAX  65535
#define INT_MIN    (-INT_MAX - 1)
#define INT_MAX    2147483647
#define UINT_MAX   4294967295u
#define LONG_MIN   (-LONG_MAX - 1l)
#define LONG_MAX   9223372036854775807l
#define ULONG_MAX  18446744073709551615ul
#define LLONG_MIN  (-LLONG_MAX - 1ll)
#define LLONG_MAX  9223372036854775807ll
#define ULLONG_MAX 18446744073709551615ull

#endif
