@testable import TunnelClient
import TunnelWire
import XCTest

/// A target's listing is hostile input (issue 20): `checkedEntries` refuses it whole when a
/// name could reach beyond one entry of the folder, or names one entry twice.
final class ListingCheckTests: XCTestCase {
    func entry(_ name: String, _ type: String = "file", status: String? = nil) -> DirEntry {
        DirEntry(name: Array(name.utf8), type: type,
                 status: status.map { StatResult(type: $0, mode: 0o644, owner: "root", group: "root", size: 0, mtime: 0,
                                                 ctime: 0, sha512sum: nil) })
    }

    func testAnHonestListingPasses() throws {
        let entries = [entry("a"), entry("b", "dir", status: "dir"), entry("..c")]
        XCTAssertEqual(try checkedEntries(entries), entries)
    }

    func testNamesThatAreNotSingleNames() {
        for name in ["", ".", "..", "../x", "a/b", "/x", "a\u{0}b"] {
            XCTAssertThrowsError(try checkedEntries([entry("ok"), entry(name)]), name) { error in
                guard case .invalidAnswer(field: "name", let reason)? = error as? TunnelError else { return XCTFail("\(error)") }
                XCTAssertTrue(reason.hasSuffix("is not a single file name"), reason)
            }
        }
    }

    func testANameListedTwice() {
        XCTAssertThrowsError(try checkedEntries([entry("d", "link"), entry("d", "dir")])) { error in
            XCTAssertEqual(error as? TunnelError, .invalidAnswer(field: "name", reason: "'d' is listed twice"))
        }
    }

    func testATypeThatDisagreesWithItsStatus() {
        XCTAssertThrowsError(try checkedEntries([entry("s", "dir", status: "link")])) { error in
            XCTAssertEqual(error as? TunnelError, .invalidAnswer(field: "type", reason: "'s' is listed as dir and link"))
        }
    }

    func testControlCharactersInNamesAreEscapedInMessages() {
        XCTAssertEqual(quoted(Array("a\u{1b}[2J\n".utf8)), "'a\\x1b[2J\\x0a'")
    }
}
