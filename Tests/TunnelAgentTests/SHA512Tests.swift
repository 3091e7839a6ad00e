import TunnelHash
import XCTest

/// FIPS 180-4 / NIST example vectors, and streaming in every split, on every kernel this CPU
/// runs. (Tests/conformance/test_sha512_kernels.py checks each kernel against hashlib, and
/// the aarch64 ones under qemu.)
final class SHA512Tests: XCTestCase {
    let kernels = SHA512Kernel.allCases.filter(\.isAvailable)

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    func digest(_ bytes: [UInt8], on kernel: SHA512Kernel) -> String {
        var hasher = SHA512(kernel: kernel)
        hasher.update(bytes)
        return hex(hasher.finalize())
    }

    func testTheBestKernelIsAvailable() {
        XCTAssertTrue(SHA512Kernel.best.isAvailable)
        #if arch(x86_64)
        XCTAssertEqual(SHA512Kernel.avx2.isAvailable, SHA512Kernel.best == .avx2 || ProcessInfo.processInfo.environment["TUNNEL_SHA512"] == "portable")
        #endif
    }

    func testNISTVectors() {
        let twoBlocks = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        for kernel in kernels {
            XCTAssertEqual(digest(Array("abc".utf8), on: kernel),
                           "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
            XCTAssertEqual(digest([], on: kernel),
                           "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
            XCTAssertEqual(digest(Array(twoBlocks.utf8), on: kernel),
                           "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909")
            XCTAssertEqual(digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000), on: kernel),
                           "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")
        }
    }

    func testEveryKernelAgreesWithThePortableOneOnEveryLengthAndSplit() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for length in stride(from: 0, through: 1000, by: 7) {
            let expected = digest(Array(data[0..<length]), on: .portable)
            for kernel in kernels {
                for split in stride(from: 0, through: length, by: max(1, length / 9)) {
                    var hasher = SHA512(kernel: kernel)
                    hasher.update(Array(data[0..<split]))
                    hasher.update(Array(data[split..<length]))
                    XCTAssertEqual(hex(hasher.finalize()), expected, "\(kernel.name), length \(length), split \(split)")
                }
            }
        }
    }

    /// The first 8 bytes of hashlib's SHA-512 of `length` zero bytes (Python 3.11), for the
    /// lengths around the 112-byte padding edge, which land in one or two final blocks.
    static let zeroPrefixDigests: [Int: String] = [
        100: "f206f4f0ef09b908",
        101: "2db5f3b000021251",
        102: "98e04e394b9bd572",
        103: "3eeabfb9888432e7",
        104: "ff61ebf3c2bcf802",
        105: "a6af7912278d8140",
        106: "d9ad640884f40495",
        107: "49ee1bfcdb996da7",
        108: "a3e171c1c71e0c8f",
        109: "169e21ad25319e52",
        110: "1c5c8d28e1b00880",
        111: "77ddd3a542e530fd",
        112: "2be2e788c8a8adea",
        113: "0e67910bcf0f9ccd",
        114: "e94480d20b666559",
        115: "39c8ef9b28a0a103",
        116: "48524ff46d1c5bf4",
        117: "0bb9c76171ffa588",
        118: "8488dea55b0f962c",
        119: "c2e210f2674a648d",
        120: "c106c47ad6eb79cd",
        121: "bef13fa741340cb7",
        122: "4f3f095d015be4a7",
        123: "bd0c9c169afb4869",
        124: "bb78c9783303a24d",
        125: "e46b5c1865b53513",
        126: "d4bf12247a7396ff",
        127: "876fee26a8dc66d6",
        128: "ab942f526272e456",
        129: "b1f542f68a48608a",
        130: "e3aa5d9c7fd87530",
        131: "752509cdf3de7c2f",
        132: "a191f83247bb1ffc",
        133: "c6953aea1f31da67",
        134: "e0628963cf2d2cb1",
        135: "08cc4bdd6b1878ff",
        136: "7542d09f09c7e9a6",
        137: "f57b77dcd655d347",
        138: "d9bb4c0658f79fbc",
        139: "0bcc23655f54f15e",
        140: "8e6eb78d0a4ae949",
    ]

    func testPaddingBoundaries() {
        for kernel in kernels {
            for length in 100...140 {
                let digest = self.digest([UInt8](repeating: 0, count: length), on: kernel)
                XCTAssertEqual(String(digest.prefix(16)), Self.zeroPrefixDigests[length], "\(kernel.name), length \(length)")
            }
        }
        var digests = Set<[UInt8]>()
        for length in 100...140 { digests.insert(SHA512.hash([UInt8](repeating: 0, count: length))) }
        XCTAssertEqual(digests.count, 41)
    }
}
