import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

// upload -r and download -r: whole trees through the protocol extensions, needing no
// program on the target. Names are bytes end to end. Folders get their source's mode,
// files are streamed (atomic on the agent, temporary + rename locally), symlinks are
// copied as symlinks, anything else (devices, fifos, sockets) is skipped with a warning.

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

/// Copies the local tree at `source` to `destination` on the agent (made there).
func uploadTree(_ source: LocalPath, to destination: [UInt8], on agent: TunnelConnection) throws {
    guard let info = source.status() else { throw localFailure(source.text) }
    let mode = String(info.st_mode & 0o7777, radix: 8)
    switch info.st_mode & S_IFMT {
    case S_IFDIR:
        do throws(TunnelError) {
            try agent.makeDirectory(destination, mode: mode)
        } catch .remoteOSError(let error) where error.errno == Int64(EEXIST) {
            guard try report({ () throws(TunnelError) in try agent.status(destination, followLinks: true) })?.type == "dir" else {
                throw report(.remoteOSError(error))
            }
        } catch {
            throw report(error)
        }
        for name in try source.entries() {
            try uploadTree(source.appending(name), to: destination + [UInt8(ascii: "/")] + name, on: agent)
        }
    case S_IFREG:
        let fd = source.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw localFailure(source.text) }
        defer { close(fd) }
        let file = FileContent(fd: fd, byteCount: UInt64(info.st_size))
        try report { () throws(TunnelError) in try uploadFile(file, to: destination, mode: mode, on: agent) }
    case S_IFLNK:
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = source.withCString { path in
            target.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard length >= 0 else { throw localFailure(source.text) }
        try report { () throws(TunnelError) in try agent.symlink(destination, to: Array(target[0..<length])) }
    default:
        writeError("tunnel: skipping \(source.text): not a file, folder or symlink\n")
    }
}

/// Upload carries its path as text: a name that is not UTF-8 is uploaded under a
/// temporary name beside it, then renamed (Rename takes bytes).
private func uploadFile(_ file: FileContent, to destination: [UInt8], mode: String,
                        on agent: TunnelConnection) throws(TunnelError) {
    if let text = String(validating: destination, as: UTF8.self) {
        return try agent.upload(text, streaming: file, mode: mode)
    }
    let folder = Array(destination[..<(destination.lastIndex(of: UInt8(ascii: "/")) ?? destination.startIndex)])
    let temporary = String(decoding: folder, as: UTF8.self) + "/.tunnel-upload-\(getpid())"
    try agent.upload(temporary, streaming: file, mode: mode)
    try agent.rename(Array(temporary.utf8), to: destination)
}

/// Copies the tree at `source` on the agent to the local `destination` (made here).
func downloadTree(_ source: [UInt8], to destination: LocalPath, on agent: TunnelConnection) throws {
    guard let status = try report({ () throws(TunnelError) in try agent.status(source) }) else {
        throw report(.remoteOSError(TunnelWire.OSError(errno: Int64(ENOENT), strerror: "No such file or directory",
                                                        msg: "[Errno 2] No such file or directory: '\(String(decoding: source, as: UTF8.self))'")))
    }
    try download(source, status: status, to: destination, on: agent)
}

private func download(_ source: [UInt8], status: StatResult, to destination: LocalPath, on agent: TunnelConnection) throws {
    switch status.type {
    case "dir":
        if destination.withCString({ mkdir($0, 0o700) }) != 0 && errno != EEXIST { throw localFailure(destination.text) }
        let entries = try report { () throws(TunnelError) in try agent.listDirectory(source, withStatus: true) }
        for entry in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            guard let status = entry.status else { continue }   // vanished meanwhile
            try download(source + [UInt8(ascii: "/")] + entry.name, status: status,
                         to: destination.appending(entry.name), on: agent)
        }
        _ = destination.withCString { chmod($0, mode_t(status.mode)) }
    case "file":
        try downloadFile(source, to: destination, mode: mode_t(status.mode), on: agent)
    case "link":
        let target = try report { () throws(TunnelError) in try agent.readLink(source) }
        let made = LocalPath(target).withCString { link in destination.withCString { symlink(link, $0) } }
        if made != 0 { throw localFailure(destination.text) }
    default:
        writeError("tunnel: skipping \(String(decoding: source, as: UTF8.self)): not a file, folder or symlink\n")
    }
}

/// Streamed into a temporary beside the destination, renamed into place when complete
/// (`downloadReplacing`). Download carries its path as text: a name that is not UTF-8 is read through a temporary
/// symlink with a text name (Symlink takes bytes), removed afterwards.
private func downloadFile(_ source: [UInt8], to destination: LocalPath, mode: mode_t, on agent: TunnelConnection) throws {
    var remote = String(validating: source, as: UTF8.self)
    var alias: [UInt8]? = nil
    if remote == nil {
        let folder = Array(source[..<(source.lastIndex(of: UInt8(ascii: "/")) ?? source.startIndex)])
        let name = String(decoding: folder, as: UTF8.self) + "/.tunnel-download-\(getpid())"
        try report { () throws(TunnelError) in try agent.symlink(Array(name.utf8), to: source) }
        alias = Array(name.utf8)
        remote = name
    }
    defer { if let alias { _ = try? agent.remove(alias) } }
    try downloadReplacing(destination, from: remote!, mode: mode, on: agent)
}
