import CPosix

/// Where a directory's entries are read into: one per session for listings
/// (ListingStorage), lent to one stream at a time. 32 KiB take a folder of
/// ~800 entries in one getdents64 (a DIR's 2 KiB took ~50).
final class DirectoryBuffer {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 << 10, alignment: 8)

    deinit { bytes.deallocate() }
}

/// The entries of an open directory, without "." and "..", read with getdents64 straight
/// from its descriptor: no DIR, whose opendir cost a dup, four fcntl, an fstat and an
/// allocation per folder.
final class DirectoryStream {
    private let fd: Int32
    private let buffer: DirectoryBuffer
    /// What `buffer` holds: entries from `position` to `end`.
    private var position: UInt = 0
    private var end: UInt = 0

    /// Reads `directory` (a descriptor open for reading, not O_PATH), which must stay open
    /// while the stream is read, from its first entry however far an earlier stream on it
    /// read (removeTree lists a folder twice).
    init(_ directory: borrowing FileDescriptor, buffer: DirectoryBuffer = DirectoryBuffer()) throws(Errno) {
        fd = directory.rawValue
        self.buffer = buffer
        _ = try retryingInterrupts { lseek(directory.rawValue, 0, SEEK_SET) }
    }

    /// The next name and its type when the file system tells it (else nil: ask fstatat).
    func next() throws(Errno) -> (name: SystemPath, kind: FileKind?)? {
        var name: UnsafePointer<CChar>? = nil
        var type: UInt8 = 0
        while tp_dir_next(buffer.bytes.baseAddress, &position, end, &name, &type) == 0 {
            let got = try retryingInterrupts { tp_dir_read(fd, buffer.bytes.baseAddress, UInt(buffer.bytes.count)) }
            if got == 0 { return nil }
            (position, end) = (0, UInt(got))
        }
        guard let name else { return nil }
        let bytes = UnsafeRawBufferPointer(start: name, count: strlen(name))
        return (SystemPath(validBytes: bytes), Self.kind(of: type))
    }

    /// `d_type`, as the file type bits would say it (Linux's fixed DT_* values; the header
    /// that names them is not one the shim exposes).
    private static func kind(of type: UInt8) -> FileKind? {
        switch type {
        case 4: return .directory
        case 8: return .regular
        case 10: return .symlink
        case 2: return .characterDevice
        case 6: return .blockDevice
        case 1: return .fifo
        case 12: return .socket
        default: return nil
        }
    }
}

/// Removes `name` in `parent` and, when it is a directory, everything below it, whatever the
/// depth: a loop, not a recursion, holding at most three descriptors (the directory being
/// emptied, its listing, and the one being entered or left). Never follows a symlink: each
/// directory is opened with O_NOFOLLOW relative to its parent's descriptor, so a symlink
/// swapped in meanwhile is removed, not entered. On the way back up, ".." must be the very
/// directory that was entered from (checked by device and inode), so a folder moved out of
/// the tree while it is being emptied (to /tmp, say) never lets the loop continue there. That
/// check costs 16 bytes per level, on the heap.
///
/// `failing` enters as the tree's path and, on a throw, names the entry the error is about
/// (`tree/sub/file`, not `tree`), as GNU rm names it; the loop keeps it in step with where it is.
func removeTree(_ name: SystemPath, in parent: borrowing FileDescriptor, failing: inout SystemPath) throws(Errno) {
    var current: FileDescriptor
    do throws(Errno) {
        current = try parent.open(name, directoryToEmpty)
    } catch where error == Errno(ENOTDIR) || error == Errno(ELOOP) {
        return try parent.removeFile(name)
    }
    // The identity of each of `current`'s ancestors within the tree, the top one first.
    var ancestors: [FileIdentity] = []
    while true {
        if let child = try openFirstSubdirectory(removingOtherEntriesOf: current, failing: &failing) {
            ancestors.append(FileIdentity(try current.status()))
            current = child
            continue
        }
        guard let expectedParent = ancestors.popLast() else { break }
        let emptied = FileIdentity(try current.status())
        let up = try current.open(SystemPath.parentDirectory, directoryToEmpty)
        // Moved elsewhere meanwhile: stop rather than empty whatever holds it now.
        guard FileIdentity(try up.status()) == expectedParent else { throw Errno(EAGAIN) }
        try removeSubdirectory(emptied, in: up)
        failing = failing.split().directory
        current = up
    }
    try parent.removeDirectory(name)
}

/// How `removeTree` opens a directory: to read it, never through a final symlink.
private let directoryToEmpty = O_RDONLY | TP_O_DIRECTORY | TP_O_NOFOLLOW | O_NONBLOCK

/// Device and inode: which file a descriptor is, in 16 bytes.
private struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init(_ status: FileStatus) {
        device = status.device
        inode = status.inode
    }
}

/// Removes every entry of `directory` that is not a directory, until the first directory,
/// which it opens (no-follow) and returns; nil once nothing but removed entries were found.
/// `failing` is `directory`'s path; it names the entry being worked on while it is, and the
/// returned directory after.
private func openFirstSubdirectory(removingOtherEntriesOf directory: borrowing FileDescriptor,
                                   failing: inout SystemPath) throws(Errno) -> FileDescriptor? {
    let entries = try DirectoryStream(directory)
    let directoryPath = failing
    while let entry = try entries.next() {
        failing = directoryPath.appending(entry.name)
        // d_type unknown (some file systems): opening tells, without following a link.
        if entry.kind == .directory || entry.kind == nil {
            do throws(Errno) {
                return try directory.open(entry.name, directoryToEmpty)
            } catch where error == Errno(ENOTDIR) || error == Errno(ELOOP) {
                // Not a directory (any more): removed as a file below.
            }
        }
        try directory.removeFile(entry.name)
        failing = directoryPath
    }
    return nil
}

/// Removes the (now empty) subdirectory of `directory` that is `identity`, whatever its name;
/// EAGAIN if it is not there any more (moved away meanwhile), which also means the loop can
/// never enter the same folder twice. It was the first directory of the listing when it was
/// entered, and what came before it was removed, so it is found near the start.
private func removeSubdirectory(_ identity: FileIdentity, in directory: borrowing FileDescriptor) throws(Errno) {
    let entries = try DirectoryStream(directory)
    while let entry = try entries.next() {
        guard entry.kind == .directory || entry.kind == nil,
              let status = try? directory.status(of: entry.name, followingLinks: false),
              FileIdentity(status) == identity else { continue }
        return try directory.removeDirectory(entry.name)
    }
    throw Errno(EAGAIN)
}

/// Remove's removal of `name` in `parent`: with `recursive`, a directory with everything
/// below it (`removeTree`: `failing`, the entry's path, then names the entry an error is
/// about); otherwise a file, a symlink or an empty directory.
func removeEntry(_ name: SystemPath, in parent: borrowing FileDescriptor, recursive: Bool,
                 failing: inout SystemPath) throws(Errno) {
    if recursive { return try removeTree(name, in: parent, failing: &failing) }
    try removeEntry(name, in: parent)
}

/// A file, a symlink or an empty directory named `name` in `parent`.
func removeEntry(_ name: SystemPath, in parent: borrowing FileDescriptor) throws(Errno) {
    do throws(Errno) {
        try parent.removeFile(name)
    } catch where error == .isDirectory || error == .notPermitted {
        // unlink of a directory: EISDIR on Linux (EPERM per POSIX).
        guard try parent.status(of: name, followingLinks: false).kind == .directory else { throw error }
        try parent.removeDirectory(name)
    }
}

/// mkdir, then the exact mode (mkdir's own is masked by the umask). With `parents`, the
/// missing ones first (755), and an existing directory is no error, as `mkdir -p`.
func makeDirectory(_ path: SystemPath, mode: UInt32, parents: Bool) throws(Errno) {
    let (parent, name) = path.split()
    if name.isEmpty || name.isDotOrDotDot {
        // "a/b/" or "a/..": the directory part alone is what is asked for.
        guard parents, !parent.isEmpty, parent != path else { throw Errno.exists }
        return try makeDirectory(parent, mode: mode, parents: true)
    }
    let directory: FileDescriptor
    do throws(Errno) {
        directory = try FileDescriptor.openDirectory(parent)
    } catch where parents && error == .noEntry {
        try makeDirectory(parent, mode: 0o755, parents: true)
        directory = try FileDescriptor.openDirectory(parent)
    }
    do throws(Errno) {
        try directory.makeDirectory(name, mode: 0o700)
    } catch where parents && error == .exists {
        guard try directory.status(of: name, followingLinks: true).kind == .directory else { throw error }
        return
    }
    try directory.setPermissions(of: name, mode, followingLinks: false)
}
