import CPosix
import TunnelWire

/// Size of the agent's own stdin/stdout buffers and of every streaming copy.
let ioChunkSize = 256 * 1024

/// Buffered reader on the session's input (the agent's stdin). No stdio `FILE`: the agent
/// hands buffered bytes straight to files and pipes, and knows exactly what it consumed.
public final class InputStream: WireReader {
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var start = 0
    var end = 0
    public var limits: WireLimits = .agent
    /// The first invalid field of the packet being read (see `WireReader.reportInvalid`).
    private var invalidField: InvalidField?
    /// Called before every read that may block: the session flushes its answers there, so
    /// pipelined requests get their answers in one write, and none waits behind a read.
    var beforeBlocking: () -> Void = {}
    /// Payload bytes (uploads' content, runs' stdin) read so far: `--log`'s byte counts.
    private(set) var payloadBytesRead: UInt64 = 0

    public init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func reportInvalid(field: String, reason: String) {
        if invalidField == nil { invalidField = InvalidField(field: field, errorMessage: reason) }
    }

    public func canAllocate(_ byteCount: Int) -> Bool {
        allocatorCanProvide(byteCount)
    }

    /// Whether bytes are buffered already (the next packet may be readable without waiting).
    var hasBufferedBytes: Bool { end > start }

    /// The invalid field reported while reading the last request, if any; cleared.
    /// Whether a field of the packet just read was invalid (asked for every request).
    @inline(__always)
    var hasInvalidField: Bool { invalidField != nil }

    func takeInvalidField() -> InvalidField? {
        guard invalidField != nil else { return nil }
        defer { invalidField = nil }
        return invalidField
    }

    /// Reads what is there into `destination`; 0 at the end of input.
    private func readSome(into destination: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        beforeBlocking()
        do throws(Errno) {
            return try TunnelAgent.readSome(fd: fd, into: destination)
        } catch {
            throw .io(error.code)
        }
    }

    /// Refills the empty buffer; false at end of input.
    private func refill() throws(WireError) -> Bool {
        start = 0
        end = 0
        end = try readSome(into: buffer)
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
                    let got = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: destination[done...]))
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

    /// The next packet's id, as `readPacketID` reads it; straight from the buffer when its
    /// four bytes are there (a pipelined CheckAlive is little more than this and its Ack).
    @inline(__always)
    func nextPacketID() throws(WireError) -> PacketID {
        guard end - start >= 4 else {
            var reader = self
            return try reader.readPacketID()
        }
        let raw = UInt32(bigEndian: UnsafeRawPointer(buffer.baseAddress! + start).loadUnaligned(as: UInt32.self))
        start += 4
        guard let id = PacketID(rawValue: raw) else { throw .invalidPacketID(raw) }
        return id
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

    // MARK: Without blocking (control packets during a streamed run)

    /// The bytes read and not consumed yet.
    var buffered: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: end - start)
    }

    /// Marks the first `count` buffered bytes as consumed.
    func consume(_ count: Int) {
        start += count
        if start == end { start = 0; end = 0 }
    }

    /// Whether `readAvailable` has room to read into.
    var hasRoom: Bool { start > 0 || end < buffer.count }

    /// One `read(2)` into the buffer's free room, for a caller that polled the descriptor
    /// readable (so it returns at once); what is buffered stays. Returns how many bytes
    /// came, 0 at the end of input.
    func readAvailable() throws(WireError) -> Int {
        if start > 0 {
            memmove(buffer.baseAddress!, buffer.baseAddress! + start, end - start)
            end -= start
            start = 0
        }
        do throws(Errno) {
            let got = try TunnelAgent.readSome(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            end += got
            return got
        } catch {
            throw .io(error.code)
        }
    }

    /// Hands the next `length` payload bytes to `consume` piece by piece, as they arrive.
    func streamPayload(length: UInt64, _ consume: (UnsafeRawBufferPointer) -> Void) throws(WireError) {
        payloadBytesRead &+= length
        var remaining = length
        while remaining > 0 {
            let limit = Int(min(remaining, UInt64(ioChunkSize)))
            let got = try withNextChunk(upTo: limit) { chunk in
                consume(chunk)
                return chunk.count
            }
            remaining -= UInt64(got)
        }
    }

    /// Reads a payload of `length` bytes into a new spool. Bytes beyond a failure of the
    /// spool are read and dropped, so that the stream stays in step.
    func spool(length: UInt64) throws(WireError) -> Spool {
        let spool = Spool()
        try streamPayload(length: length) { spool.append($0) }
        return spool
    }
}
