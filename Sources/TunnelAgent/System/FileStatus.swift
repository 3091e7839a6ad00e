import CPosix

/// What `stat(2)` says about a file, in the terms the handlers use.
struct FileStatus {
    let kind: FileKind
    /// Permission bits only (`st_mode & 0o7777`).
    let permissions: UInt32
    let uid: UInt32
    let gid: UInt32
    let size: UInt64
    /// Nanoseconds since the epoch; times before it are 0 (the protocol's field is unsigned).
    let modificationTime: UInt64
    let changeTime: UInt64
    let device: UInt64
    let inode: UInt64
    let linkCount: UInt64
    /// `st_rdev`: which device a character or block special file is.
    let deviceNumber: UInt64

    init(_ info: stat) {
        kind = FileKind(mode: info.st_mode)
        permissions = UInt32(info.st_mode) & 0o7777
        uid = info.st_uid
        gid = info.st_gid
        size = UInt64(max(0, Int64(info.st_size)))
        modificationTime = FileStatus.nanoseconds(info.st_mtim)
        changeTime = FileStatus.nanoseconds(info.st_ctim)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        linkCount = UInt64(info.st_nlink)
        deviceNumber = UInt64(info.st_rdev)
    }

    /// The same inode on the same device: the file a name or descriptor referred to before.
    func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }

    private static func nanoseconds(_ time: timespec) -> UInt64 {
        let seconds = Int64(time.tv_sec)
        guard seconds >= 0 else { return 0 }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? UInt64.max : UInt64(scaled) &+ UInt64(time.tv_nsec)
    }
}

/// The file type bits of `st_mode`, with the names `Stat` reports.
enum FileKind: Equatable {
    case directory, characterDevice, blockDevice, regular, fifo, symlink, socket, other

    init(mode: mode_t) {
        switch UInt32(mode) & 0o170000 {
        case 0o040000: self = .directory
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o100000: self = .regular
        case 0o010000: self = .fifo
        case 0o120000: self = .symlink
        case 0o140000: self = .socket
        default: self = .other
        }
    }

    var name: String {
        switch self {
        case .directory: return "dir"
        case .characterDevice: return "chr"
        case .blockDevice: return "blk"
        case .regular: return "file"
        case .fifo: return "fifo"
        case .symlink: return "link"
        case .socket: return "sock"
        case .other: return "other"
        }
    }
}

extension SystemPath {
    /// A request's path: `stat(2)`, or `lstat(2)` when not following a final symlink;
    /// beneath `--root` when there is one (PathJail). Not inlined: its callers share one copy.
    @inline(never)
    func status(followingLinks: Bool) throws(Errno) -> FileStatus {
        try PathJail.status(of: self, followingLinks: followingLinks)
    }

    /// `stat(2)` or `lstat(2)` on the host, whatever the jail.
    func hostStatus(followingLinks: Bool) throws(Errno) -> FileStatus {
        var info = stat()
        try withCString { (path) throws(Errno) in
            try succeedOrThrow { followingLinks ? stat(path, &info) : lstat(path, &info) }
        }
        return FileStatus(info)
    }
}
