#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// upload -r: a local tree through the protocol extensions, needing no program on the
// target. Names are bytes end to end (UploadBeneath, CreateBeneath, SetMetadataBeneath).
// Folders get their source's mode, files are streamed (atomic on the agent), symlinks are
// copied as symlinks, anything else (devices, fifos, sockets) is skipped and reported. The
// target's tree is hostile: docs/security.md, "Client → a tree on the target". Requests
// are pipelined (TreePipeline): a tree costs about one round trip plus its bytes.

/// Which modes upload -r gives files: `forced` (--mode) to every one; else the source's
/// to new files, and to existing ones too only with `preserve` (-p), which also keeps
/// mtimes; otherwise an existing file keeps its own mode, as single uploads do.
public struct UploadModes {
    public var forced: String?
    public var preserve = false

    public init(forced: String? = nil, preserve: Bool = false) {
        self.forced = forced
        self.preserve = preserve
    }
}

extension TunnelConnection {
    /// Copies the local tree at `source` to `name` in the folder `root` on the agent (an
    /// empty `name`: into `root` itself), with UploadBeneath and CreateBeneath: below
    /// `root`, no symlink on the target is ever followed. A symlink planted where the
    /// source has a folder makes that folder fail (EEXIST); one planted where the source
    /// has a file or a symlink is replaced, as rsync does. Each failure is reported and the
    /// rest copied; the result is how many entries failed.
    public func uploadTree(_ source: LocalPath, into root: [UInt8], as name: [UInt8], modes: UploadModes,
                           report: TreeReport = TreeReport()) throws -> Int {
        // -p's mtimes are set relative to `root` (SetMetadataBeneath), never by a joined
        // path: refused before anything is copied when the agent cannot.
        if modes.preserve { try require(.setMetadataBeneath) }
        let root = try resolvingSymlinks(root) // pinned: see RemoteRealPath.swift
        let copy = TreeUpload(root: root, modes: modes, agent: self, report: report)
        try copy.upload(source, relative: name, into: RemoteFolder(parent: nil), depth: 0)
        try copy.pipeline.finish()
        return copy.outcome.failures
    }
}

/// A remote folder being filled: once its creation failed (reported once), nothing more is
/// sent into it, and its entries' refusals (already under way) are not reported again.
private final class RemoteFolder {
    let parent: RemoteFolder?
    var failed = false

    init(parent: RemoteFolder?) { self.parent = parent }

    var isLost: Bool { failed || parent?.isLost == true }
}

private final class TreeUpload {
    let root: [UInt8]
    let modes: UploadModes
    let pipeline: TreePipeline
    let outcome: TreeOutcome

    init(root: [UInt8], modes: UploadModes, agent: TunnelConnection, report: TreeReport) {
        self.root = root
        self.modes = modes
        pipeline = TreePipeline(agent)
        outcome = TreeOutcome(agent, report)
    }

    /// What to do with an answer about an entry of `folder`: a refusal is reported (once:
    /// not for the entries of a folder that failed) and counted.
    private func answered(in folder: RemoteFolder, marking failed: RemoteFolder? = nil,
                          done: (() -> Void)? = nil) -> (TunnelError?) throws -> Void {
        let outcome = self.outcome
        return { error in
            guard let error else { done?(); return }
            guard !folder.isLost else { return }
            failed?.failed = true
            try outcome.entry { throw error }
        }
    }

    func upload(_ source: LocalPath, relative: [UInt8], into folder: RemoteFolder, depth: Int) throws {
        guard !folder.isLost else { return }
        guard let info = source.status() else { throw TreeError.local(source.text) }
        let mode = String(info.st_mode & 0o7777, radix: 8)
        let mtime = modes.preserve ? Int64(modificationTime(info)) : nil
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard depth < deepestTree else { throw TreeError.local(source.text, ELOOP) }
            let inside = RemoteFolder(parent: folder)
            if !relative.isEmpty {
                try pipeline.makeDirectory(beneath: root, relative, mode: mode,
                                           then: answered(in: folder, marking: inside))
            }
            let names: [[UInt8]]
            do { names = try source.entries() } catch { inside.failed = true; throw error }
            for name in names {
                try outcome.entry {
                    try upload(source.appending(name), relative: relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name,
                               into: inside, depth: depth + 1)
                }
            }
            // Last: writing its entries changed the folder's mtime.
            if let mtime, !relative.isEmpty, !inside.isLost {
                try pipeline.setMetadata(beneath: root, relative, mtime: mtime, then: answered(in: folder))
            }
        case _ where relative.isEmpty:
            throw TreeError.local(source.text, ENOTDIR)   // only a folder's content can go into REMOTE itself
        case S_IFREG:
            let (fd, opened) = try source.openFile()
            defer { close(fd) }
            let size = UInt64(opened.st_size)
            let outcome = self.outcome
            outcome.toDo(bytes: size)
            try pipeline.upload(beneath: root, relative, streaming: FileContent(fd: fd, byteCount: size),
                                mode: modes.forced ?? (modes.preserve ? mode : nil), newFileMode: mode,
                                then: answered(in: folder) { outcome.add(bytes: size); outcome.fileDone() })
            if let mtime { try pipeline.setMetadata(beneath: root, relative, mtime: mtime, then: answered(in: folder)) }
        case S_IFLNK:
            let target = try source.linkTarget()
            try pipeline.symlink(beneath: root, relative, to: target, then: answered(in: folder))
            if let mtime { try pipeline.setMetadata(beneath: root, relative, mtime: mtime, then: answered(in: folder)) }
        default:
            outcome.report.skipped(source.text)
        }
    }
}

extension LocalPath {
    /// The file at this path opened for reading, never through a final symlink, and its
    /// status as opened: what is sent is what was opened, whatever the path names by then.
    /// The caller closes it.
    func openFile() throws -> (fd: Int32, status: Glibc.stat) {
        let fd = withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw TreeError.local(text) }
        var opened = Glibc.stat()
        guard fstat(fd, &opened) == 0 else {
            let code = errno
            close(fd)
            throw TreeError.local(text, code)
        }
        return (fd, opened)
    }

    /// The target of the symlink at this path.
    func linkTarget() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = withCString { path in
            buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard length >= 0 else { throw TreeError.local(text) }
        return Array(buffer[0..<length])
    }
}
