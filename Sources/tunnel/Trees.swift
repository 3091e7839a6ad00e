import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

// upload -r and download -r: whole trees through the protocol extensions, needing no
// program on the target. Names are bytes end to end (UploadBeneath, ReadBeneath,
// CreateBeneath). Folders get their source's mode, files are streamed (atomic on the
// agent, temporary + rename locally), symlinks are copied as symlinks, anything else
// (devices, fifos, sockets) is skipped with a warning. Both directions treat the other
// side's tree as hostile: docs/security.md, "Target → client".

/// A local path as bytes, and as the C string the libc calls take.
struct LocalPath {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ text: String) { bytes = Array(text.utf8) }

    func appending(_ name: [UInt8]) -> LocalPath {
        LocalPath(bytes + (bytes.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]) + name)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    func status() -> Glibc.stat? {
        var info = Glibc.stat()
        return withCString { lstat($0, &info) } == 0 ? info : nil
    }

    /// The names in this folder, without "." and "..".
    func entries() throws -> [[UInt8]] {
        guard let directory = withCString({ opendir($0) }) else { throw localFailure(text) }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

func lastComponent(_ path: [UInt8]) -> [UInt8] {
    let trimmed = path.last == UInt8(ascii: "/") && path.count > 1 ? Array(path.dropLast()) : path
    return Array(trimmed.split(separator: UInt8(ascii: "/")).last ?? trimmed[...])
}

/// A path split into its folder and its last name ("a/b/" gives "a" and "b", "b" gives "."
/// and "b"); nil when the last name is not a single one ("/", ".", "..").
func folderAndName(_ path: [UInt8]) -> (folder: [UInt8], name: [UInt8])? {
    var trimmed = path[...]
    while trimmed.count > 1 && trimmed.last == UInt8(ascii: "/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) else {
        return isSingleName(Array(trimmed)) ? ([UInt8(ascii: ".")], Array(trimmed)) : nil
    }
    let name = Array(trimmed[(slash + 1)...])
    let folder = slash == trimmed.startIndex ? [UInt8(ascii: "/")] : Array(trimmed[..<slash])
    return isSingleName(name) ? (folder, name) : nil
}

/// Folders deeper than this are refused, whatever the target lists: the copy's recursion
/// and its open folders stay bounded. Deeper than any path the kernel takes (PATH_MAX).
let deepestTree = 2048

// MARK: upload -r

/// Which modes upload -r gives files: `forced` (--mode) to every one; else the source's
/// to new files, and to existing ones too only with `preserve` (-p); otherwise an
/// existing file keeps its own, as single uploads do.
struct UploadModes {
    var forced: String?
    var preserve = false
}

/// Copies the local tree at `source` to `name` in the folder `root` on the agent (an
/// empty `name`: into `root` itself), with UploadBeneath and CreateBeneath: below `root`,
/// no symlink on the target is ever followed. A symlink planted where the source has a
/// folder makes the copy fail (EEXIST); one planted where the source has a file is
/// replaced by the file, as rsync does.
func uploadTree(_ source: LocalPath, into root: [UInt8], as name: [UInt8], modes: UploadModes,
                on agent: TunnelConnection) throws {
    try upload(source, root: root, relative: name, modes: modes, on: agent, depth: 0)
}

private func upload(_ source: LocalPath, root: [UInt8], relative: [UInt8], modes: UploadModes,
                    on agent: TunnelConnection, depth: Int) throws {
    guard let info = source.status() else { throw localFailure(source.text) }
    let mode = String(info.st_mode & 0o7777, radix: 8)
    switch info.st_mode & S_IFMT {
    case S_IFDIR:
        guard depth < deepestTree else { throw localFailure(source.text, ELOOP) }
        if !relative.isEmpty {
            try report { () throws(TunnelError) in try agent.makeDirectory(beneath: root, relative, mode: mode) }
        }
        for name in try source.entries() {
            try upload(source.appending(name), root: root, relative: relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name,
                       modes: modes, on: agent, depth: depth + 1)
        }
    case _ where relative.isEmpty:
        throw localFailure(source.text, ENOTDIR)   // only a folder's content can go into REMOTE itself
    case S_IFREG:
        let fd = source.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw localFailure(source.text) }
        defer { close(fd) }
        var opened = Glibc.stat()
        guard fstat(fd, &opened) == 0 else { throw localFailure(source.text) }
        let file = FileContent(fd: fd, byteCount: UInt64(opened.st_size))
        try report { () throws(TunnelError) in
            try agent.upload(beneath: root, relative, streaming: file, mode: modes.forced ?? (modes.preserve ? mode : nil),
                             newFileMode: mode)
        }
    case S_IFLNK:
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = source.withCString { path in
            target.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard length >= 0 else { throw localFailure(source.text) }
        try report { () throws(TunnelError) in try agent.symlink(beneath: root, relative, to: Array(target[0..<length])) }
    default:
        writeError("tunnel: skipping \(source.text): not a file, folder or symlink\n")
    }
}

// MARK: download -r

/// Copies the tree at `source` on the agent to the local `destination` (made here). The
/// target is hostile input: each name it lists must be a single one, given once
/// (`checkedEntries`); everything is made relative to local folders opened without
/// following symlinks (`LocalFolder`); each entry is read with ReadBeneath, which follows
/// no symlink below `source`, and must still be the kind it was listed as. A lying or
/// changing target can make the copy fail, never write outside `destination`.
/// Set-user-ID and set-group-ID bits are not copied: a target must not be able to hand
/// the local user a set-id program.
func downloadTree(_ source: [UInt8], to destination: LocalPath, on agent: TunnelConnection) throws {
    guard let status = try report({ () throws(TunnelError) in try agent.status(source) }) else {
        throw report(.remoteOSError(TunnelWire.OSError(errno: Int64(ENOENT), strerror: "No such file or directory",
                                                        msg: "[Errno 2] No such file or directory: '\(String(decoding: source, as: UTF8.self))'")))
    }
    let kind = status.fileType
    if kind == .directory {
        let entries = try listing(source, [], on: agent)
        let folder = try LocalFolder.make(destination)
        return try copy(entries, of: source, [], into: folder, mode: status.mode, on: agent, depth: 0)
    }
    guard let (parent, name) = folderAndName(destination.bytes) else { throw localFailure(destination.text, EISDIR) }
    let folder = try LocalFolder.existing(LocalPath(parent))
    if kind == .symlink {
        // The top-level path is the user's: ReadLink of it as named.
        let target = try report { () throws(TunnelError) in try agent.readLink(source) }
        return try folder.symlink(name, to: target)
    }
    try download(source, [], kind: kind, mode: status.mode, as: name, into: folder, on: agent, depth: 0)
}

/// The entries of the folder at `relative` below `root`, which must still be a folder.
private func listing(_ root: [UInt8], _ relative: [UInt8], on agent: TunnelConnection) throws -> [DirEntry] {
    let content = try report { () throws(TunnelError) in
        try agent.read(beneath: root, relative, withStatus: true)
    }
    guard case .directory(let entries) = content else { throw changedKind(root, relative, listedAs: .directory) }
    return entries.sorted { $0.name.lexicographicallyPrecedes($1.name) }
}

private func copy(_ entries: [DirEntry], of root: [UInt8], _ relative: [UInt8], into folder: LocalFolder, mode: UInt64,
                  on agent: TunnelConnection, depth: Int) throws {
    for entry in entries {
        guard let status = entry.status else { continue }   // vanished meanwhile
        let child = relative.isEmpty ? entry.name : relative + [UInt8(ascii: "/")] + entry.name
        try download(root, child, kind: entry.fileType, mode: status.mode, as: entry.name, into: folder,
                     on: agent, depth: depth + 1)
    }
    try folder.setMode(withoutSetID(mode))
}

/// The entry at `relative` below `root`, listed as `kind`, made as `name` in `folder`.
private func download(_ root: [UInt8], _ relative: [UInt8], kind: FileType, mode: UInt64, as name: [UInt8],
                      into folder: LocalFolder, on agent: TunnelConnection, depth: Int) throws {
    switch kind {
    case .directory:
        guard depth < deepestTree else {
            writeError("tunnel: remote: \(String(decoding: root, as: UTF8.self)) is deeper than \(deepestTree) folders: "
                       + "the rest is not copied\n")
            throw ExitCode(ownFailure)
        }
        let entries = try listing(root, relative, on: agent)
        try copy(entries, of: root, relative, into: try folder.folder(name), mode: mode, on: agent, depth: depth)
    case .regular:
        try folder.writeFile(name, mode: withoutSetID(mode)) { fd in
            var failedWrite: Int32 = 0
            let content: EntryContent
            do {
                content = try agent.read(beneath: root, relative) { piece in
                    failedWrite = writeFully(piece, to: fd)
                    return failedWrite == 0
                }
            } catch let error as TunnelError {
                if failedWrite != 0 { throw localFailure("writing \(folder.path.appending(name).text)", failedWrite) }
                throw report(error)
            }
            guard content == .file else { throw changedKind(root, relative, listedAs: .regular) }
        }
    case .symlink:
        let content = try report { () throws(TunnelError) in try agent.read(beneath: root, relative) }
        guard case .symlink(let target) = content else { throw changedKind(root, relative, listedAs: .symlink) }
        try folder.symlink(name, to: target)
    default:
        writeError("tunnel: skipping \(displayedMessage(String(decoding: joined(root, relative), as: UTF8.self))): "
                   + "not a file, folder or symlink\n")
    }
}

/// The entry is no longer what its folder's listing said: an error for it (exit 1).
private func changedKind(_ root: [UInt8], _ relative: [UInt8], listedAs kind: FileType) -> ExitCode {
    writeError("tunnel: remote: \(displayedMessage(String(decoding: joined(root, relative), as: UTF8.self))) "
               + "was listed as \(kind.rawValue) "
               + "and was something else when read: not copied\n")
    return ExitCode(1)
}

private func withoutSetID(_ mode: UInt64) -> mode_t { mode_t(mode & 0o1777) }
