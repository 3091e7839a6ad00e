import TunnelWire

/// Download → DownloadResult. Large regular files are streamed with the size they had when
/// opened (VerifiedFileContent); everything else is read to its end first, as the
/// reference's `f.read()` does, because only then is its length known.
enum DownloadHandler: RequestHandler {
    /// The most read from a file whose end is not known in advance (devices, fifos, /proc
    /// and sysfs files, small files that grow): `/dev/zero` must end in an error, not fill
    /// the disk. Documented in docs/protocol.md.
    static let readToEndLimit: UInt64 = 64 << 20

    static func answer(_ request: Download, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(request.file, field: "file")
        let file = try open(path, named: request.file)
        let status: FileStatus
        do throws(Errno) { status = try file.status() } catch { throw .osError(error, path: request.file) }
        // Python's open() of a directory succeeds and its read fails: EISDIR.
        guard status.kind != .directory else { throw .osError(.isDirectory, path: request.file) }
        return try content(of: file, status: status, in: context)
    }

    /// The DownloadResult for an open file (ReadBeneath shares it).
    static func content(of file: consuming FileDescriptor, status: FileStatus,
                        in context: SessionContext) throws(Refusal) -> Answer {
        if status.kind == .regular && status.size > UInt64(Spool.memoryLimit) {
            return .downloadedFile(VerifiedFileContent(file: file, size: status.size))
        }
        // Read to the end: st_size says nothing for fifos, devices and /proc files, and too
        // much for sysfs files (4096 for a few bytes), so it only sizes the spool's memory.
        let spool = context.contentSpool()
        do throws(Errno) {
            try spool.appendContent(of: file, expectedSize: status.size)
        } catch {
            throw .osError(error, path: nil)
        }
        if let failure = spool.failure { throw .osError(failure, path: nil) }
        return .downloadedContent(spool)
    }

    private static func open(_ path: SystemPath, named name: String) throws(Refusal) -> FileDescriptor {
        do throws(Errno) {
            return try FileDescriptor.openForReading(path, followingLinks: true, blocking: true)
        } catch {
            throw .missingOrOSError(error, path: name, field: "file")
        }
    }
}

/// A regular file's content sent with the length it had when opened. The last piece is held
/// back until the file is confirmed to have exactly that length still, so a file that
/// changes size mid-transfer never yields a silently wrong payload: the answer is abandoned
/// and the session ends (the client sees the stream cut short).
final class VerifiedFileContent: WirePayload {
    private let file: FileDescriptor
    let byteCount: UInt64

    init(file: consuming FileDescriptor, size: UInt64) {
        self.file = file
        byteCount = size
    }

    func writeContent<W: WireWriter>(to writer: inout W) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var sent: UInt64 = 0
        do throws(Errno) {
            while sent < byteCount {
                let want = Int(min(UInt64(chunk.count), byteCount - sent))
                var got = 0
                while got < want {
                    let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[got..<want]))
                    if count == 0 { return writer.abandon(reason: "The file shrank while being downloaded") }
                    got += count
                }
                if sent + UInt64(got) == byteCount {
                    var probe: UInt8 = 0
                    let extra = try withUnsafeMutableBytes(of: &probe) { (raw) throws(Errno) in try file.read(into: raw) }
                    let sizeNow = try file.status().size
                    if extra != 0 || sizeNow != byteCount {
                        return writer.abandon(reason: "The file changed size while being downloaded")
                    }
                }
                writer.write(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
                sent += UInt64(got)
            }
        } catch {
            writer.abandon(reason: "Reading the file failed mid-download: " + error.strerror)
        }
    }
}
