import TunnelWire
import XCTest

/// `readString` reads a short string on the stack and a long one through an array
/// (WireReader.swift): both must give the same strings, the same verdict on bad UTF-8, and
/// leave the stream at the next field.
final class StringFieldTests: XCTestCase {
    func field(_ bytes: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bytes.count).bigEndian, Array.init) + bytes
    }

    func testStringsOfEveryKindOfLengthRoundTrip() throws {
        for length in [0, 1, 15, 16, 63, 64, 65, 1000, 70_000] {
            let text = String((0..<length).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
            var reader = ByteReader(field(Array(text.utf8)) + field(Array("next".utf8)), limits: .client)
            XCTAssertEqual(try reader.readString(field: "f"), text, "\(length)")
            XCTAssertEqual(try reader.readString(field: "g"), "next", "\(length)")
            XCTAssertNil(reader.takeInvalidField())
            XCTAssertTrue(reader.isAtEnd)
        }
    }

    func testInvalidUTF8IsReportedAndSkippedShortOrLong() throws {
        for length in [1, 64, 65, 5000] {
            let bad = [UInt8](repeating: UInt8(ascii: "x"), count: length - 1) + [0xff]
            var reader = ByteReader(field(bad) + field(Array("é".utf8)), limits: .client)
            XCTAssertEqual(try reader.readString(field: "owner"), "", "\(length)")
            XCTAssertEqual(reader.takeInvalidField()?.field, "owner")
            XCTAssertEqual(try reader.readString(field: "group"), "é", "\(length)")
            XCTAssertTrue(reader.isAtEnd)
        }
    }

    func testAShortStringCutShortIsTruncated() {
        var reader = ByteReader(Array(field(Array("abcdef".utf8)).dropLast(2)))
        XCTAssertThrowsError(try reader.readString(field: "f")) { error in XCTAssertEqual(error as? WireError, .truncated) }
    }
}
