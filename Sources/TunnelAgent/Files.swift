import CPosix
import TunnelWire

// Stat, Upload and Download. Content never passes through memory whole: hashing, uploads
// and downloads all move it in `ioChunkSize` pieces.

extension Session {
    func handleStat() throws(WireError) {
        guard let request = try decode(Stat.self) else { return }
        let path = request.path
        guard !path.utf8.contains(0) else { return sendInvalid("path", nulByteMessage) }
        var info = stat()
        let result = path.withCString { request.followLinks ? stat($0, &info) : lstat($0, &info) }
        guard result == 0 else {
            let error = Errno.current
            if error == .noEntry { return sendInvalid("path", error.pythonMessage(path: path)) }
            return sendOSError(error, path: path)
        }
        let kind = FileKind(mode: info.st_mode)
        var digest: [UInt8]? = nil
        if request.sha512sum && kind == .regular {
            do throws(Errno) {
                digest = try sha512(ofFileAt: path)
            } catch {
                return sendOSError(error, path: path)
            }
        }
        send(StatResult(type: kind.name,
                        mode: UInt64(info.st_mode & 0o7777),
                        owner: Accounts.userName(info.st_uid),
                        group: Accounts.groupName(info.st_gid),
                        size: UInt64(truncatingIfNeeded: info.st_size),
                        mtime: nanoseconds(info.st_mtim),
                        ctime: nanoseconds(info.st_ctim),
                        sha512sum: digest))
    }

    func handleDownload() throws(WireError) {
        guard let request = try decode(Download.self) else { return }
        let path = request.file
        guard !path.utf8.contains(0) else { return sendInvalid("file", nulByteMessage) }
        let file: OpenFile
        do throws(Errno) {
            file = try OpenFile(readingRegularContent: path)
        } catch {
            if error == .noEntry { return sendInvalid("file", error.pythonMessage(path: path)) }
            return sendOSError(error, path: path)
        }
        if file.isRegular && file.size > UInt64(Spool.memoryLimit) {
            send(DownloadResult(content: VerifiedFileContent(file: file)))
            return
        }
        // Small files are read to the end first (as the reference's f.read() does), so the
        // length sent is exact: st_size says nothing for fifos, devices and /proc files, and
        // too much for sysfs files (4096 for a few bytes).
        let spool = Spool()
        do throws(Errno) {
            try file.forEachChunk { spool.append($0) }
        } catch {
            return sendOSError(error)
        }
        if let failure = spool.failure { return sendOSError(failure) }
        send(DownloadResult(content: spool))
    }
}

func nanoseconds(_ time: timespec) -> UInt64 {
    UInt64(truncatingIfNeeded: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
}

/// The streaming SHA-512 of a file's content.
func sha512(ofFileAt path: String) throws(Errno) -> [UInt8] {
    let file = try OpenFile(readingRegularContent: path)
    var hasher = SHA512()
    try file.forEachChunk { hasher.update($0) }
    return hasher.finalize()
}

/// A file opened for reading, closed when released.
final class OpenFile {
    let fd: Int32
    /// `st_size` when opened.
    let size: UInt64
    let isRegular: Bool

    /// Opens `path` for reading as Python's `open(path, 'rb')` does: a directory is EISDIR.
    init(readingRegularContent path: String) throws(Errno) {
        fd = try retryingInterrupts { path.withCString { tp_open($0, O_RDONLY | O_CLOEXEC, 0) } }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = Errno.current
            close(fd)
            throw error
        }
        guard FileKind(mode: info.st_mode) != .directory else {
            close(fd)
            throw Errno(EISDIR)
        }
        size = UInt64(truncatingIfNeeded: info.st_size)
        isRegular = FileKind(mode: info.st_mode) == .regular
    }

    deinit { close(fd) }

    /// Reads from the current position to the end, handing each piece to `body`.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Void) throws(Errno) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let got = try retryingInterrupts { read(fd, chunk.baseAddress, chunk.count) }
            if got == 0 { return }
            body(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
        }
    }
}

/// A regular file's content sent with the length it had when opened. The last piece is held
/// back until the file is confirmed to have exactly that length still, so a file that
/// changes size mid-transfer never yields a silently wrong payload: the session ends
/// instead (the client sees the stream cut short).
struct VerifiedFileContent: WirePayload {
    let file: OpenFile
    var byteCount: UInt64 { file.size }

    func writeContent<W: WireWriter>(to writer: inout W) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var sent: UInt64 = 0
        while sent < byteCount {
            let want = Int(min(UInt64(chunk.count), byteCount - sent))
            var got = 0
            while got < want {
                let n = read(file.fd, chunk.baseAddress! + got, want - got)
                if n < 0 && tp_errno() == EINTR { continue }
                if n < 0 { abortSession("Reading the file failed mid-download: " + Errno.current.strerror) }
                if n == 0 { abortSession("The file shrank while being downloaded") }
                got += n
            }
            if sent + UInt64(got) == byteCount {
                var probe: UInt8 = 0
                var info = stat()
                if read(file.fd, &probe, 1) != 0 || fstat(file.fd, &info) != 0 || UInt64(info.st_size) != byteCount {
                    abortSession("The file changed size while being downloaded")
                }
            }
            writer.write(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
            sent += UInt64(got)
        }
    }
}
