@testable import TunnelAgent
import TunnelWire
import XCTest

/// The run path's parts on their own: a spool that cannot fill its packet, and control
/// packets decoded only from whole frames, never waiting for more bytes.
final class RunPathTests: XCTestCase {
    /// Its length prefix is out already: a spool whose storing failed gives up the packet
    /// instead of sending fewer bytes than it announced (issue 21).
    func testASpoolThatLostItsContentAbandonsThePacket() {
        let spool = Spool(limit: 8)
        XCTAssertTrue([UInt8]([1, 2, 3, 4]).withUnsafeBytes { spool.append($0) })
        XCTAssertFalse([UInt8](repeating: 5, count: 8).withUnsafeBytes { spool.append($0) })
        XCTAssertEqual(spool.failure, .fileTooLarge)
        var writer = ByteWriter()
        writer.writePayload(spool)
        XCTAssertNotNil(writer.abandoned)
        XCTAssertEqual(writer.bytes.count, 8, "only the length prefix")
    }

    func testControlPacketsAreTakenOnlyWhenWhole() throws {
        let (input, writeEnd) = try inputOnPipe()
        defer { close(writeEnd) }
        var frames = ByteWriter()
        Signal(number: 15).encode(to: &frames)
        Input(data: [1, 2, 3]).encode(to: &frames)
        CloseInput().encode(to: &frames)
        // Byte by byte: nothing is decoded before a packet's fixed part is there whole.
        var taken: [ControlFrame] = []
        var payloadLeft = 0
        for byte in frames.bytes {
            _ = [byte].withUnsafeBytes { write(writeEnd, $0.baseAddress, 1) }
            XCTAssertEqual(try input.readAvailable(), 1)
            if payloadLeft > 0 {
                // An Input's payload is the supervisor's to take as it comes.
                if input.buffered.count == payloadLeft {
                    XCTAssertEqual(Array(input.buffered), [1, 2, 3])
                    input.consume(payloadLeft)
                    payloadLeft = 0
                }
                continue
            }
            if let frame = try input.takeControlFrame() {
                taken.append(frame)
                if case .input(let length) = frame { payloadLeft = Int(length) }
            }
        }
        XCTAssertEqual(taken, [.signal(15), .input(length: 3), .closeInput])
        XCTAssertEqual(input.buffered.count, 0)
    }

    func testAnotherRequestDuringARunIsAProtocolError() throws {
        let (input, writeEnd) = try inputOnPipe()
        defer { close(writeEnd) }
        var packet = ByteWriter()
        CheckAlive().encode(to: &packet)
        _ = packet.bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
        _ = try input.readAvailable()
        XCTAssertThrowsError(try input.takeControlFrame())
    }

    /// An InputStream on a new pipe's read end (closed with the stream's fd by the test's
    /// end of process), and the write end.
    private func inputOnPipe() throws -> (TunnelAgent.InputStream, Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(fds.withUnsafeMutableBufferPointer { pipe($0.baseAddress!) }, 0)
        addTeardownBlock { close(fds[0]) }
        return (TunnelAgent.InputStream(fd: fds[0]), fds[1])
    }
}
