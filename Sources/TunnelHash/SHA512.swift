/// SHA-512 (FIPS 180-4), streaming: `update` with any number of pieces, then `finalize`.
/// The blocks go to the fastest kernel the CPU runs (see SHA512Kernel); this file keeps the
/// padding and the portable kernel.
public struct SHA512 {
    private let kernel: SHA512Kernel
    private var state: SHA512State = (
        0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
        0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)
    /// A partial block waiting for more input.
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    /// A hasher on `kernel`, which must be available on this CPU.
    public init(kernel: SHA512Kernel = .best) {
        precondition(kernel.isAvailable, "SHA-512 kernel not available on this CPU")
        self.kernel = kernel
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress else { return }
        var count = bytes.count
        totalBytes &+= UInt64(count)
        if !pending.isEmpty {
            let take = min(128 - pending.count, count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            count -= take
            if pending.count < 128 { return }
            pending.withUnsafeBytes { compress(blocks: $0.baseAddress!, count: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = count / 128
        if whole > 0 { compress(blocks: base, count: whole) }
        let rest = count - whole * 128
        if rest > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: base + whole * 128, count: rest)) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 64-byte digest.
    public mutating func finalize() -> [UInt8] {
        let bitLength = totalBytes &* 8
        // The padding: 0x80, zeros, and the length as a 128-bit number (its high half is zero
        // for any real input), filling one block, or two when the partial one has no room.
        let tailCount = pending.count < 112 ? 128 : 256
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { tail in
            let bytes = tail.baseAddress!
            bytes.initialize(repeating: 0, count: tailCount)
            for (index, byte) in pending.enumerated() { bytes[index] = byte }
            bytes[pending.count] = 0x80
            for index in 0..<8 { bytes[tailCount - 1 - index] = UInt8(truncatingIfNeeded: bitLength >> UInt64(index * 8)) }
            compress(blocks: UnsafeRawPointer(bytes), count: tailCount / 128)
        }
        pending.removeAll()
        return withUnsafeBytes(of: state) { words in
            [UInt8](unsafeUninitializedCapacity: 64) { digest, count in
                for index in 0..<8 {
                    let word = words.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                    UnsafeMutableRawPointer(digest.baseAddress! + index * 8).storeBytes(of: word.bigEndian, as: UInt64.self)
                }
                count = 64
            }
        }
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA512()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private mutating func compress(blocks: UnsafeRawPointer, count: Int) {
        let kernel = self.kernel
        withUnsafeMutableBytes(of: &state) { words in
            sha512RoundConstants.withUnsafeBufferPointer { constants in
                kernel.compress(words.baseAddress!.assumingMemoryBound(to: UInt64.self), blocks: blocks, count: count,
                                constants: constants.baseAddress!)
            }
        }
    }
}

typealias SHA512State = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

/// The portable compression of `count` 128-byte blocks, for any CPU. The message schedule
/// is kept in a 16-word ring and computed inside the rounds (no 80-word array), and the
/// eight working variables rotate roles instead of being shuffled every round. A plain
/// function, not a closure: working variables captured and mutated by a closure were kept
/// in memory behind pointers (at -Osize), which made every round load and store all eight.
func sha512CompressPortable(_ state: UnsafeMutablePointer<UInt64>, blocks: UnsafeRawPointer, count: Int,
                            ring w: UnsafeMutablePointer<UInt64>, constants k: UnsafePointer<UInt64>) {
    var a = state[0], b = state[1], c = state[2], d = state[3]
    var e = state[4], f = state[5], g = state[6], h = state[7]
    for blockIndex in 0..<count {
        let block = blocks + blockIndex * 128
        for i in 0..<16 { w[i] = UInt64(bigEndian: block.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        let (a0, b0, c0, d0, e0, f0, g0, h0) = (a, b, c, d, e, f, g, h)
        // Eight rounds per pass; the variables rotate roles by one each round.
        // Rounds 0-15 use the block's words, 16-79 extend the schedule in the ring.
        var base = 0
        while base < 16 {
            sha512Round(a, b, c, &d, e, f, g, &h, k[base + 0], w[base + 0])
            sha512Round(h, a, b, &c, d, e, f, &g, k[base + 1], w[base + 1])
            sha512Round(g, h, a, &b, c, d, e, &f, k[base + 2], w[base + 2])
            sha512Round(f, g, h, &a, b, c, d, &e, k[base + 3], w[base + 3])
            sha512Round(e, f, g, &h, a, b, c, &d, k[base + 4], w[base + 4])
            sha512Round(d, e, f, &g, h, a, b, &c, k[base + 5], w[base + 5])
            sha512Round(c, d, e, &f, g, h, a, &b, k[base + 6], w[base + 6])
            sha512Round(b, c, d, &e, f, g, h, &a, k[base + 7], w[base + 7])
            base += 8
        }
        while base < 80 {
            sha512Round(a, b, c, &d, e, f, g, &h, k[base + 0], schedule(w, base + 0))
            sha512Round(h, a, b, &c, d, e, f, &g, k[base + 1], schedule(w, base + 1))
            sha512Round(g, h, a, &b, c, d, e, &f, k[base + 2], schedule(w, base + 2))
            sha512Round(f, g, h, &a, b, c, d, &e, k[base + 3], schedule(w, base + 3))
            sha512Round(e, f, g, &h, a, b, c, &d, k[base + 4], schedule(w, base + 4))
            sha512Round(d, e, f, &g, h, a, b, &c, k[base + 5], schedule(w, base + 5))
            sha512Round(c, d, e, &f, g, h, a, &b, k[base + 6], schedule(w, base + 6))
            sha512Round(b, c, d, &e, f, g, h, &a, k[base + 7], schedule(w, base + 7))
            base += 8
        }
        a = a &+ a0; b = b &+ b0; c = c &+ c0; d = d &+ d0
        e = e &+ e0; f = f &+ f0; g = g &+ g0; h = h &+ h0
    }
    state[0] = a; state[1] = b; state[2] = c; state[3] = d
    state[4] = e; state[5] = f; state[6] = g; state[7] = h
}

/// Word `t` (16...79) of the message schedule, computed in place in the 16-word ring.
@inline(__always)
private func schedule(_ w: UnsafeMutablePointer<UInt64>, _ t: Int) -> UInt64 {
    let w2 = w[(t - 2) & 15], w15 = w[(t - 15) & 15]
    let sigma1 = (w2 >> 19 | w2 << 45) ^ (w2 >> 61 | w2 << 3) ^ (w2 >> 6)
    let sigma0 = (w15 >> 1 | w15 << 63) ^ (w15 >> 8 | w15 << 56) ^ (w15 >> 7)
    let value = w[t & 15] &+ sigma1 &+ w[(t - 7) & 15] &+ sigma0
    w[t & 15] = value
    return value
}

/// One round: `d` gains T1, `h` becomes T1 + T2 (FIPS 180-4 §6.4.2 with renamed roles).
@inline(__always)
private func sha512Round(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: inout UInt64,
                         _ e: UInt64, _ f: UInt64, _ g: UInt64, _ h: inout UInt64,
                         _ k: UInt64, _ w: UInt64) {
    let sum1 = (e >> 14 | e << 50) ^ (e >> 18 | e << 46) ^ (e >> 41 | e << 23)
    let choose = (e & f) ^ (~e & g)
    let t1 = h &+ sum1 &+ choose &+ k &+ w
    let sum0 = (a >> 28 | a << 36) ^ (a >> 34 | a << 30) ^ (a >> 39 | a << 25)
    let majority = (a & b) ^ (a & c) ^ (b & c)
    d = d &+ t1
    h = t1 &+ sum0 &+ majority
}

let sha512RoundConstants: [UInt64] = [
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
    0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
    0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
    0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
    0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
    0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
    0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
    0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
    0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
    0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
]
