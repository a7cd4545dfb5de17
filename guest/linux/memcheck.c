// SPDX-License-Identifier: MIT
// tally-memcheck: the Linux test initramfs's memory check. Maps an anonymous
// 8 MiB buffer, writes every 64-bit word with a value derived from its index
// (so two pages that alias, or a page that lost its contents, show up), reads
// it all back, repeats with the inverted pattern, and prints one marker line:
// `init: mem8m ok` or `init: mem8m FAIL word=N got=X want=Y`.
// Freestanding (raw AArch64 Linux system calls, no libc) so the binary is
// small and its instruction count depends on nothing but the kernel.

typedef unsigned long u64;

#define SYS_write  64
#define SYS_exit   93
#define SYS_munmap 215
#define SYS_mmap   222

#define BUF_BYTES        (8UL << 20)
#define PROT_RW          3    /* PROT_READ | PROT_WRITE */
#define MAP_PRIVATE_ANON 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */

static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

static unsigned long str_len(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void put(const char *s)
{
    sys6(SYS_write, 1, (long)s, (long)str_len(s), 0, 0, 0);
}

static void put_hex(u64 v)
{
    char buf[19];
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < 16; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
    buf[18] = 0;
    put(buf);
}

static u64 pattern(u64 i, u64 flip)
{
    return (i * 0x9e3779b97f4a7c15UL + 0x5555aaaa5555aaaaUL) ^ flip;
}

/* Returns the index of the first wrong word, or -1 when all are intact. */
static long fill_and_check(volatile u64 *buf, u64 words, u64 flip)
{
    for (u64 i = 0; i < words; i++)
        buf[i] = pattern(i, flip);
    for (u64 i = 0; i < words; i++)
        if (buf[i] != pattern(i, flip))
            return (long)i;
    return -1;
}

void _start(void) __attribute__((noreturn));
void _start(void)
{
    u64 words = BUF_BYTES / sizeof(u64);
    long p = sys6(SYS_mmap, 0, BUF_BYTES, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
    int status = 1;

    if (p < 0 && p > -4096) {
        put("init: mem8m FAIL mmap\n");
    } else {
        volatile u64 *buf = (volatile u64 *)p;
        u64 flips[2] = {0, ~0UL};
        long bad = -1;
        u64 flip = 0;
        for (int k = 0; k < 2 && bad < 0; k++) {
            flip = flips[k];
            bad = fill_and_check(buf, words, flip);
        }
        if (bad < 0) {
            put("init: mem8m ok\n");
            status = 0;
        } else {
            put("init: mem8m FAIL word=");
            put_hex((u64)bad);
            put(" got=");
            put_hex(buf[bad]);
            put(" want=");
            put_hex(pattern((u64)bad, flip));
            put("\n");
        }
        sys6(SYS_munmap, p, BUF_BYTES, 0, 0, 0, 0);
    }
    sys6(SYS_exit, status, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}
