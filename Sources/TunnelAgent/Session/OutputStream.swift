import CPosix
import TunnelWire

/// Buffered writer on the session's output (the agent's stdout). It never ends the process
/// itself: a failed write (the client is gone) or an abandoned payload is recorded in
/// `failure`, everything after it is dropped, and the session ends when it sees it.
public final class OutputStream: WireWriter {
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var used = 0
    /// Why nothing more can reach the client; set once.
    private(set) var failure: WireError?
    /// Extension requests are refused with `Failure` on this stream: the client's Hello asked
    /// for it (set as HelloResult is written, see Session.encode).
    var structuredFailures = false

    public init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, failure == nil else { return }
        if bytes.count > buffer.count - used {
            flush()
            if bytes.count >= buffer.count {
                writeOut(bytes)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    public func abandon(reason: String) {
        // What was complete before the abandoned payload still reaches the client.
        flush()
        if failure == nil { failure = .abandoned(reason) }
    }

    public func flush() {
        guard used > 0, failure == nil else { return }
        writeOut(UnsafeRawBufferPointer(start: buffer.baseAddress, count: used))
        used = 0
    }

    /// Writes what a non-blocking channel takes now and keeps the rest (a streamed run
    /// never waits on a client that does not read).
    func flushAvailable() {
        guard used > 0, failure == nil else { return }
        do throws(Errno) {
            let written = try retryingInterrupts { CPosix.write(fd, buffer.baseAddress, used) }
            memmove(buffer.baseAddress!, buffer.baseAddress! + written, used - written)
            used -= written
        } catch {
            if error != Errno(EAGAIN) { failure = .abandoned("Cannot write to the data stream: " + error.strerror) }
        }
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) {
        do throws(Errno) {
            try writeFully(fd: fd, bytes)
        } catch {
            failure = .abandoned("Cannot write to the data stream: " + error.strerror)
        }
    }
}
