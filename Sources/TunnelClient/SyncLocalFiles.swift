#if canImport(Glibc)
import Glibc
#endif
import TunnelHash
import TunnelWire

// The local side of tree transfers (upload -r, download -r, sync): paths as bytes, and
// folders that everything is made in by name relative to an opened descriptor.

/// A local path as bytes, and as the C string the libc calls take.
public struct LocalPath {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }

    public func appending(_ name: [UInt8]) -> LocalPath {
        LocalPath(slashJoined(bytes, name))
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        // On the stack, not a new array per call: a tree's walk names every entry this way.
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { text in
            bytes.withUnsafeBytes { raw in
                if let source = raw.baseAddress { UnsafeMutableRawPointer(text.baseAddress!).copyMemory(from: source, byteCount: raw.count) }
            }
            text[bytes.count] = 0
            return try body(text.baseAddress!)
        }
    }

    /// Its own status (a symlink's, never followed); nil when there is none.
    public func status() -> Glibc.stat? {
        var info = Glibc.stat()
        return withCString { lstat($0, &info) } == 0 ? info : nil
    }

    /// The names in this folder, without "." and "..", sorted as bytes.
    public func entries() throws -> [[UInt8]] {
        guard let directory = withCString({ opendir($0) }) else { throw TreeError.local(text) }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names.sorted(by: bytesPrecede)
    }
}

/// A tree transfer's own failure, not the agent's (that is a `TunnelError`): a local file
/// that cannot be read or written, a remote entry that changed kind under the copy, a tree
/// too deep. `description` is the message; it may hold the target's names, so a program
/// escapes it before it reaches a terminal.
public struct TreeError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        /// A local path and errno: "PATH: strerror".
        case local(errno: Int32)
        /// One entry that is not what it was listed as: that entry is not copied.
        case changedKind
        /// The whole transfer ends: what is left is not copied.
        case tooDeep
        /// The destination on the target is there and is not a folder: nothing done.
        case notAFolder
        /// The transfer was asked for wrongly (both sides remote, say): nothing done.
        case usage
    }
    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// `what` (a path, or "writing PATH") and the reason `code` gives.
    public static func local(_ what: String, _ code: Int32 = errno) -> TreeError {
        TreeError(.local(errno: code), "\(what): \(String(cString: strerror(code)))")
    }
}

/// write(2) until every byte is out: 0, or the errno of the write that failed.
public func writeFully(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32 {
    var done = 0
    while done < bytes.count {
        let written = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return written < 0 ? errno : EIO }
        done += written
    }
    return 0
}

/// ns since the epoch, from a local stat.
public func modificationTime(_ info: Glibc.stat) -> UInt64 {
    UInt64(max(0, info.st_mtim.tv_sec)) * 1_000_000_000 + UInt64(max(0, info.st_mtim.tv_nsec))
}

/// The SHA-512 of what is left to read of `fd`, in pieces (memory stays bounded); `name`
/// for messages.
func sha512(ofOpen fd: Int32, name: String) throws -> [UInt8] {
    var hash = SHA512()
    var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count == 0 { return hash.finalize() }
        if count < 0 {
            if errno == EINTR { continue }
            throw TreeError.local(name)
        }
        hash.update(Array(buffer[0..<count]))
    }
}

/// A local folder that downloads write into, opened with O_DIRECTORY|O_NOFOLLOW. Everything
/// made in it is made by name relative to this descriptor (mkdirat, openat, symlinkat,
/// renameat, fchmod): never through a symlink that is, or appears, on the way. A name the
/// target chose is only ever one entry of this folder (see `checkedEntries`).
public final class LocalFolder {
    public let fd: Int32
    /// For messages.
    public let path: LocalPath

    private init(fd: Int32, path: LocalPath) {
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The folder at `path`, made (0700 until `setMode`) when missing. Its parents are the
    /// user's to name and are followed; the folder itself must not be a symlink.
    public static func make(_ path: LocalPath) throws -> LocalFolder {
        if path.withCString({ mkdir($0, 0o700) }) != 0 && errno != EEXIST { throw TreeError.local(path.text) }
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw TreeError.local(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// The folder at `path`, which exists (the single download's destination's folder).
    public static func existing(_ path: LocalPath) throws -> LocalFolder {
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw TreeError.local(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// For `sync -n`: the folder at `path` as it is, never made; when missing (or not a
    /// folder, which sync would replace), one that holds nothing (`isMissing`: its lookups
    /// find nothing, it lists no names).
    public static func ifPresent(_ path: LocalPath) throws -> LocalFolder {
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 || errno == ENOENT else { throw TreeError.local(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// As `ifPresent`, for the subfolder `name`.
    public func subfolderIfPresent(_ name: [UInt8]) throws -> LocalFolder {
        let child = path.appending(name)
        guard !isMissing else { return LocalFolder(fd: -1, path: child) }
        let opened = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 || [ENOENT, ENOTDIR, ELOOP].contains(errno) else { throw TreeError.local(child.text) }
        return LocalFolder(fd: opened, path: child)
    }

    /// A dry run's folder that does not exist (yet).
    public var isMissing: Bool { fd < 0 }

    /// The subfolder `name`, made when missing. An existing symlink of that name is ELOOP,
    /// an existing file ENOTDIR: never entered.
    public func folder(_ name: [UInt8]) throws -> LocalFolder {
        let child = path.appending(name)
        if LocalPath(name).withCString({ mkdirat(fd, $0, 0o700) }) != 0 && errno != EEXIST { throw TreeError.local(child.text) }
        let opened = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else { throw TreeError.local(child.text) }
        return LocalFolder(fd: opened, path: child)
    }

    /// A symlink `name` to `target` (which is only stored, never followed here).
    public func symlink(_ name: [UInt8], to target: [UInt8]) throws {
        let made = LocalPath(target).withCString { link in LocalPath(name).withCString { symlinkat(link, fd, $0) } }
        if made != 0 { throw TreeError.local(path.appending(name).text) }
    }

    /// The mtime (ns since the epoch) of `name` in this folder, a symlink's own; nil: this
    /// folder's. The access time becomes the same (the target's is not listed).
    public func setModificationTime(_ modified: UInt64, of name: [UInt8]? = nil) throws {
        var times = [Self.timespec(modified), Self.timespec(modified)]
        let done = name.map { name in LocalPath(name).withCString { utimensat(fd, $0, &times, AT_SYMLINK_NOFOLLOW) } }
            ?? futimens(fd, &times)
        if done != 0 { throw TreeError.local((name.map { path.appending($0) } ?? path).text) }
    }

    /// Everything written so far, on disk (`--durable`): one sync(2) for a whole tree, as
    /// dpkg batches per package, instead of an fsync per file. (syncfs, for this folder's
    /// filesystem only, is a GNU extension that musl's headers do not give Swift.)
    public static func syncAll() {
        sync()
    }

    private static func timespec(_ nanoseconds: UInt64) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    /// The status of `name` in this folder (a symlink's own); nil when there is none.
    public func status(of name: [UInt8]) -> Glibc.stat? {
        var info = Glibc.stat()
        return LocalPath(name).withCString { fstatat(fd, $0, &info, AT_SYMLINK_NOFOLLOW) } == 0 ? info : nil
    }

    /// The target of the symlink `name` in this folder; nil when it is not one.
    public func linkTarget(of name: [UInt8]) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = LocalPath(name).withCString { path in
            buffer.withUnsafeMutableBytes { readlinkat(fd, path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        return length >= 0 ? Array(buffer[0..<length]) : nil
    }

    /// The names in this folder, without "." and "..", read through its descriptor.
    public func names() throws -> [[UInt8]] {
        if isMissing { return [] }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0, let directory = fdopendir(copy) else { throw TreeError.local(path.text) }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names
    }

    /// Removes `name` and, for a folder, everything below it, each entry by name relative to
    /// an opened folder: a symlink is removed, never followed (`sync --delete` of a pull).
    public func removeTree(_ name: [UInt8], depth: Int = 0) throws {
        guard let info = status(of: name) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            guard depth < deepestTree else { throw TreeError.local(path.appending(name).text, ELOOP) }
            let inside = try folder(name)
            for child in try inside.names() { try inside.removeTree(child, depth: depth + 1) }
            if LocalPath(name).withCString({ unlinkat(fd, $0, AT_REMOVEDIR) }) != 0 {
                throw TreeError.local(path.appending(name).text)
            }
            return
        }
        try remove(name)
    }

    /// Removes `name` (a file or symlink, never a folder) from this folder.
    public func remove(_ name: [UInt8]) throws {
        if LocalPath(name).withCString({ unlinkat(fd, $0, 0) }) != 0 { throw TreeError.local(path.appending(name).text) }
    }

    /// The permission bits of the regular file `name` in this folder, through a descriptor
    /// opened without following a symlink (one swapped in is ELOOP, never followed).
    public func setMode(_ mode: mode_t, of name: [UInt8]) throws {
        let file = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard file >= 0 else { throw TreeError.local(path.appending(name).text) }
        defer { close(file) }
        var info = Glibc.stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw TreeError.local(path.appending(name).text, EINVAL) }
        if fchmod(file, mode) != 0 { throw TreeError.local(path.appending(name).text) }
    }

    /// The owner and group of `name` in this folder, a symlink's own (never followed); this
    /// folder's when nil. A pull as root gives entries the remote owners, as rsync -a does.
    public func setOwner(_ owner: (uid: uid_t, gid: gid_t), of name: [UInt8]? = nil) throws {
        let done = name.map { name in
            LocalPath(name).withCString { fchownat(fd, $0, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
        } ?? fchown(fd, owner.uid, owner.gid)
        if done != 0 { throw TreeError.local((name.map { path.appending($0) } ?? path).text) }
    }

    /// The SHA-512 of the regular file `name` in this folder, opened without following a
    /// symlink (`sync --checksum` of a pull).
    public func fileSHA512(_ name: [UInt8]) throws -> [UInt8] {
        let file = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard file >= 0 else { throw TreeError.local(path.appending(name).text) }
        defer { close(file) }
        return try sha512(ofOpen: file, name: path.appending(name).text)
    }

    /// This folder's permission bits.
    public func setMode(_ mode: mode_t) throws {
        if fchmod(fd, mode) != 0 { throw TreeError.local(path.text) }
    }

    /// A new file `name` with `mode`, its content written by `body` to the descriptor it
    /// gets: first into a temporary of a random name beside it (created with O_EXCL, so
    /// never a file or link someone prepared), then renamed over `name`. With `syncing`, the
    /// content is synced before the rename (a single download); a tree syncs once at the
    /// end instead (`syncAll`). `modified` (ns since the epoch) becomes its mtime, `owner` its owner. On any
    /// failure, and on SIGINT, SIGTERM and SIGHUP meanwhile, the temporary is removed.
    public func writeFile(_ name: [UInt8], mode: mode_t, syncing: Bool = true, modified: UInt64? = nil,
                   owner: (uid: uid_t, gid: gid_t)? = nil, _ body: (Int32) throws -> Void) throws {
        let target = path.appending(name)
        let (file, temporary) = try createTemporary(prefix: ".tunnel-", for: target)
        LocalFolder.temporaries?(fd, temporary)
        defer { LocalFolder.temporaries?(fd, nil) }
        var isOpen = true
        do {
            try body(file)
            // Owner before mode: chown clears set-id bits (which a download never sets anyway).
            if let owner, fchown(file, owner.uid, owner.gid) != 0 { throw TreeError.local(target.text) }
            guard !syncing || fsync(file) == 0, fchmod(file, mode) == 0 else { throw TreeError.local(target.text) }
            if let modified {
                var times = [Self.timespec(modified), Self.timespec(modified)]
                guard futimens(file, &times) == 0 else { throw TreeError.local(target.text) }
            }
            isOpen = false
            guard close(file) == 0 else { throw TreeError.local(target.text) }
            let renamed = LocalPath(temporary).withCString { from in LocalPath(name).withCString { renameat(fd, from, fd, $0) } }
            if renamed != 0 { throw TreeError.local(target.text) }
        } catch {
            if isOpen { close(file) }
            _ = LocalPath(temporary).withCString { unlinkat(fd, $0, 0) }
            throw error
        }
    }

    /// A new file of a random name (`prefix` and 12 letters), opened for reading and
    /// writing, close-on-exec, created with O_EXCL: never a file or link someone prepared.
    public func createTemporary(prefix: String, for target: LocalPath) throws -> (fd: Int32, name: [UInt8]) {
        while true {
            let name = Array(prefix.utf8) + Self.randomLetters()
            let file = LocalPath(name).withCString {
                openat(fd, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            if file >= 0 { return (file, name) }
            if errno != EEXIST { throw TreeError.local(target.text) }
        }
    }

    /// Told of each temporary `writeFile` makes (its folder's descriptor and its name), and
    /// (nil) when it is renamed or removed: so that a program can remove it when a signal
    /// ends it meanwhile, as tunnel does (TemporaryCleanup). Set once, before any transfer.
    nonisolated(unsafe) public static var temporaries: ((_ folder: Int32, _ name: [UInt8]?) -> Void)?

    private static let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)

    /// 12 random letters (about 71 bits) from two 64-bit draws, six letters from each:
    /// each draw is a getrandom call, and one per letter cost 12 per file on a pull
    /// (docs/performance.md). 62^6 is under 2^36, so taking each draw modulo 62 six times
    /// is unbiased to within 2^-28, well beyond what a name O_EXCL guards needs.
    static func randomLetters() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var letters: [UInt8] = []
        letters.reserveCapacity(12)
        for _ in 0..<2 {
            var draw = generator.next()
            for _ in 0..<6 {
                letters.append(Self.letters[Int(draw % 62)])
                draw /= 62
            }
        }
        return letters
    }
}
