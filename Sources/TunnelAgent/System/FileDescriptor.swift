import CPosix

/// An open file descriptor, closed exactly once, when its owner lets go of it. Move-only:
/// no copy can close it early or use it after it was closed. One method per system call,
/// each named after what it does and documented with the call it wraps; calls relative to a
/// directory take the descriptor as that directory (the `*at` family), so a path is resolved
/// once and never again.
struct FileDescriptor: ~Copyable {
    let rawValue: Int32

    /// Takes ownership of `rawValue`.
    init(taking rawValue: Int32) { self.rawValue = rawValue }

    /// `close(2)`. Not retried on EINTR: Linux has released the fd whatever it returns.
    deinit { _ = close(rawValue) }

    // MARK: Opening

    static let closeOnExec = O_CLOEXEC
    /// Flags for opening a file to write into it as the reference's `open(path, 'wb')` would,
    /// minus O_TRUNC: no controlling terminal, never blocking on a fifo without reader.
    static let writingExisting = O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC

    /// `openat(AT_FDCWD, path, flags, mode)`.
    static func open(_ path: SystemPath, _ flags: Int32, mode: UInt32 = 0) throws(Errno) -> FileDescriptor {
        try openAt(AT_FDCWD, path, flags, mode)
    }

    /// `openat(self, name, flags, mode)`: `name` relative to this directory (never through a
    /// final symlink under `--root`, see PathJail).
    func open(_ name: SystemPath, _ flags: Int32, mode: UInt32 = 0) throws(Errno) -> FileDescriptor {
        try FileDescriptor.openAt(rawValue, name, flags | PathJail.finalComponentOpenFlags, mode)
    }

    private static func openAt(_ directory: Int32, _ path: SystemPath, _ flags: Int32, _ mode: UInt32) throws(Errno) -> FileDescriptor {
        let fd = try path.withCString { (name) throws(Errno) in
            try retryingInterrupts { tp_openat(directory, name, flags | O_CLOEXEC, mode) }
        }
        return FileDescriptor(taking: fd)
    }

    /// Opens `path` for reading as Python's `open(path, 'rb')` does; with O_NOFOLLOW when a
    /// final symlink must not be followed, and O_NONBLOCK unless `blocking` (so that a fifo
    /// swapped in for a regular file cannot make the agent wait).
    /// A request's path: beneath `--root` when there is one (PathJail).
    static func openForReading(_ path: SystemPath, followingLinks: Bool, blocking: Bool = false) throws(Errno) -> FileDescriptor {
        try PathJail.open(path, O_RDONLY | O_NOCTTY | (followingLinks ? 0 : TP_O_NOFOLLOW) | (blocking ? 0 : O_NONBLOCK))
    }

    /// `open(path, O_PATH | O_DIRECTORY)`: a directory to work relative to. Needs search
    /// permission on the way there only, like the reference's own `open()` of a file in it.
    /// A request's path: beneath `--root` when there is one (PathJail).
    static func openDirectory(_ path: SystemPath) throws(Errno) -> FileDescriptor {
        try PathJail.open(path, TP_O_PATH | TP_O_DIRECTORY)
    }

    /// A directory to read the entries of (following a final symlink, as `ls` does).
    static func openDirectoryForListing(_ path: SystemPath) throws(Errno) -> FileDescriptor {
        try PathJail.open(path, O_RDONLY | TP_O_DIRECTORY | O_NONBLOCK)
    }

    /// `openat(self, ".", O_TMPFILE | O_RDWR, mode)`: an unnamed file in this directory,
    /// given its mode as `open(O_CREAT)` would give it (umask, default ACLs).
    func openUnnamedFile(mode: UInt32) throws(Errno) -> FileDescriptor {
        FileDescriptor(taking: try retryingInterrupts { tp_open_unnamed_at(rawValue, mode) })
    }

    /// An unnamed scratch file in `directory` (O_TMPFILE), or an anonymous memory file where
    /// there is none (a bare chroot). Gone when closed.
    static func openScratchFile(in directory: SystemPath) throws(Errno) -> FileDescriptor {
        let fd = try directory.withCString { (path) throws(Errno) in try retryingInterrupts { tp_open_tmpfile(path) } }
        return FileDescriptor(taking: fd)
    }

    /// `pipe2(O_CLOEXEC)`.
    static func pipe() throws(Errno) -> Pipe {
        var fds: (Int32, Int32) = (-1, -1)
        try succeedOrThrow { withUnsafeMutableBytes(of: &fds) { tp_pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self)) } }
        return Pipe(readEnd: FileDescriptor(taking: fds.0), writeEnd: FileDescriptor(taking: fds.1))
    }

    // MARK: Content

    /// `read(2)`: how many bytes arrived, 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { CPosix.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// `pread(2)`.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// `write(2)`: how many bytes were taken.
    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { CPosix.write(rawValue, bytes.baseAddress, bytes.count) }
    }

    /// `write(2)` until every byte is out.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        try writeFully(fd: rawValue, bytes)
    }

    /// Reads from the current position to the end, handing each piece to `body`, which may
    /// stop early by returning false.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Bool) throws(Errno) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let got = try read(into: chunk)
            if got == 0 || !body(UnsafeRawBufferPointer(rebasing: chunk[0..<got])) { return }
        }
    }

    /// `ftruncate(2)`.
    func truncate(to size: UInt64) throws(Errno) {
        try succeedOrThrow { ftruncate(rawValue, off_t(size)) }
    }

    /// `fsync(2)`.
    func synchronize() throws(Errno) {
        try succeedOrThrow { fsync(rawValue) }
    }

    /// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts writing dirty pages back, without
    /// waiting. Best effort: an error here is found again by the fsync that follows.
    func startWriteback() {
        tp_start_writeback(rawValue)
    }

    /// `fsync` of the directory this descriptor (O_PATH) stands for: opened for reading
    /// relative to itself, since an O_PATH descriptor cannot be synced.
    func synchronizeDirectory() throws(Errno) {
        try open(SystemPath.currentDirectory, O_RDONLY | TP_O_DIRECTORY).synchronize()
    }

    /// Clears O_NONBLOCK (`fcntl(F_SETFL)`).
    func makeBlocking() throws(Errno) {
        let flags = try retryingInterrupts { tp_fcntl_int(rawValue, F_GETFL, 0) }
        try succeedOrThrow { tp_fcntl_int(rawValue, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// Sets O_NONBLOCK (`fcntl(F_SETFL)`).
    func makeNonBlocking() throws(Errno) {
        let flags = try retryingInterrupts { tp_fcntl_int(rawValue, F_GETFL, 0) }
        try succeedOrThrow { tp_fcntl_int(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    // MARK: Metadata

    /// `fstat(2)`.
    func status() throws(Errno) -> FileStatus {
        var info = stat()
        try succeedOrThrow { fstat(rawValue, &info) }
        return FileStatus(info)
    }

    /// `fstatat(self, name, AT_SYMLINK_NOFOLLOW unless followingLinks)`.
    func status(of name: SystemPath, followingLinks: Bool) throws(Errno) -> FileStatus {
        var info = stat()
        let flags = PathJail.atFlags(followingLinks: followingLinks)
        try name.withCString { (path) throws(Errno) in try succeedOrThrow { fstatat(rawValue, path, &info, flags) } }
        return FileStatus(info)
    }

    /// `fchmod(2)`.
    func setPermissions(_ mode: UInt32) throws(Errno) {
        try succeedOrThrow { fchmod(rawValue, mode_t(mode)) }
    }

    /// `fchown(2)`; nil leaves that id as it is.
    func setOwner(uid: UInt32?, gid: UInt32?) throws(Errno) {
        try succeedOrThrow { fchown(rawValue, uid ?? UInt32.max, gid ?? UInt32.max) }
    }

    /// `flistxattr(2)`: the names of the file's extended attributes (ACLs among them).
    func extendedAttributeNames() throws(Errno) -> [[UInt8]] {
        let list = try readSizedValue { (buffer, size) in flistxattr(rawValue, buffer, size) }
        return list.split(separator: 0).map { Array($0) }
    }

    /// `fgetxattr(2)`.
    func extendedAttribute(_ name: [UInt8]) throws(Errno) -> [UInt8] {
        try SystemPath(validBytes: name).withCString { (key) throws(Errno) in
            try readSizedValue { (buffer, size) in fgetxattr(rawValue, key, buffer, size) }
        }
    }

    /// `fsetxattr(2)`.
    func setExtendedAttribute(_ name: [UInt8], _ value: [UInt8]) throws(Errno) {
        try SystemPath(validBytes: name).withCString { (key) throws(Errno) in
            try succeedOrThrow { value.withUnsafeBytes { raw in fsetxattr(rawValue, key, raw.baseAddress, raw.count, 0) } }
        }
    }

    /// Asks for the size, then the value; again if it grew in between (ERANGE).
    private func readSizedValue(_ call: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws(Errno) -> [UInt8] {
        for _ in 0..<8 {
            let size = try retryingInterrupts { call(nil, 0) }
            if size == 0 { return [] }
            var value = [UInt8](repeating: 0, count: size)
            let got = value.withUnsafeMutableBytes { call($0.baseAddress!.assumingMemoryBound(to: CChar.self), size) }
            if got >= 0 { return Array(value[0..<got]) }
            if tp_errno() != ERANGE { throw Errno.current }
        }
        throw Errno(ERANGE)
    }

    /// The path the kernel has for this descriptor (`readlink("/proc/self/fd/N")`), when
    /// /proc is there and the file still has a name.
    func currentPath() -> SystemPath? {
        let link = "/proc/self/fd/" + String(rawValue)
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = buffer.withUnsafeMutableBytes { raw in
            link.withCString { readlink($0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count - 1) }
        }
        guard length > 0, buffer[0] == UInt8(ascii: "/") else { return nil }
        return SystemPath(validBytes: buffer[0..<length])
    }

    // MARK: Names in this directory

    /// Names the unnamed file `file` as `name` in this directory (`linkat`); EEXIST if the
    /// name is taken, never following a link there.
    func link(unnamed file: borrowing FileDescriptor, as name: SystemPath) throws(Errno) {
        try name.withCString { (path) throws(Errno) in
            try succeedOrThrow { tp_link_unnamed_at(file.rawValue, rawValue, path) }
        }
    }

    /// `renameat(self, from, self, to)`, or with RENAME_NOREPLACE when not `replacing`.
    func rename(_ from: SystemPath, to: SystemPath, replacing: Bool = true) throws(Errno) {
        try rename(from, to: to, in: self, replacing: replacing)
    }

    /// `renameat2(self, from, directory, to)`: into another directory.
    func rename(_ from: SystemPath, to: SystemPath, in directory: borrowing FileDescriptor,
                replacing: Bool) throws(Errno) {
        try from.withCString { (source) throws(Errno) in
            try to.withCString { (target) throws(Errno) in
                try succeedOrThrow {
                    replacing ? renameat(rawValue, source, directory.rawValue, target)
                              : tp_rename_noreplace_at(rawValue, source, directory.rawValue, target)
                }
            }
        }
    }

    /// `unlinkat(self, name, 0)`.
    func removeFile(_ name: SystemPath) throws(Errno) {
        try name.withCString { (path) throws(Errno) in try succeedOrThrow { unlinkat(rawValue, path, 0) } }
    }

    /// `unlinkat(self, name, AT_REMOVEDIR)`: an empty directory.
    func removeDirectory(_ name: SystemPath) throws(Errno) {
        try name.withCString { (path) throws(Errno) in try succeedOrThrow { unlinkat(rawValue, path, AT_REMOVEDIR) } }
    }

    /// `mkdirat(self, name, mode)` (the umask applies, as to any mkdir).
    func makeDirectory(_ name: SystemPath, mode: UInt32) throws(Errno) {
        try name.withCString { (path) throws(Errno) in try succeedOrThrow { mkdirat(rawValue, path, mode_t(mode)) } }
    }

    /// `symlinkat(target, self, name)`.
    func makeSymlink(_ name: SystemPath, to target: SystemPath) throws(Errno) {
        try target.withCString { (destination) throws(Errno) in
            try name.withCString { (path) throws(Errno) in try succeedOrThrow { symlinkat(destination, rawValue, path) } }
        }
    }

    /// `readlinkat(self, name)`: a symlink's target, whole however long.
    func linkTarget(_ name: SystemPath) throws(Errno) -> [UInt8] {
        try name.withCString { (path) throws(Errno) in
            var size = 256
            while true {
                var buffer = [UInt8](repeating: 0, count: size)
                let got = try retryingInterrupts {
                    buffer.withUnsafeMutableBytes { readlinkat(rawValue, path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), size) }
                }
                if got < size { return Array(buffer[0..<got]) }
                size *= 2
            }
        }
    }

    /// `fchmodat`; on a symlink itself (not `followingLinks`) Linux answers EOPNOTSUPP. Without
    /// following, `fchmodat2` or the file's own descriptor: never /proc, which a bare chroot
    /// lacks (see tp_chmod_nofollow_at).
    func setPermissions(of name: SystemPath, _ mode: UInt32, followingLinks: Bool) throws(Errno) {
        try name.withCString { (path) throws(Errno) in
            // Under --root a final symlink is never followed (PathJail.atFlags).
            let following = followingLinks && PathJail.atFlags(followingLinks: true) == 0
            try succeedOrThrow {
                following ? fchmodat(rawValue, path, mode_t(mode), 0) : tp_chmod_nofollow_at(rawValue, path, mode)
            }
        }
    }

    /// `fchownat`; nil leaves that id as it is.
    func setOwner(of name: SystemPath, uid: UInt32?, gid: UInt32?, followingLinks: Bool) throws(Errno) {
        try name.withCString { (path) throws(Errno) in
            try succeedOrThrow {
                fchownat(rawValue, path, uid ?? UInt32.max, gid ?? UInt32.max, PathJail.atFlags(followingLinks: followingLinks))
            }
        }
    }

    /// `utimensat`: the modification time in nanoseconds since the epoch; atime untouched.
    func setModificationTime(of name: SystemPath, _ nanoseconds: Int64, followingLinks: Bool) throws(Errno) {
        var times = [timespec(tv_sec: 0, tv_nsec: Int(TP_UTIME_OMIT)),
                     timespec(tv_sec: time_t(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))]
        if times[1].tv_nsec < 0 {
            times[1].tv_sec -= 1
            times[1].tv_nsec += 1_000_000_000
        }
        try name.withCString { (path) throws(Errno) in
            try succeedOrThrow { utimensat(rawValue, path, &times, PathJail.atFlags(followingLinks: followingLinks)) }
        }
    }
}

/// The two ends of a pipe.
struct Pipe: ~Copyable {
    var readEnd: FileDescriptor
    var writeEnd: FileDescriptor
}

/// `read(2)` on a raw fd the agent does not own (its stdin): what arrived, 0 at the end.
func readSome(fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    try retryingInterrupts { CPosix.read(fd, buffer.baseAddress, buffer.count) }
}

/// `write(2)` on a raw fd the agent does not own (its stdout, stderr) until every byte is out.
func writeFully(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
    var done = 0
    while done < bytes.count {
        done += try retryingInterrupts { CPosix.write(fd, bytes.baseAddress! + done, bytes.count - done) }
    }
}
