#if canImport(Glibc)
import Glibc
#endif
import TunnelClient

/// A local folder that downloads write into, opened with O_DIRECTORY|O_NOFOLLOW. Everything
/// made in it is made by name relative to this descriptor (mkdirat, openat, symlinkat,
/// renameat, fchmod): never through a symlink that is, or appears, on the way. A name the
/// target chose is only ever one entry of this folder (see `checkedEntries`).
final class LocalFolder {
    let fd: Int32
    /// For messages.
    let path: LocalPath

    private init(fd: Int32, path: LocalPath) {
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The folder at `path`, made (0700 until `setMode`) when missing. Its parents are the
    /// user's to name and are followed; the folder itself must not be a symlink.
    static func make(_ path: LocalPath) throws -> LocalFolder {
        if path.withCString({ mkdir($0, 0o700) }) != 0 && errno != EEXIST { throw localFailure(path.text) }
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw localFailure(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// The folder at `path`, which exists (the single download's destination's folder).
    static func existing(_ path: LocalPath) throws -> LocalFolder {
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw localFailure(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// For `sync -n`: the folder at `path` as it is, never made; when missing, one that
    /// holds nothing (`isMissing`: its lookups find nothing, it lists no names).
    static func ifPresent(_ path: LocalPath) throws -> LocalFolder {
        let fd = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 || errno == ENOENT else { throw localFailure(path.text) }
        return LocalFolder(fd: fd, path: path)
    }

    /// As `ifPresent`, for the subfolder `name`.
    func subfolderIfPresent(_ name: [UInt8]) throws -> LocalFolder {
        let child = path.appending(name)
        guard !isMissing else { return LocalFolder(fd: -1, path: child) }
        let opened = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 || errno == ENOENT else { throw localFailure(child.text) }
        return LocalFolder(fd: opened, path: child)
    }

    /// A dry run's folder that does not exist (yet).
    var isMissing: Bool { fd < 0 }

    /// The subfolder `name`, made when missing. An existing symlink of that name is ELOOP,
    /// an existing file ENOTDIR: never entered.
    func folder(_ name: [UInt8]) throws -> LocalFolder {
        let child = path.appending(name)
        if LocalPath(name).withCString({ mkdirat(fd, $0, 0o700) }) != 0 && errno != EEXIST { throw localFailure(child.text) }
        let opened = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else { throw localFailure(child.text) }
        return LocalFolder(fd: opened, path: child)
    }

    /// A symlink `name` to `target` (which is only stored, never followed here).
    func symlink(_ name: [UInt8], to target: [UInt8]) throws {
        let made = LocalPath(target).withCString { link in LocalPath(name).withCString { symlinkat(link, fd, $0) } }
        if made != 0 { throw localFailure(path.appending(name).text) }
    }

    /// The mtime (ns since the epoch) of `name` in this folder, a symlink's own; nil: this
    /// folder's. The access time becomes the same (the target's is not listed).
    func setModificationTime(_ modified: UInt64, of name: [UInt8]? = nil) throws {
        var times = [Self.timespec(modified), Self.timespec(modified)]
        let done = name.map { name in LocalPath(name).withCString { utimensat(fd, $0, &times, AT_SYMLINK_NOFOLLOW) } }
            ?? futimens(fd, &times)
        if done != 0 { throw localFailure((name.map { path.appending($0) } ?? path).text) }
    }

    /// Everything written so far, on disk (`--durable`): one sync(2) for a whole tree, as
    /// dpkg batches per package, instead of an fsync per file. (syncfs, for this folder's
    /// filesystem only, is a GNU extension that musl's headers do not give Swift.)
    static func syncAll() {
        sync()
    }

    private static func timespec(_ nanoseconds: UInt64) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    /// The status of `name` in this folder (a symlink's own); nil when there is none.
    func status(of name: [UInt8]) -> Glibc.stat? {
        var info = Glibc.stat()
        return LocalPath(name).withCString { fstatat(fd, $0, &info, AT_SYMLINK_NOFOLLOW) } == 0 ? info : nil
    }

    /// The target of the symlink `name` in this folder; nil when it is not one.
    func linkTarget(of name: [UInt8]) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = LocalPath(name).withCString { path in
            buffer.withUnsafeMutableBytes { readlinkat(fd, path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        return length >= 0 ? Array(buffer[0..<length]) : nil
    }

    /// The names in this folder, without "." and "..", read through its descriptor.
    func names() throws -> [[UInt8]] {
        if isMissing { return [] }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0, let directory = fdopendir(copy) else { throw localFailure(path.text) }
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
    func removeTree(_ name: [UInt8], depth: Int = 0) throws {
        guard let info = status(of: name) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            guard depth < deepestTree else { throw localFailure(path.appending(name).text, ELOOP) }
            let inside = try folder(name)
            for child in try inside.names() { try inside.removeTree(child, depth: depth + 1) }
            if LocalPath(name).withCString({ unlinkat(fd, $0, AT_REMOVEDIR) }) != 0 {
                throw localFailure(path.appending(name).text)
            }
            return
        }
        try remove(name)
    }

    /// Removes `name` (a file or symlink, never a folder) from this folder.
    func remove(_ name: [UInt8]) throws {
        if LocalPath(name).withCString({ unlinkat(fd, $0, 0) }) != 0 { throw localFailure(path.appending(name).text) }
    }

    /// The permission bits of the regular file `name` in this folder, through a descriptor
    /// opened without following a symlink (one swapped in is ELOOP, never followed).
    func setMode(_ mode: mode_t, of name: [UInt8]) throws {
        let file = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard file >= 0 else { throw localFailure(path.appending(name).text) }
        defer { close(file) }
        var info = Glibc.stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw localFailure(path.appending(name).text, EINVAL) }
        if fchmod(file, mode) != 0 { throw localFailure(path.appending(name).text) }
    }

    /// The owner and group of `name` in this folder, a symlink's own (never followed); this
    /// folder's when nil. A pull as root gives entries the remote owners, as rsync -a does.
    func setOwner(_ owner: (uid: uid_t, gid: gid_t), of name: [UInt8]? = nil) throws {
        let done = name.map { name in
            LocalPath(name).withCString { fchownat(fd, $0, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
        } ?? fchown(fd, owner.uid, owner.gid)
        if done != 0 { throw localFailure((name.map { path.appending($0) } ?? path).text) }
    }

    /// The SHA-512 of the regular file `name` in this folder, opened without following a
    /// symlink (`sync --checksum` of a pull).
    func fileSHA512(_ name: [UInt8]) throws -> [UInt8] {
        let file = LocalPath(name).withCString { openat(fd, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard file >= 0 else { throw localFailure(path.appending(name).text) }
        defer { close(file) }
        return try sha512(ofOpen: file, name: path.appending(name).text)
    }

    /// This folder's permission bits.
    func setMode(_ mode: mode_t) throws {
        if fchmod(fd, mode) != 0 { throw localFailure(path.text) }
    }

    /// A new file `name` with `mode`, its content written by `body` to the descriptor it
    /// gets: first into a temporary of a random name beside it (created with O_EXCL, so
    /// never a file or link someone prepared), then renamed over `name`. With `syncing`, the
    /// content is synced before the rename (a single download); a tree syncs once at the
    /// end instead (`syncAll`). `modified` (ns since the epoch) becomes its mtime, `owner` its owner. On any
    /// failure, and on SIGINT, SIGTERM and SIGHUP meanwhile, the temporary is removed.
    func writeFile(_ name: [UInt8], mode: mode_t, syncing: Bool = true, modified: UInt64? = nil,
                   owner: (uid: uid_t, gid: gid_t)? = nil, _ body: (Int32) throws -> Void) throws {
        let target = path.appending(name)
        let (file, temporary) = try createTemporary(prefix: ".tunnel-", for: target)
        TemporaryCleanup.remember(temporary, in: fd)
        defer { TemporaryCleanup.forget() }
        var isOpen = true
        do {
            try body(file)
            // Owner before mode: chown clears set-id bits (which a download never sets anyway).
            if let owner, fchown(file, owner.uid, owner.gid) != 0 { throw localFailure(target.text) }
            guard !syncing || fsync(file) == 0, fchmod(file, mode) == 0 else { throw localFailure(target.text) }
            if let modified {
                var times = [Self.timespec(modified), Self.timespec(modified)]
                guard futimens(file, &times) == 0 else { throw localFailure(target.text) }
            }
            isOpen = false
            guard close(file) == 0 else { throw localFailure(target.text) }
            let renamed = LocalPath(temporary).withCString { from in LocalPath(name).withCString { renameat(fd, from, fd, $0) } }
            if renamed != 0 { throw localFailure(target.text) }
        } catch {
            if isOpen { close(file) }
            _ = LocalPath(temporary).withCString { unlinkat(fd, $0, 0) }
            throw error
        }
    }

    /// A new file of a random name (`prefix` and 12 letters), opened for reading and
    /// writing, close-on-exec, created with O_EXCL: never a file or link someone prepared.
    func createTemporary(prefix: String, for target: LocalPath) throws -> (fd: Int32, name: [UInt8]) {
        while true {
            let name = Array(prefix.utf8) + (0..<12).map { _ in Self.letters.randomElement()! }
            let file = LocalPath(name).withCString {
                openat(fd, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            if file >= 0 { return (file, name) }
            if errno != EEXIST { throw localFailure(target.text) }
        }
    }

    private static let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
}
