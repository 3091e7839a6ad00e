@testable import TunnelClient
import TunnelWire
import XCTest

/// A push matches its local names with the remote listing by merging both in byte order
/// (NameMerge.swift), not by hashing names: what it finds must be what a dictionary would.
final class NameMergeTests: XCTestCase {
    func entry(_ name: [UInt8]) -> DirEntry { DirEntry(name: name, type: "file") }

    func testBytesPrecedeIsTheOrderOfBytes() {
        let names: [[UInt8]] = [[], [0x41], [0x41, 0], [0x41, 0x41], [0x61], [0x7f], [0x80], [0xc3, 0xa9], [0xff], [0xff, 0]]
        for a in names {
            for b in names {
                XCTAssertEqual(bytesPrecede(a, b), a.lexicographicallyPrecedes(b), "\(a) \(b)")
            }
        }
    }

    func testEachNameGetsItsEntryWhateverTheAgentsOrder() {
        let names: [[UInt8]] = [Array("a".utf8), Array("b".utf8), Array("c.txt".utf8), [0xc3, 0xa9], [0xff]]
        let listed = [entry([0xff]), entry(Array("zz".utf8)), entry(Array("a".utf8)), entry(Array("B".utf8)),
                      entry(Array("c".utf8)), entry([0xc3, 0xa9])]
        let (matches, unmatched) = pairedByName(names, listed)
        XCTAssertEqual(matches.map { $0?.name }, [Array("a".utf8), nil, nil, [0xc3, 0xa9], [0xff]])
        // What only the remote side has, in byte order (the order `--delete` removes it in).
        XCTAssertEqual(unmatched.map(\.name), [Array("B".utf8), Array("c".utf8), Array("zz".utf8)])
    }

    func testEmptySides() {
        XCTAssertEqual(pairedByName([], [entry([1]), entry([0])]).unmatched.map(\.name), [[0], [1]])
        let (matches, unmatched) = pairedByName([[1], [2]], [])
        XCTAssertEqual(matches.map { $0 == nil }, [true, true])
        XCTAssertTrue(unmatched.isEmpty)
    }

    func testSlashJoined() {
        XCTAssertEqual(slashJoined(Array("a/b".utf8), Array("c".utf8)), Array("a/b/c".utf8))
        XCTAssertEqual(slashJoined(Array("/".utf8), Array("c".utf8)), Array("/c".utf8))
        XCTAssertEqual(slashJoined([], Array("c".utf8)), Array("/c".utf8))
        XCTAssertEqual(joined(Array("/r".utf8), []), Array("/r".utf8))
        XCTAssertEqual(LocalPath("x/").appending(Array("y".utf8)).bytes, Array("x/y".utf8))
    }

    func testByteKeyIsEqualExactlyWhenTheBytesAre() {
        let keys: Set<ByteKey> = [ByteKey([1, 2]), ByteKey([1, 2]), ByteKey([2, 1]), ByteKey([]), ByteKey([0])]
        XCTAssertEqual(keys.count, 4)
        XCTAssertTrue(keys.contains(ByteKey([2, 1])))
        XCTAssertFalse(keys.contains(ByteKey([1])))
    }

    func testWireTypesGiveTheSameKindsAsTheirRawValues() {
        for kind in FileType.allCases { XCTAssertEqual(FileType(wire: kind.rawValue), kind) }
        XCTAssertEqual(FileType(wire: "door"), .other)
        XCTAssertEqual(FileType(wire: "FILE"), .other)
        XCTAssertTrue(DirEntry(name: [0x61], type: "dir").isFolder)
        XCTAssertFalse(DirEntry(name: [0x61], type: "link").isFolder)
    }

    func testLocalPathsCStringEndsAtItsBytes() {
        XCTAssertEqual(LocalPath([UInt8]()).withCString { strlen($0) }, 0)
        XCTAssertEqual(LocalPath("/tmp").withCString { String(cString: $0) }, "/tmp")
    }
}
