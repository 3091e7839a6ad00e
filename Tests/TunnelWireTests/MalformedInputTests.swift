import TunnelWire
import XCTest

/// What the reader does with input no honest peer sends: it must never trap, never
/// allocate what was merely declared, and tell "ended" apart from "malformed".
final class MalformedInputTests: XCTestCase {
    func bytes(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
    func u64(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) } }
    func u32(_ value: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt32($0) * 8)) } }

    func testUnknownPacketIDs() {
        for id: UInt32 in [99, 1000, UInt32.max] {
            var reader = ByteReader(u32(id))
            XCTAssertThrowsError(try reader.readPacketID()) { XCTAssertEqual($0 as? WireError, .invalidPacketID(id)) }
        }
    }

    func testHugeStringLengthIsSkippedNotAllocated() {
        // 2^62 declared, 3 sent: the reader skips in small pieces and hits the end.
        var reader = ByteReader(bytes(u64(1 << 62), [1, 2, 3]))
        XCTAssertThrowsError(try reader.readString(field: "path")) { XCTAssertEqual($0 as? WireError, .truncated) }
    }

    func testStringOverTheCapIsReportedAndSkipped() throws {
        var limits = WireLimits.agent
        limits.maxStringBytes = 4
        var reader = ByteReader(bytes(u64(5), Array("hello".utf8), u64(2), Array("ok".utf8)), limits: limits)
        XCTAssertEqual(try reader.readString(field: "path"), "")
        XCTAssertEqual(reader.takeInvalidField()?.field, "path")
        XCTAssertEqual(try reader.readString(field: "next"), "ok", "the stream stays in sync")
    }

    func testHugeListCountIsAProtocolError() {
        var reader = ByteReader(u64(1 << 40))
        XCTAssertThrowsError(try reader.readStringList(field: "command")) {
            XCTAssertEqual($0 as? WireError, .listTooLong(field: "command", count: 1 << 40))
        }
    }

    func testInMemoryBytesOverTheCap() {
        var reader = ByteReader(u64(UInt64(Int64.max)), limits: .agent)
        XCTAssertThrowsError(try reader.readBytes(field: "content")) {
            XCTAssertEqual($0 as? WireError, .payloadTooLong(field: "content", length: UInt64(Int64.max)))
        }
    }

    func testBytesGrowOnlyAsTheyArrive() {
        // 1 GiB declared within the client's cap, 10 bytes sent: truncated, not a 1 GiB buffer.
        var reader = ByteReader(bytes(u64(1 << 30), [UInt8](repeating: 7, count: 10)), limits: .client)
        XCTAssertThrowsError(try reader.readBytes(field: "content")) { XCTAssertEqual($0 as? WireError, .truncated) }
    }

    func testInvalidUTF8IsReportedAndTheRestStillDecodes() throws {
        let invalid: [[UInt8]] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]]
        for sample in invalid {
            var reader = ByteReader(bytes(u64(UInt64(sample.count)), sample, [1, 1]))
            let stat = try Stat.decodeFields(from: &reader)
            XCTAssertTrue(stat.followLinks && stat.sha512sum && reader.isAtEnd)
            XCTAssertEqual(reader.takeInvalidField()?.field, "path", "\(sample)")
        }
    }

    func testValidUTF8Passes() throws {
        for text in ["", "plain", "gr\u{fc}\u{df}", "\u{2603}", "\u{1F600}", "\u{10FFFF}", "\u{0}"] {
            var reader = ByteReader(Getenv(key: text).encoded)
            _ = try reader.readPacketID()
            XCTAssertEqual(try Getenv.decodeFields(from: &reader).key, text)
            XCTAssertNil(reader.takeInvalidField())
        }
    }

    func testAnyNonZeroByteIsTrue() throws {
        var reader = ByteReader([0, 1, 2, 0xff])
        XCTAssertEqual(try [reader.readBool(), reader.readBool(), reader.readBool(), reader.readBool()],
                       [false, true, true, true])
    }
}

extension MalformedInputTests {
    /// 65536 strings of 1 MiB each would be 64 GiB held at once: the list's total is capped,
    /// the strings beyond are skipped (the stream stays in sync) and the field reported.
    func testListTotalIsCappedAndTheRestSkipped() throws {
        var limits = WireLimits.agent
        limits.maxListBytes = 10
        let element = bytes(u64(6), Array("abcdef".utf8))
        var reader = ByteReader(bytes(u64(3), element, element, element, u64(2), Array("ok".utf8)), limits: limits)
        XCTAssertEqual(try reader.readStringList(field: "command"), ["abcdef"])
        XCTAssertEqual(reader.takeInvalidField()?.field, "command")
        XCTAssertEqual(try reader.readString(field: "next"), "ok", "the stream stays in sync")
    }
}
