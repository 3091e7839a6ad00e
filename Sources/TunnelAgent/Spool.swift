import CPosix
import TunnelWire

/// Bytes of a size known only at the end (a child's output, a request's stdin) kept in
/// memory up to `memoryLimit` and beyond that in an unnamed temporary file, so that memory
/// stays bounded whatever the size. It is a `WirePayload`: sent by streaming it back.
final class Spool: WirePayload {
    static let memoryLimit = 1 << 20

    /// The in-memory part: raw bytes grown with realloc. (An `[UInt8]` grown by appending
    /// moved its bytes one by one in Embedded Swift: 91% of the agent's instructions for a
    /// `cat` under callgrind.)
    private var memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var memoryUsed = 0
    private var fd: Int32 = -1
    private(set) var byteCount: UInt64 = 0
    /// The first error while storing; later bytes are dropped (the owner reports it).
    private(set) var failure: Errno?

    init() {}
    deinit {
        if fd >= 0 { close(fd) }
        free(memory.baseAddress)
    }

    private var inMemory: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: memory.baseAddress, count: memoryUsed)
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, bytes.count > 0 else { return }
        if fd < 0 && memoryUsed + bytes.count <= Spool.memoryLimit {
            if memoryUsed + bytes.count > memory.count {
                let capacity = min(Spool.memoryLimit, max(memoryUsed + bytes.count, 2 * memory.count, 4096))
                guard let grown = realloc(memory.baseAddress, capacity) else {
                    failure = Errno(ENOMEM)
                    return
                }
                memory = UnsafeMutableRawBufferPointer(start: grown, count: capacity)
            }
            (memory.baseAddress! + memoryUsed).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            memoryUsed += bytes.count
            byteCount += UInt64(bytes.count)
            return
        }
        do throws(Errno) {
            if fd < 0 { try moveToFile() }
            try writeAll(fd: fd, bytes)
            byteCount += UInt64(bytes.count)
        } catch {
            failure = error
        }
    }

    private func moveToFile() throws(Errno) {
        let configured = cString(getenv("TMPDIR"))
        let directory = configured.isEmpty ? "/tmp" : configured
        fd = try retryingInterrupts { directory.withCString { tp_open_tmpfile($0) } }
        try writeAll(fd: fd, inMemory)
        free(memory.baseAddress)
        memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        memoryUsed = 0
    }

    /// Copies up to `buffer.count` bytes from `offset` into `buffer`; returns how many.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard offset < byteCount else { return 0 }
        let count = Int(min(UInt64(buffer.count), byteCount - offset))
        if fd < 0 {
            buffer.baseAddress!.copyMemory(from: inMemory.baseAddress! + Int(offset), byteCount: count)
            return count
        }
        return try retryingInterrupts { pread(fd, buffer.baseAddress, count, off_t(offset)) }
    }

    /// The whole content in memory: only for spools known to be small.
    func contents(limit: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: Int(min(byteCount, UInt64(limit))))
        let got = result.withUnsafeMutableBytes { (try? read(at: 0, into: $0)) ?? 0 }
        return Array(result[0..<got])
    }

    /// Hands the whole content to `body` piece by piece, from the start.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws(Errno) -> Void) throws(Errno) {
        if fd < 0 {
            try body(inMemory)
            return
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var offset: UInt64 = 0
        while offset < byteCount {
            let got = try read(at: offset, into: chunk)
            // The file is private to this spool: a short read means it is damaged.
            if got == 0 { throw Errno(EIO) }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
            offset += UInt64(got)
        }
    }

    func writeContent<W: WireWriter>(to writer: inout W) {
        do throws(Errno) {
            try forEachChunk { writer.write($0) }
        } catch {
            // The length prefix is already out: nothing correct can follow.
            abortSession("Cannot read back spooled data: " + error.strerror)
        }
    }
}

extension InputStream {
    /// Hands the next `length` payload bytes to `consume` piece by piece, as they arrive.
    func streamPayload(length: UInt64, _ consume: (UnsafeRawBufferPointer) -> Void) throws(WireError) {
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

    /// Reads a payload of `length` bytes into a new spool.
    func spool(length: UInt64) throws(WireError) -> Spool {
        let spool = Spool()
        try streamPayload(length: length) { spool.append($0) }
        return spool
    }
}
