import Foundation
@testable import TunnelClient
import TunnelWire
import XCTest

/// TunnelConnection.sync as a library user calls it (issue 22): a push and a pull against a
/// real agent, what the progress callback hears, the itemized changes, a second sync that
/// changes nothing, and a failed entry that is reported and counted while the rest is done.
final class SyncTests: TemporaryDirectoryTestCase {
    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A source tree: two files (3 and 5000 bytes), a subfolder with one more, a symlink.
    private func makeSource() throws -> String {
        let source = path("source")
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: source + "/a", contents: Data("abc".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: source + "/sub/b", contents: Data(repeating: 7, count: 5000)))
        XCTAssertTrue(FileManager.default.createFile(atPath: source + "/sub/c", contents: Data()))
        try FileManager.default.createSymbolicLink(atPath: source + "/link", withDestinationPath: "a")
        return source
    }

    func testAPushReportsItsProgressAndASecondOneChangesNothing() throws {
        let source = try makeSource()
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        defer { agent.close() }
        var reports: [SyncProgress] = []
        var changes: [SyncChange] = []
        var options = SyncOptions()
        options.itemize = { changes.append($0) }
        let result = try agent.sync(from: .local(Array((source + "/").utf8)), to: .remote(Array(path("dest").utf8)),
                                    options: options) { reports.append($0) }
        XCTAssertEqual(result.failures, 0)
        XCTAssertEqual(try String(contentsOfFile: path("dest/a"), encoding: .utf8), "abc")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("dest/link")), "a")
        XCTAssertEqual(FileManager.default.contents(atPath: path("dest/sub/b")), Data(repeating: 7, count: 5000))
        // Three files, 5003 bytes: to do grows as they are found, done catches up.
        XCTAssertEqual(reports.last?.filesDone, 3)
        XCTAssertEqual(reports.last?.bytesDone, 5003)
        XCTAssertEqual(reports.last?.filesToDo, 3)
        XCTAssertEqual(reports.last?.bytesToDo, 5003)
        XCTAssertTrue(reports.allSatisfy { $0.filesDone <= $0.filesToDo && $0.bytesDone <= $0.bytesToDo })
        XCTAssertEqual(Set(changes.map { String(decoding: $0.path, as: UTF8.self) }), ["", "a", "link", "sub", "sub/b", "sub/c"])

        changes = []
        reports = []
        let again = try agent.sync(from: .local(Array((source + "/").utf8)), to: .remote(Array(path("dest").utf8)),
                                   options: options) { reports.append($0) }
        XCTAssertEqual(again.failures, 0)
        XCTAssertEqual(changes, [])
        XCTAssertEqual(reports.last?.filesToDo ?? 0, 0)
    }

    func testAPullReportsAFailedEntryAndDoesTheRest() throws {
        let source = try makeSource()
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        defer { agent.close() }
        // A local folder that is not empty where the source has a file: that file fails
        // (rsync cannot make way for it either), the rest is copied.
        try FileManager.default.createDirectory(atPath: path("copy/a/kept"), withIntermediateDirectories: true)
        var failed: [Error] = []
        var options = SyncOptions()
        options.entryFailed = { failed.append($0) }
        var last = SyncProgress()
        let result = try agent.sync(from: .remote(Array((source + "/").utf8)), to: .local(Array(path("copy").utf8)),
                                    options: options) { last = $0 }
        XCTAssertEqual(result.failures, 1)
        XCTAssertEqual(failed.count, 1)
        XCTAssertEqual((failed.first as? TreeError)?.kind, .local(errno: EISDIR))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("copy/a/kept")))
        XCTAssertEqual(FileManager.default.contents(atPath: path("copy/sub/b")), Data(repeating: 7, count: 5000))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("copy/link")), "a")
        // The failed file counts as done: it was handled, and reported.
        XCTAssertEqual(last.filesDone, 3)
        XCTAssertEqual(last.filesToDo, 3)
        XCTAssertEqual(last.bytesToDo, 5003)
    }

    func testBothSidesRemoteIsRefusedBeforeAnything() throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        defer { agent.close() }
        XCTAssertThrowsError(try agent.sync(from: .remote(Array(path("a").utf8)), to: .remote(Array(path("b").utf8)))) {
            XCTAssertEqual(($0 as? TreeError)?.kind, .usage)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("b")))
    }
}
