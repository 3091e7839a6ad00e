@testable import TunnelClient
import TunnelWire
import XCTest

/// A streamed upload's content never sends fewer bytes than its length prefix announced.
final class FileContentTests: XCTestCase {
    /// The file shrank after its size was taken: the packet is abandoned (the writer is
    /// told, and ends the session), never completed short (issue 21).
    func testAFileThatShrankAbandonsThePacket() throws {
        var template = Array("/tmp/tunnel-content-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer {
            close(fd)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        XCTAssertEqual([1, 2, 3].withUnsafeBytes { write(fd, $0.baseAddress, 3) }, 3)
        XCTAssertEqual(lseek(fd, 0, SEEK_SET), 0)
        let content = FileContent(fd: fd, byteCount: 10)
        var writer = ByteWriter()
        writer.writePayload(content)
        XCTAssertNotNil(content.failure)
        XCTAssertNotNil(writer.abandoned, "the writer must learn that the packet is cut short")
    }
}
