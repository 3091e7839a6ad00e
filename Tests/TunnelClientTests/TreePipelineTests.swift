import Foundation
@testable import TunnelClient
import TunnelWire
import XCTest

/// TreePipeline against a real agent: requests written ahead of their answers, each answer
/// handed to its own request's handler, refusals included, and the stream still in step.
final class TreePipelineTests: TemporaryDirectoryTestCase {
    /// 300 files through a window of 16: more than the window, so answers are read while
    /// requests are still being written; then read back the same way, with one refusal
    /// (a missing file) in the middle that must be that request's answer and no other's.
    func testAnswersReachTheirOwnRequestsPastTheWindow() throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        defer { agent.close() }
        let root = Array(directory.path.utf8)
        let pipeline = TreePipeline(agent, window: 16)
        var uploaded: [Int] = []
        let source = directory.appendingPathComponent("source").path
        for index in 0..<300 {
            FileManager.default.createFile(atPath: source, contents: Data("file \(index)".utf8))
            let fd = open(source, O_RDONLY)
            defer { close(fd) }
            let file = FileContent(fd: fd, byteCount: UInt64("file \(index)".utf8.count))
            try pipeline.upload(beneath: root, Array("f\(index)".utf8), streaming: file) { error in
                XCTAssertNil(error)
                uploaded.append(index)
            }
            XCTAssertLessThanOrEqual(pipeline.unanswered, 16)
        }
        try pipeline.finish()
        XCTAssertEqual(uploaded, Array(0..<300))

        var contents: [String: String] = [:]
        var refused: [String] = []
        for name in ["f0", "f1", "missing", "f2", "f299"] {
            try pipeline.read(beneath: root, Array(name.utf8)) { answer in
                var bytes: [UInt8] = []
                do throws(TunnelError) {
                    let kind = try answer.content { bytes += $0; return true }
                    XCTAssertEqual(kind, .file)
                    contents[name] = String(decoding: bytes, as: UTF8.self)
                } catch {
                    refused.append(name)
                }
            }
        }
        try pipeline.finish()
        XCTAssertEqual(contents, ["f0": "file 0", "f1": "file 1", "f2": "file 2", "f299": "file 299"])
        XCTAssertEqual(refused, ["missing"])
        XCTAssertTrue(agent.isUsable)
    }

    /// A handler that leaves its answer unread (it failed first): the answer is read and
    /// dropped, and the next request gets its own.
    func testAnUnreadAnswerIsDroppedAndTheNextOneIsInStep() throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        defer { agent.close() }
        try agent.upload(directory.appendingPathComponent("a").path, content: Array("aaaa".utf8))
        try agent.upload(directory.appendingPathComponent("b").path, content: Array("bb".utf8))
        let root = Array(directory.path.utf8)
        let pipeline = TreePipeline(agent)
        struct LocalFailure: Error {}
        var second: [UInt8] = []
        try pipeline.read(beneath: root, Array("a".utf8)) { _ in throw LocalFailure() }
        try pipeline.read(beneath: root, Array("b".utf8)) { answer in _ = try answer.content { second += $0; return true } }
        XCTAssertThrowsError(try pipeline.finish()) { XCTAssertTrue($0 is LocalFailure) }
        XCTAssertEqual(String(decoding: second, as: UTF8.self), "bb")
    }
}
