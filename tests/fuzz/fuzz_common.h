/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets in tests/fuzz/: the entry points libFuzzer
 * calls, a reader that turns the input into fields (zero once it runs out,
 * so every input is a valid program), and the check that aborts with a
 * message -- libFuzzer saves the input that made it fire.
 */
#ifndef TALLY_TESTS_FUZZ_COMMON_H
#define TALLY_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant: print what broke and abort (a crash to libFuzzer). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n  ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

static inline uint64_t fuzz_bytes(struct fuzz_in *in, unsigned n, uint64_t dflt)
{
    if (in->left < n) {
        in->left = 0;
        return dflt;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)in->p[i] << (8 * i);
    in->p += n;
    in->left -= n;
    return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    return (uint8_t)fuzz_bytes(in, 1, 0);
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    return (uint16_t)fuzz_bytes(in, 2, 0);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
    return (uint32_t)fuzz_bytes(in, 4, 0);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
    return fuzz_bytes(in, 8, 0);
}

#endif
