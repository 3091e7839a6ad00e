// What SHA-512 needs from the machine that Swift cannot ask for itself: the CPU feature
// checks behind TunnelHash's choice of kernel, and the one kernel Swift cannot write
// (the ARMv8.2 SHA-512 instructions have no Swift spelling).
#ifndef TUNNEL_SHA512_H
#define TUNNEL_SHA512_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this x86-64 CPU and its OS support everything the AVX2 kernel was compiled for
/// (Haswell's set: AVX, AVX2, BMI1, BMI2, FMA, F16C, MOVBE, LZCNT, POPCNT) and the OS saves
/// the ymm registers (XGETBV). 0 elsewhere, including on every other architecture.
int tp_cpu_has_haswell_features(void);

/// 1 when this aarch64 CPU has the ARMv8.2 SHA-512 instructions (HWCAP_SHA512). 0 elsewhere.
int tp_cpu_has_sha512_instructions(void);

/// 1 when the environment variable TUNNEL_SHA512 is `portable`: the agent then uses its
/// portable Swift code whatever the CPU offers (for tests and benchmarks).
int tp_sha512_portable_requested(void);

/// Compresses `count` 128-byte blocks into `state` (a...h) with the SHA-512 instructions.
/// Only when tp_cpu_has_sha512_instructions(); on other machines this is never called.
void tp_sha512_armv8_compress(uint64_t state[8], const uint8_t *blocks, size_t count,
                              const uint64_t constants[80]);

#endif
