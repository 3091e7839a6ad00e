import TunnelWire
import XCTest

/// What counts as one name of a folder: the rule the agent resolves `*Beneath` paths by and
/// the client checks every listing from a target against (issue 20).
final class BeneathPathTests: XCTestCase {
    func testSingleNames() {
        for name in ["a", "...", ".a", "a.", "a b", "\u{1b}[31m"] {
            XCTAssertTrue(isSingleName(Array(name.utf8)), name)
        }
        XCTAssertTrue(isSingleName([0xff, 0xfe]))
        for name in ["", ".", "..", "a/b", "/", "../x", "a/"] {
            XCTAssertFalse(isSingleName(Array(name.utf8)), name)
        }
        XCTAssertFalse(isSingleName([UInt8(ascii: "a"), 0]))
    }

    func testComponents() {
        XCTAssertEqual(beneathComponents([]), [])
        XCTAssertEqual(beneathComponents(Array("a/b\u{ff}/c".utf8)), [Array("a".utf8), Array("b\u{ff}".utf8), Array("c".utf8)])
        for path in ["/a", "a/", "a//b", "a/./b", "a/../b", "..", "."] {
            XCTAssertNil(beneathComponents(Array(path.utf8)), path)
        }
        XCTAssertNil(beneathComponents([UInt8(ascii: "a"), 0, UInt8(ascii: "b")]))
    }
}
