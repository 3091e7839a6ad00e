import CPosix
import TunnelWire

/// Size of the agent's own stdin/stdout buffers and of every streaming copy.
let ioChunkSize = 256 * 1024

/// Buffered reader on a raw fd (the agent's stdin). No stdio `FILE`: the agent needs to
/// hand buffered bytes straight to files and pipes, and to know exactly what it consumed.
public final class InputStream: WireReader {
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var start = 0
    var end = 0
    public var limits: WireLimits = .agent
    /// The first invalid field of the packet being read (see `WireReader.reportInvalid`).
    var invalidField: InvalidField?
    /// Called before every read that may block: the session flushes its answers there, so
    /// pipelined requests get their answers in one write, and none waits behind a read.
    var beforeBlocking: () -> Void = {}

    public init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func reportInvalid(field: String, reason: String) {
        if invalidField == nil { invalidField = InvalidField(field: field, errorMessage: reason) }
    }

    /// Refills the empty buffer; false at end of input.
    private func refill() throws(WireError) -> Bool {
        beforeBlocking()
        start = 0
        end = 0
        do throws(Errno) {
            end = try retryingInterrupts { CPosix.read(fd, buffer.baseAddress, buffer.count) }
        } catch {
            throw .io(error.code)
        }
        return end > 0
    }

    public func read(into destination: UnsafeMutableRawBufferPointer) throws(WireError) {
        // Almost every field is small and already buffered: copy it without a call into
        // memcpy or the refill loop (callgrind: a third of a CheckAlive's instructions).
        let count = destination.count
        if count <= end - start && count <= 8 {
            let source = UnsafeRawPointer(buffer.baseAddress! + start)
            for index in 0..<count { destination[index] = source.load(fromByteOffset: index, as: UInt8.self) }
            start += count
            return
        }
        var done = 0
        while done < destination.count {
            if start == end {
                // A large read bypasses the buffer.
                let wanted = destination.count - done
                if wanted >= buffer.count {
                    beforeBlocking()
                    let got: Int
                    do throws(Errno) {
                        got = try retryingInterrupts { CPosix.read(fd, destination.baseAddress! + done, wanted) }
                    } catch {
                        throw .io(error.code)
                    }
                    if got == 0 { throw .truncated }
                    done += got
                    continue
                }
                if try !refill() { throw .truncated }
            }
            let piece = min(end - start, destination.count - done)
            (destination.baseAddress! + done).copyMemory(from: buffer.baseAddress! + start, byteCount: piece)
            start += piece
            done += piece
        }
    }

    /// Hands the next buffered bytes (at most `limit`, at least one) to `body` without
    /// copying them; the way payloads are streamed into files and pipes.
    func withNextChunk<T>(upTo limit: Int, _ body: (UnsafeRawBufferPointer) -> T) throws(WireError) -> T {
        if start == end, try !refill() { throw .truncated }
        let piece = min(end - start, limit)
        let chunk = UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: piece)
        start += piece
        return body(chunk)
    }
}

/// Buffered writer on a raw fd (the agent's stdout). A failed write means the client is
/// gone or the pipe broken: the session cannot go on, so the agent ends (status 3).
public final class OutputStream: WireWriter {
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var used = 0
    /// Set once a write failed: nothing more can reach the client.
    private var broken = false

    public init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if bytes.count > buffer.count - used {
            flush()
            if bytes.count >= buffer.count {
                writeFully(bytes)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    public func flush() {
        guard used > 0, !broken else { return }
        writeFully(UnsafeRawBufferPointer(start: buffer.baseAddress, count: used))
        used = 0
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) {
        do throws(Errno) {
            try writeAll(fd: fd, bytes)
        } catch {
            broken = true
            abortSession("Cannot write to the data stream: " + error.strerror)
        }
    }
}

/// `write(2)` until every byte is out.
func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
    var done = 0
    while done < bytes.count {
        done += try retryingInterrupts { CPosix.write(fd, bytes.baseAddress! + done, bytes.count - done) }
    }
}

/// The session's output, flushed by `abortSession`: answers to earlier requests still in
/// the buffer must reach the client even when a later one cannot be completed.
nonisolated(unsafe) var outputFlushedOnAbort: OutputStream?

/// Ends the session the way the reference ends it on a protocol error:
/// `<message>. Aborting.` on stderr, exit status 3. A payload being sent stays cut short
/// (its declared length is never reached), so the client cannot take it as complete.
func abortSession(_ message: String) -> Never {
    outputFlushedOnAbort?.flush()
    writeToStderr(message + ". Aborting.\n")
    exit(3)
}

func writeToStderr(_ text: String) {
    var copy = text
    copy.withUTF8 { try? writeAll(fd: 2, UnsafeRawBufferPointer($0)) }
}
