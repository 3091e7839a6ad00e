@testable import TunnelAgent
import TunnelHash
import XCTest

/// FIPS 180-4 / NIST example vectors, and streaming in every split.
final class SHA512Tests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    func testNISTVectors() {
        XCTAssertEqual(hex(SHA512.hash(Array("abc".utf8))),
                       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        XCTAssertEqual(hex(SHA512.hash([])),
                       "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
        let twoBlocks = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        XCTAssertEqual(hex(SHA512.hash(Array(twoBlocks.utf8))),
                       "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909")
        XCTAssertEqual(hex(SHA512.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))),
                       "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")
    }

    func testEverySplitGivesTheSameDigest() {
        let data = (0..<777).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = SHA512.hash(data)
        for split in [0, 1, 111, 112, 127, 128, 129, 255, 256, 500, 776, 777] {
            var hasher = SHA512()
            hasher.update(Array(data[0..<split]))
            hasher.update(Array(data[split...]))
            XCTAssertEqual(hasher.finalize(), whole, "split at \(split)")
        }
    }

    func testPaddingBoundaries() {
        // Lengths around the 112-byte padding edge land in one or two final blocks.
        var digests = Set<[UInt8]>()
        for length in 100...140 { digests.insert(SHA512.hash([UInt8](repeating: 0, count: length))) }
        XCTAssertEqual(digests.count, 41)
    }
}
