@testable import TunnelClient
import TunnelWire
import XCTest

/// A listing is held whole, so it is capped (issue 20): by entries, and by the bytes of its
/// names and text, counted page by page as they arrive.
final class ListingBudgetTests: XCTestCase {
    func page(_ count: Int, nameBytes: Int = 8) -> [DirEntry] {
        Array(repeating: DirEntry(name: Array(repeating: UInt8(ascii: "n"), count: nameBytes), type: "file"), count: count)
    }

    func testAListingAtTheEntryCapIsHeldOneMoreIsNot() {
        var budget = ListingBudget()
        XCTAssertNil(budget.take(page(ListingLimits.entries - 1)))
        XCTAssertNil(budget.take(page(1)))
        XCTAssertEqual(budget.take(page(1)), "more than \(ListingLimits.entries) entries")
    }

    func testNamesAndTextAreCountedAgainstTheByteCap() {
        var budget = ListingBudget()
        let perEntry = 1000 + "file".utf8.count
        XCTAssertNil(budget.take(page(ListingLimits.textBytes / perEntry, nameBytes: 1000)))
        XCTAssertEqual(budget.take(page(1, nameBytes: 1000)), "more than 64 MiB of names")
    }
}
