// See tunnel_sha512.h. Compiled for the baseline of each architecture: only the ARMv8 kernel
// below asks the compiler for more, and only for that one function.
#include "tunnel_sha512.h"

#include <stdlib.h>
#include <string.h>

int tp_sha512_portable_requested(void) {
    const char *choice = getenv("TUNNEL_SHA512");
    return choice != NULL && strcmp(choice, "portable") == 0;
}

#if defined(__x86_64__)
#include <cpuid.h>

int tp_cpu_has_haswell_features(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const unsigned int leaf1 = bit_SSE3 | bit_SSSE3 | bit_FMA | bit_SSE4_1 | bit_SSE4_2 | bit_MOVBE
                             | bit_POPCNT | bit_OSXSAVE | bit_AVX | bit_F16C;
    if ((ecx & leaf1) != leaf1) return 0;
    // The OS must save the SSE and AVX register state across context switches.
    unsigned int xcr0_low, xcr0_high;
    __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const unsigned int leaf7 = bit_AVX2 | bit_BMI | bit_BMI2;
    if ((ebx & leaf7) != leaf7) return 0;
    if (!__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_LZCNT) != 0;
}
#else
int tp_cpu_has_haswell_features(void) { return 0; }
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>
#ifndef HWCAP_SHA512
#define HWCAP_SHA512 (1UL << 21)
#endif

int tp_cpu_has_sha512_instructions(void) {
    return (getauxval(AT_HWCAP) & HWCAP_SHA512) != 0;
}

// The state lives in four vectors: ab = (a, b), cd = (c, d), ef = (e, f), gh = (g, h), lane 0
// first. SHA512H computes two rounds' T1 (the newer in lane 0), SHA512H2 the two new a's,
// and SHA512SU0/SU1 extend the schedule by two words; the shape is ARM's own example
// sequence, as in Linux's arch/arm64/crypto/sha512-ce-core.S.
__attribute__((target("sha3")))
void tp_sha512_armv8_compress(uint64_t state[8], const uint8_t *blocks, size_t count,
                              const uint64_t constants[80]) {
    uint64x2_t ab = vld1q_u64(state), cd = vld1q_u64(state + 2);
    uint64x2_t ef = vld1q_u64(state + 4), gh = vld1q_u64(state + 6);
    for (; count > 0; count--, blocks += 128) {
        uint64x2_t w[8];  // w[i % 8] holds words 2i, 2i+1 of the schedule
        for (int i = 0; i < 8; i++) w[i] = vreinterpretq_u64_u8(vrev64q_u8(vld1q_u8(blocks + 16 * i)));
        const uint64x2_t ab0 = ab, cd0 = cd, ef0 = ef, gh0 = gh;
#pragma clang loop unroll(full)
        for (int i = 0; i < 40; i++) {
            const uint64x2_t kw = vaddq_u64(w[i % 8], vld1q_u64(constants + 2 * i));
            if (i < 32) {
                // Words 2i+16, 2i+17 replace 2i, 2i+1, which this pair of rounds uses last.
                w[i % 8] = vsha512su1q_u64(vsha512su0q_u64(w[i % 8], w[(i + 1) % 8]), w[(i + 7) % 8],
                                           vextq_u64(w[(i + 4) % 8], w[(i + 5) % 8], 1));
            }
            const uint64x2_t fg = vextq_u64(ef, gh, 1), de = vextq_u64(cd, ef, 1);
            const uint64x2_t t1 = vsha512hq_u64(vaddq_u64(gh, vextq_u64(kw, kw, 1)), fg, de);
            const uint64x2_t new_ab = vsha512h2q_u64(t1, cd, ab);
            gh = ef;
            ef = vaddq_u64(cd, t1);
            cd = ab;
            ab = new_ab;
        }
        ab = vaddq_u64(ab, ab0);
        cd = vaddq_u64(cd, cd0);
        ef = vaddq_u64(ef, ef0);
        gh = vaddq_u64(gh, gh0);
    }
    vst1q_u64(state, ab);
    vst1q_u64(state + 2, cd);
    vst1q_u64(state + 4, ef);
    vst1q_u64(state + 6, gh);
}
#else
int tp_cpu_has_sha512_instructions(void) { return 0; }
void tp_sha512_armv8_compress(uint64_t state[8], const uint8_t *blocks, size_t count,
                              const uint64_t constants[80]) {
    (void)state; (void)blocks; (void)count; (void)constants;
    abort();  // never called: tp_cpu_has_sha512_instructions() is 0 here
}
#endif
