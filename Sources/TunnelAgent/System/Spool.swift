import CPosix
import TunnelWire

/// Bytes of a size known only at the end (a child's output, a request's stdin, a file read
/// to its end) kept in memory up to `memoryLimit` and beyond that in an unnamed scratch file
/// in TMPDIR, so that memory stays bounded whatever the size. Storing stops at the first
/// error (ENOSPC, EFBIG, or `limit` reached, reported as EFBIG), and `append` says so, so
/// that its feeder stops too: an endless source never fills the disk and then spins.
/// It is a `WirePayload`: sent by streaming it back.
final class Spool: WirePayload {
    static let memoryLimit = 1 << 20

    /// Where spools beyond `memoryLimit` go: TMPDIR as the agent was started with, else /tmp.
    nonisolated(unsafe) static var directory: SystemPath = {
        let configured = cString(getenv("TMPDIR"))
        return SystemPath(configured.isEmpty ? "/tmp" : configured) ?? SystemPath("/tmp")!
    }()

    /// The in-memory part: raw bytes grown with realloc. (An `[UInt8]` grown by appending
    /// moved its bytes one by one in Embedded Swift: 91% of the agent's instructions for a
    /// `cat` under callgrind.)
    private var memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var memoryUsed = 0
    private var file: FileDescriptor?
    private(set) var byteCount: UInt64 = 0
    /// Most bytes this spool takes; one more is EFBIG.
    let limit: UInt64
    /// The first error while storing; nothing is stored after it.
    private(set) var failure: Errno?

    init(limit: UInt64 = UInt64.max) { self.limit = limit }

    deinit { free(memory.baseAddress) }

    private var inMemory: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: memory.baseAddress, count: memoryUsed)
    }

    /// Stores `bytes`; false once storing has failed (then `failure` says why).
    @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard failure == nil else { return false }
        guard bytes.count > 0 else { return true }
        guard UInt64(bytes.count) <= limit - byteCount else {
            fail(.fileTooLarge)
            return false
        }
        if file == nil && memoryUsed + bytes.count <= Spool.memoryLimit {
            guard reserveMemory(bytes.count) else { return false }
            (memory.baseAddress! + memoryUsed).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            memoryUsed += bytes.count
            byteCount += UInt64(bytes.count)
            return true
        }
        do throws(Errno) {
            if file == nil { try moveToFile() }
            try file?.writeAll(bytes)
            byteCount += UInt64(bytes.count)
            return true
        } catch {
            fail(error)
            return false
        }
    }

    /// Stores what `source` reads from its position to its end. While it fits in memory it
    /// is read straight into the memory part, not through a bounce buffer; beyond, in chunks
    /// into the file. `expectedSize` (st_size, which may be wrong) sizes the memory at once.
    /// An error reading `source` is thrown; one storing is `failure`.
    func appendContent(of source: borrowing FileDescriptor, expectedSize: UInt64) throws(Errno) {
        // Room for the expected bytes and the read that sees their end; for more, the
        // memory doubles.
        let expectedEnd = Int(min(expectedSize, UInt64(Spool.memoryLimit))) + 1
        while failure == nil && file == nil && memoryUsed < Spool.memoryLimit {
            let wanted = min(Spool.memoryLimit, max(memoryUsed + 1, expectedEnd))
            guard reserveMemory(wanted - memoryUsed) else { return }
            let room = Int(min(UInt64(memory.count - memoryUsed), limit - byteCount))
            // At the limit: the chunks below read one more byte, which is EFBIG.
            if room == 0 { break }
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: memory[memoryUsed..<memoryUsed + room]))
            if got == 0 { return }
            memoryUsed += got
            byteCount += UInt64(got)
        }
        try source.forEachChunk { append($0) }
    }

    /// Makes room for `count` more bytes in memory (at most `memoryLimit` in all), growing
    /// it by doubling; false, with ENOMEM as the failure, when that fails.
    private func reserveMemory(_ count: Int) -> Bool {
        guard memoryUsed + count > memory.count else { return true }
        let capacity = min(Spool.memoryLimit, max(memoryUsed + count, 2 * memory.count, 4096))
        guard let grown = realloc(memory.baseAddress, capacity) else {
            fail(Errno(ENOMEM))
            return false
        }
        memory = UnsafeMutableRawBufferPointer(start: grown, count: capacity)
        return true
    }

    /// Empties the spool to be filled again, keeping its memory: the session reads every
    /// file's content into one spool (SessionContext.contentSpool), so that a tree of small
    /// files costs no allocation, mapping and zeroing of fresh pages per file.
    func empty() {
        file = nil
        failure = nil
        memoryUsed = 0
        byteCount = 0
    }

    /// Records the failure and gives back what was stored: after it, nothing is read back.
    private func fail(_ error: Errno) {
        failure = error
        file = nil
        free(memory.baseAddress)
        memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        memoryUsed = 0
    }

    private func moveToFile() throws(Errno) {
        let scratch = try FileDescriptor.openScratchFile(in: Spool.directory)
        try scratch.writeAll(inMemory)
        file = .some(scratch)
        free(memory.baseAddress)
        memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        memoryUsed = 0
    }

    /// Copies up to `buffer.count` bytes from `offset` into `buffer`; returns how many.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard offset < byteCount else { return 0 }
        let count = Int(min(UInt64(buffer.count), byteCount - offset))
        if let got = try file?.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])) {
            return got
        }
        buffer.baseAddress!.copyMemory(from: inMemory.baseAddress! + Int(offset), byteCount: count)
        return count
    }

    /// The whole content in memory: only for spools known to be small.
    func contents(limit: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: Int(min(byteCount, UInt64(limit))))
        let got = result.withUnsafeMutableBytes { (try? read(at: 0, into: $0)) ?? 0 }
        return Array(result[0..<got])
    }

    /// Hands the whole content to `body` piece by piece, from the start.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws(Errno) -> Void) throws(Errno) {
        if file == nil {
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

    /// Writes exactly `byteCount` bytes, or abandons the packet: its length prefix is out
    /// already, and a spool whose storing failed, or that reads back short, cannot fill it.
    func writeContent<W: WireWriter>(to writer: inout W) {
        var written: UInt64 = 0
        do throws(Errno) {
            if let failure { throw failure }
            try forEachChunk { chunk in
                writer.write(chunk)
                written += UInt64(chunk.count)
            }
            if written != byteCount { throw Errno(EIO) }
        } catch {
            writer.abandon(reason: "Cannot read back spooled data: " + error.strerror)
        }
    }
}
