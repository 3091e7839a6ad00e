// SHA-512 compression for x86-64 CPUs with AVX2 and BMI2 (Haswell's level, x86-64-v3).
// This module alone is compiled for that CPU level (see Package.swift and
// scripts/build-static.sh), so nothing here may run before TunnelHash has checked the CPU
// (cpuid, and xgetbv for the OS's saving of the ymm registers).
//
// The shape follows OpenSSL's AVX2 code (sha512-x86_64.pl): blocks are taken in pairs,
// each 256-bit vector holds two message words of the first block and the same two of the
// second ("four words per instruction"), and the message schedule of both is computed
// between the first block's rounds. The second block's rounds then run on the stored
// schedule alone. The rounds stay scalar; BMI2's `rorx` makes each rotation one
// non-destructive instruction.
#if arch(x86_64)

/// Lanes 0-1: two consecutive message words of the first block; lanes 2-3: the same two of
/// the second block.
typealias WordPairs = SIMD4<UInt64>

/// Compresses `count` 128-byte blocks into `state` (the eight words a...h). `constants` are
/// the 80 round constants; `schedule` is scratch space for 160 words (the two blocks'
/// schedules with the constants added).
public func sha512CompressAVX2(state: UnsafeMutablePointer<UInt64>, blocks: UnsafeRawPointer, count: Int,
                               constants: UnsafePointer<UInt64>, schedule: UnsafeMutablePointer<UInt64>) {
    var a = state[0], b = state[1], c = state[2], d = state[3]
    var e = state[4], f = state[5], g = state[6], h = state[7]
    let scheduleBytes = UnsafeMutableRawPointer(schedule)
    var index = 0
    while index < count {
        let first = blocks + index * 128
        // An odd last block is paired with itself, and its twin's rounds are skipped.
        let hasSecond = index + 1 < count
        let second = hasSecond ? first + 128 : first
        var x0 = wordPairs(first, second, 0), x1 = wordPairs(first, second, 16)
        var x2 = wordPairs(first, second, 32), x3 = wordPairs(first, second, 48)
        var x4 = wordPairs(first, second, 64), x5 = wordPairs(first, second, 80)
        var x6 = wordPairs(first, second, 96), x7 = wordPairs(first, second, 112)

        // The first block. Its rounds read the schedule from memory, one pass (16 rounds)
        // behind its computation: each pass extends and stores the next eight word pairs
        // while running 16 rounds on the pairs the previous pass stored. (Storing and reading
        // the same pairs in one pass lets LLVM extract them from the vector registers with
        // vpextrq instead of loading them; one pass behind, the rounds take each word as an
        // operand of their first addition, as OpenSSL's do.) The last pass has nothing to
        // extend.
        var saved = (a, b, c, d, e, f, g, h)
        var bXorC = b ^ c
        let initial = scheduleBytes
        store(x0, constants, 0, initial, 0); store(x1, constants, 1, initial, 1)
        store(x2, constants, 2, initial, 2); store(x3, constants, 3, initial, 3)
        store(x4, constants, 4, initial, 4); store(x5, constants, 5, initial, 5)
        store(x6, constants, 6, initial, 6); store(x7, constants, 7, initial, 7)
        var pair = 0
        while pair < 32 {
            let next = scheduleBytes + (pair + 8) * 32
            extendSchedule(&x0, x1, x4, x5, x7); store(x0, constants, pair + 8, next, 0)
            extendSchedule(&x1, x2, x5, x6, x0); store(x1, constants, pair + 9, next, 1)
            extendSchedule(&x2, x3, x6, x7, x1); store(x2, constants, pair + 10, next, 2)
            extendSchedule(&x3, x4, x7, x0, x2); store(x3, constants, pair + 11, next, 3)
            eightRounds(&a, &b, &c, &d, &e, &f, &g, &h, &bXorC, schedule + pair * 4)
            extendSchedule(&x4, x5, x0, x1, x3); store(x4, constants, pair + 12, next, 4)
            extendSchedule(&x5, x6, x1, x2, x4); store(x5, constants, pair + 13, next, 5)
            extendSchedule(&x6, x7, x2, x3, x5); store(x6, constants, pair + 14, next, 6)
            extendSchedule(&x7, x0, x3, x4, x6); store(x7, constants, pair + 15, next, 7)
            eightRounds(&a, &b, &c, &d, &e, &f, &g, &h, &bXorC, schedule + pair * 4 + 16)
            pair += 8
        }
        eightRounds(&a, &b, &c, &d, &e, &f, &g, &h, &bXorC, schedule + pair * 4)
        eightRounds(&a, &b, &c, &d, &e, &f, &g, &h, &bXorC, schedule + pair * 4 + 16)
        a = a &+ saved.0; b = b &+ saved.1; c = c &+ saved.2; d = d &+ saved.3
        e = e &+ saved.4; f = f &+ saved.5; g = g &+ saved.6; h = h &+ saved.7
        guard hasSecond else { break }

        // The second block: its words sit in lanes 2-3 of every stored pair.
        saved = (a, b, c, d, e, f, g, h)
        bXorC = b ^ c
        var round = 0
        while round < 80 {
            eightRounds(&a, &b, &c, &d, &e, &f, &g, &h, &bXorC, schedule + round * 2 + 2)
            round += 8
        }
        a = a &+ saved.0; b = b &+ saved.1; c = c &+ saved.2; d = d &+ saved.3
        e = e &+ saved.4; f = f &+ saved.5; g = g &+ saved.6; h = h &+ saved.7
        index += 2
    }
    state[0] = a; state[1] = b; state[2] = c; state[3] = d
    state[4] = e; state[5] = f; state[6] = g; state[7] = h
}

/// Words `offset/8` and `offset/8 + 1` of both blocks, byte-swapped from big-endian.
@inline(__always)
private func wordPairs(_ first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ offset: Int) -> WordPairs {
    WordPairs(UInt64(bigEndian: first.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
              UInt64(bigEndian: first.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)),
              UInt64(bigEndian: second.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
              UInt64(bigEndian: second.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
}

/// Stores word pair `pair` (plus its round constants) of both blocks as slot `slot` of
/// `destination`.
@inline(__always)
private func store(_ words: WordPairs, _ constants: UnsafePointer<UInt64>, _ pair: Int,
                   _ destination: UnsafeMutableRawPointer, _ slot: Int) {
    let k0 = constants[pair * 2], k1 = constants[pair * 2 + 1]
    destination.storeBytes(of: words &+ WordPairs(k0, k1, k0, k1), toByteOffset: slot * 32, as: WordPairs.self)
}

/// Replaces the pair W[t], W[t+1] (in `x`) with W[t+16], W[t+17]:
/// W[i] = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16], for both blocks at once.
/// `next` holds W[t+2...], `ninth`/`tenth` hold W[t+8...] and W[t+10...], `last` W[t+14...].
@inline(__always)
private func extendSchedule(_ x: inout WordPairs, _ next: WordPairs, _ ninth: WordPairs, _ tenth: WordPairs,
                            _ last: WordPairs) {
    let plusOne = WordPairs(x[1], next[0], x[3], next[2])          // W[t+1], W[t+2]
    let plusNine = WordPairs(ninth[1], tenth[0], ninth[3], tenth[2]) // W[t+9], W[t+10]
    x = x &+ smallSigma0(plusOne) &+ plusNine &+ smallSigma1(last)
}

// The rotations are written as shifts grouped by direction, not as `(x >> n) | (x << (64 - n))`:
// AVX2 has no 64-bit vector rotate, and given one LLVM moves the whole schedule back to
// scalar registers.
@inline(__always)
private func smallSigma0(_ x: WordPairs) -> WordPairs {
    ((x &>> 1) ^ (x &>> 7) ^ (x &>> 8)) ^ ((x &<< 56) ^ (x &<< 63))
}

@inline(__always)
private func smallSigma1(_ x: WordPairs) -> WordPairs {
    ((x &>> 6) ^ (x &>> 19) ^ (x &>> 61)) ^ ((x &<< 3) ^ (x &<< 45))
}

/// Eight rounds; round r reads its schedule word (constant included) from
/// `words[(r / 2) * 4 + r % 2]`, the layout `store` writes.
@inline(__always)
private func eightRounds(_ a: inout UInt64, _ b: inout UInt64, _ c: inout UInt64, _ d: inout UInt64,
                         _ e: inout UInt64, _ f: inout UInt64, _ g: inout UInt64, _ h: inout UInt64,
                         _ bXorC: inout UInt64, _ words: UnsafePointer<UInt64>) {
    // Loaded ahead so that LLVM adds each to h before the round's late terms (see sha512Round).
    let w0 = words[0], w1 = words[1], w2 = words[4], w3 = words[5]
    let w4 = words[8], w5 = words[9], w6 = words[12], w7 = words[13]
    sha512Round(a, b, c, &d, e, f, g, &h, w0, &bXorC)
    sha512Round(h, a, b, &c, d, e, f, &g, w1, &bXorC)
    sha512Round(g, h, a, &b, c, d, e, &f, w2, &bXorC)
    sha512Round(f, g, h, &a, b, c, d, &e, w3, &bXorC)
    sha512Round(e, f, g, &h, a, b, c, &d, w4, &bXorC)
    sha512Round(d, e, f, &g, h, a, b, &c, w5, &bXorC)
    sha512Round(c, d, e, &f, g, h, a, &b, w6, &bXorC)
    sha512Round(b, c, d, &e, f, g, h, &a, w7, &bXorC)
}

/// One round (FIPS 180-4 §6.4.2, roles renamed instead of variables shifted): `d` gains T1
/// and `h` becomes T1 + T2.
/// - Maj(a, b, c) is ((a ^ b) & (b ^ c)) ^ b, where b ^ c is the previous round's a ^ b,
///   carried in `bXorC`: three instructions instead of five.
/// - Ch(e, f, g) is (e & f) + (~e & g) (the two terms share no bit), added straight into h.
/// - Σ1(e) comes last in both sums, so that the next round's e waits for one addition after
///   it, not two; the rounds are bound by this chain and by the integer units' throughput.
@inline(__always)
private func sha512Round(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: inout UInt64,
                         _ e: UInt64, _ f: UInt64, _ g: UInt64, _ h: inout UInt64,
                         _ scheduledWord: UInt64, _ bXorC: inout UInt64) {
    let early = h &+ scheduledWord &+ (e & f) &+ (~e & g)
    let sum1 = (e >> 14 | e << 50) ^ (e >> 18 | e << 46) ^ (e >> 41 | e << 23)
    let sum0 = (a >> 28 | a << 36) ^ (a >> 34 | a << 30) ^ (a >> 39 | a << 25)
    let aXorB = a ^ b
    let majority = (aXorB & bXorC) ^ b
    bXorC = aXorB
    d = (d &+ early) &+ sum1
    h = (early &+ sum0 &+ majority) &+ sum1
}
#endif
