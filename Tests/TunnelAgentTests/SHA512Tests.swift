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

    func testPaddingBoundaries() {
        // Lengths around the 112-byte padding edge land in one or two final blocks.
        var digests = Set<[UInt8]>()
        for length in 100...140 { digests.insert(SHA512.hash([UInt8](repeating: 0, count: length))) }
        XCTAssertEqual(digests.count, 41)
    }
}
