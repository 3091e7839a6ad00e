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
// Requests are pipelined (TreePipeline): a tree costs about one round trip plus its bytes.
// A failed entry is named on stderr and the rest is still copied; the exit status is then
// 23, as rsync's (`TreeOutcome`).

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

// MARK: What a copy met

/// Each failed entry is named on stderr as it happens, and the copy goes on, as scp and
/// rsync do; `finish` then exits 23 ("partial", rsync's number). A broken connection ends
/// the copy at once: nothing more can be asked.
final class TreeOutcome {
    let agent: TunnelConnection
    private(set) var failures = 0

    init(_ agent: TunnelConnection) { self.agent = agent }

    /// Runs `body` for one entry; its failure is counted (its message is on stderr already,
    /// or is written here), unless the connection is gone: then it ends the copy.
    func entry(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as TunnelError {
            guard agent.isUsable else { throw report(error) }
            writeError("tunnel: \(displayedMessage(error.description))\n")
            failures += 1
        } catch let code as ExitCode where agent.isUsable && code.rawValue != 0 {
            failures += 1   // local: localFailure named it
        }   // TreeCopyEnded goes through: it ends the copy
    }

    /// Exit 23 when an entry failed.
    func finish() throws {
        guard failures == 0 else {
            writeError("tunnel: \(failures) \(failures == 1 ? "entry was" : "entries were") not copied (see above)\n")
            throw ExitCode(partialTransfer)
        }
    }
}

/// The exit status of a tree copy that did all it could, and not everything (rsync's 23).
let partialTransfer: Int32 = 23

/// A failure that ends a tree copy, not just one entry (a tree too deep to be real); its
/// message is on stderr already.
struct TreeCopyEnded: Error {
    let code: ExitCode
}

/// Files and bytes done so far, on stderr when it is a terminal (never into a log or a
/// pipe) and not `--quiet`, at most ten times a second; as the single-file `Progress`.
final class TreeProgress {
    private let enabled: Bool
    private var files = 0
    private var bytes: UInt64 = 0
    private var lastShown = 0.0
    private var shown = false

    init(quiet: Bool) { enabled = !quiet && isatty(2) == 1 }

    func add(bytes more: UInt64) {
        bytes += more
        show()
    }

    func fileDone() {
        files += 1
        show()
    }

    func finish() {
        guard enabled, files > 0 || bytes > 0 else { return }
        show(force: true)
        writeError("\n")
    }

    private func show(force: Bool = false) {
        guard enabled else { return }
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let now = Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        guard force || now - lastShown >= 0.1 else { return }
        lastShown = now
        let tenths = bytes * 10 / 1_000_000
        writeError("\r  \(files) file\(files == 1 ? "" : "s"), \(tenths / 10).\(tenths % 10) MB   ")
    }
}

/// ns since the epoch, from a local stat.
func modificationTime(_ info: Glibc.stat) -> UInt64 {
    UInt64(max(0, info.st_mtim.tv_sec)) * 1_000_000_000 + UInt64(max(0, info.st_mtim.tv_nsec))
}

// MARK: upload -r

/// Which modes upload -r gives files: `forced` (--mode) to every one; else the source's
/// to new files, and to existing ones too only with `preserve` (-p), which also keeps
/// mtimes; otherwise an existing file keeps its own mode, as single uploads do.
struct UploadModes {
    var forced: String?
    var preserve = false
}

/// A remote folder being filled: once its creation failed (named once), nothing more is
/// sent into it, and its entries' refusals (already under way) are not named again.
private final class RemoteFolder {
    let parent: RemoteFolder?
    var failed = false

    init(parent: RemoteFolder?) { self.parent = parent }

    var isLost: Bool { failed || parent?.isLost == true }
}

/// Copies the local tree at `source` to `name` in the folder `root` on the agent (an
/// empty `name`: into `root` itself), with UploadBeneath and CreateBeneath: below `root`,
/// no symlink on the target is ever followed. A symlink planted where the source has a
/// folder makes that folder fail (EEXIST); one planted where the source has a file is
/// replaced by the file, as rsync does. Requests are pipelined; each failure is named and
/// the rest copied (exit 23).
func uploadTree(_ source: LocalPath, into root: [UInt8], as name: [UInt8], modes: UploadModes,
                on agent: TunnelConnection, quiet: Bool = false) throws {
    // -p's mtimes are set relative to `root` (SetMetadataBeneath), never by a joined path:
    // refused before anything is copied when the agent cannot.
    if modes.preserve && !agent.serves(.setMetadataBeneath) { throw report(.extensionMissing(.setMetadataBeneath)) }
    let copy = TreeUpload(root: root, modes: modes, agent: agent, quiet: quiet)
    defer { copy.progress.finish() }
    do {
        try copy.upload(source, relative: name, into: RemoteFolder(parent: nil), depth: 0)
        try copy.pipeline.finish()
    } catch let error as TunnelError {
        throw report(error)   // the first request: an agent without the extension
    }
    try copy.outcome.finish()
}

private final class TreeUpload {
    let root: [UInt8]
    let modes: UploadModes
    let pipeline: TreePipeline
    let outcome: TreeOutcome
    let progress: TreeProgress

    init(root: [UInt8], modes: UploadModes, agent: TunnelConnection, quiet: Bool) {
        self.root = root
        self.modes = modes
        pipeline = TreePipeline(agent)
        outcome = TreeOutcome(agent)
        progress = TreeProgress(quiet: quiet)
    }

    /// What to do with an answer about an entry of `folder`: a refusal is named (once:
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
        guard let info = source.status() else { throw localFailure(source.text) }
        let mode = String(info.st_mode & 0o7777, radix: 8)
        let mtime = modes.preserve ? Int64(modificationTime(info)) : nil
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard depth < deepestTree else { throw localFailure(source.text, ELOOP) }
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
            throw localFailure(source.text, ENOTDIR)   // only a folder's content can go into REMOTE itself
        case S_IFREG:
            let fd = source.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw localFailure(source.text) }
            defer { close(fd) }
            var opened = Glibc.stat()
            guard fstat(fd, &opened) == 0 else { throw localFailure(source.text) }
            let file = FileContent(fd: fd, byteCount: UInt64(opened.st_size))
            let progress = self.progress
            try pipeline.upload(beneath: root, relative, streaming: file, mode: modes.forced ?? (modes.preserve ? mode : nil),
                                newFileMode: mode,
                                then: answered(in: folder) { progress.add(bytes: UInt64(opened.st_size)); progress.fileDone() })
            if let mtime { try pipeline.setMetadata(beneath: root, relative, mtime: mtime, then: answered(in: folder)) }
        case S_IFLNK:
            var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = source.withCString { path in
                target.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            }
            guard length >= 0 else { throw localFailure(source.text) }
            try pipeline.symlink(beneath: root, relative, to: Array(target[0..<length]), then: answered(in: folder))
            if let mtime { try pipeline.setMetadata(beneath: root, relative, mtime: mtime, then: answered(in: folder)) }
        default:
            writeError("tunnel: skipping \(source.text): not a file, folder or symlink\n")
        }
    }
}

// MARK: download -r

/// How download -r writes: `preserve` (-p) keeps mtimes; `durable` (--durable) syncs the
/// whole tree once at the end, instead of nothing (scp and rsync never sync).
struct DownloadOptions {
    var preserve = false
    var durable = false
    var quiet = false
    /// `tunnel sync`'s pull: a local file whose size and mtime match is left alone (rsync's
    /// quick check; its mode is still made the remote one), as is a symlink with the same
    /// target; a different symlink is replaced.
    var quickCheck = false
    /// Told each change, in rsync's itemize form (`sync -i`): code, path below the
    /// destination, whether a folder, a symlink's target.
    var itemize: ((String, [UInt8], Bool, [UInt8]?) -> Void)?
    /// `sync --delete` of a pull: local entries the remote folder does not list are removed.
    var deleteExtraneous = false
    /// `sync --exclude` of a pull: whether an entry (name, path below the source, whether a
    /// folder) is left out, on both sides.
    var excluded: (([UInt8], [UInt8], Bool) -> Bool)?
    /// `sync -n` of a pull: nothing local is made, changed or removed; with `itemize`, what
    /// would be is said. Listings and link targets are still read; no file's content is.
    var dryRun = false
    /// `sync --checksum` of a pull: a local file of the remote one's size is compared by
    /// SHA-512 (the agent's Stat computes it) instead of by mtime, as rsync -c does.
    var checksum = false
    /// `sync` of a pull as root: entries get the remote owner and group, by name as rsync
    /// maps them (by number when the name is a number; an unknown name is left as it is).
    var owners = false
}

/// Copies the tree at `source` on the agent to the local `destination` (made here). The
/// target is hostile input: each name it lists must be a single one, given once
/// (`checkedEntries`); everything is made relative to local folders opened without
/// following symlinks (`LocalFolder`); each entry is read with ReadBeneath, which follows
/// no symlink below `source`, and must still be the kind it was listed as. A lying or
/// changing target can make the copy fail, never write outside `destination`.
/// Set-user-ID and set-group-ID bits are not copied: a target must not be able to hand
/// the local user a set-id program. Requests are pipelined (`TreeDownload`); each failure
/// is named and the rest copied (exit 23).
func downloadTree(_ source: [UInt8], to destination: LocalPath, options: DownloadOptions = DownloadOptions(),
                  on agent: TunnelConnection) throws {
    guard let status = try report({ () throws(TunnelError) in try agent.status(source) }) else {
        throw report(.remoteOSError(TunnelWire.OSError(errno: Int64(ENOENT), strerror: "No such file or directory",
                                                        msg: "[Errno 2] No such file or directory: '\(String(decoding: source, as: UTF8.self))'")))
    }
    let copy = TreeDownload(root: source, options: options, agent: agent)
    defer { copy.progress.finish() }
    do {
        try copy.start(at: destination, status: status)
        try copy.run()
    } catch let ended as TreeCopyEnded {
        throw ended.code
    } catch let error as TunnelError {
        throw report(error)   // the first request: an agent without the extension
    }
    if options.durable { LocalFolder.syncAll() }
    try copy.outcome.finish()
}

extension TreeDownload {
    /// The first request: the listing of a folder, or a file's content.
    fileprivate func start(at destination: LocalPath, status: StatResult) throws {
        let kind = status.fileType
        if kind == .directory {
            let dryRun = options.dryRun
            return try list([], making: { dryRun ? try LocalFolder.ifPresent(destination) : try LocalFolder.make(destination) },
                            status: status, parent: nil, depth: 0)
        }
        guard let (parent, name) = folderAndName(destination.bytes) else { throw localFailure(destination.text, EISDIR) }
        let top = try LocalFolder.existing(LocalPath(parent))
        if kind == .symlink {
            // The top-level path is the user's: ReadLink of it as named.
            let agent = pipeline.connection
            let target = try report { () throws(TunnelError) in try agent.readLink(root) }
            return try top.symlink(name, to: target)
        }
        let filling = FillingFolder(top, mode: nil, mtime: nil, parent: nil)
        pending.append(Item(relative: [], kind: kind, status: status, name: name, into: filling, depth: 0))
        filling.waitingFor += 1
    }
}

/// A local folder being filled, and what it waits for: its mode (a read-only folder must
/// stay writable until its entries are in) and mtime (writing entries changes it) are set
/// once its listing is done and each entry is made or has failed.
private final class FillingFolder {
    let folder: LocalFolder
    let mode: UInt64?
    let mtime: UInt64?
    let owner: (uid: uid_t, gid: gid_t)?
    let parent: FillingFolder?
    /// Entries listed and not yet done, plus one while they are being queued.
    var waitingFor = 0

    init(_ folder: LocalFolder, mode: UInt64?, mtime: UInt64?, owner: (uid: uid_t, gid: gid_t)? = nil,
         parent: FillingFolder?) {
        self.folder = folder
        self.mode = mode
        self.mtime = mtime
        self.owner = owner
        self.parent = parent
    }

    /// One entry is done (made, or failed and named).
    func entryDone(_ outcome: TreeOutcome) throws {
        waitingFor -= 1
        guard waitingFor == 0 else { return }
        try outcome.entry {
            if let owner { try folder.setOwner(owner) }   // first: chown clears set-id bits
            if let mode { try folder.setMode(withoutSetID(mode)) }
            if let mtime { try folder.setModificationTime(mtime) }
        }
        try parent?.entryDone(outcome)
    }
}

private final class TreeDownload {
    /// An entry listed and not yet asked for.
    struct Item {
        var relative: [UInt8]
        var kind: FileType
        var status: StatResult
        var name: [UInt8]
        var into: FillingFolder
        var depth: Int
        /// --checksum found its content different: download it, no more checks.
        var differs = false
    }

    let root: [UInt8]
    let options: DownloadOptions
    let pipeline: TreePipeline
    let outcome: TreeOutcome
    let progress: TreeProgress
    /// Depth first, as a recursion would: at most the listings of the folders on the way.
    var pending: [Item] = []
    private var userIDs: [String: uid_t] = [:]
    private var groupIDs: [String: gid_t] = [:]

    init(root: [UInt8], options: DownloadOptions, agent: TunnelConnection) {
        self.root = root
        self.options = options
        pipeline = TreePipeline(agent)
        outcome = TreeOutcome(agent)
        progress = TreeProgress(quiet: options.quiet)
    }

    /// Asks for what is pending, as far ahead as the window allows, and handles the answers.
    func run() throws {
        while true {
            if let item = pending.popLast() {
                try outcome.entry { try ask(item) }
            } else if pipeline.unanswered > 0 {
                try pipeline.receiveNext()
            } else {
                return
            }
        }
    }

    /// The listing of the folder `relative`; once it checks out, the local folder is made
    /// (`make`: never before, so that nothing is made for a folder that is not one) and
    /// its entries are pending, depth first. `parent` hears when it is done.
    func list(_ relative: [UInt8], making make: @escaping () throws -> LocalFolder, status: StatResult,
              parent: FillingFolder?, depth: Int) throws {
        // A dry run changes no folder; otherwise each gets its mode, mtime (-p) and owner last.
        let mode = options.dryRun ? nil : Optional(status.mode)
        let mtime = options.preserve && !options.dryRun ? Optional(status.mtime) : nil
        let owner = options.dryRun ? nil : localOwner(of: status)
        try pipeline.read(beneath: root, relative, withStatus: true) { [self] answer in
            var listed = false
            try outcome.entry {
                let content = try answer.content()
                guard case .directory(let entries) = content else { throw changedKind(root, relative, listedAs: .directory) }
                let filling = FillingFolder(try make(), mode: mode, mtime: mtime, owner: owner, parent: parent)
                filling.waitingFor += 1   // until its entries are pending
                if options.deleteExtraneous { try deleteExtraneous(in: filling.folder, keeping: entries, relative) }
                for entry in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }).reversed() {
                    guard let status = entry.status else { continue }   // vanished meanwhile
                    let child = relative.isEmpty ? entry.name : relative + [UInt8(ascii: "/")] + entry.name
                    if options.excluded?(entry.name, child, entry.fileType == .directory) == true { continue }
                    pending.append(Item(relative: child, kind: entry.fileType, status: status, name: entry.name,
                                        into: filling, depth: depth + 1))
                    filling.waitingFor += 1
                }
                listed = true
                try filling.entryDone(outcome)   // its parent hears when it is done
            }
            if !listed { try parent?.entryDone(outcome) }   // the listing failed: done with this folder
        }
    }

    private func ask(_ item: Item) throws {
        let mtime = options.preserve ? item.status.mtime : nil
        switch item.kind {
        case .directory:
            guard item.depth < deepestTree else {
                try item.into.entryDone(outcome)
                writeError("tunnel: remote: \(displayedMessage(String(decoding: root, as: UTF8.self))) is deeper than \(deepestTree) folders: "
                           + "the rest is not copied\n")
                throw TreeCopyEnded(code: ExitCode(ownFailure))
            }
            let into = item.into
            let itemize = options.itemize
            let dryRun = options.dryRun
            try list(item.relative, making: {
                if let itemize, into.folder.status(of: item.name) == nil { itemize("cd+++++++++", item.relative, true, nil) }
                return dryRun ? try into.folder.subfolderIfPresent(item.name) : try into.folder.folder(item.name)
            }, status: item.status, parent: into, depth: item.depth)
        case .regular:
            if options.quickCheck && !item.differs {
                if options.checksum, let local = item.into.folder.status(of: item.name), local.st_mode & S_IFMT == S_IFREG,
                   UInt64(local.st_size) == item.status.size {
                    return try compareChecksums(item)
                }
                if try unchanged(item) { return try item.into.entryDone(outcome) }
            }
            if options.dryRun { return try item.into.entryDone(outcome) }
            try pipeline.read(beneath: root, item.relative) { [self] answer in
                defer { progress.fileDone() }
                try outcome.entry { try receiveFile(item, answer, modified: mtime) }
                try item.into.entryDone(outcome)
            }
        case .symlink:
            try pipeline.read(beneath: root, item.relative) { [self] answer in
                try outcome.entry {
                    guard case .symlink(let target) = try answer.content() else {
                        throw changedKind(root, item.relative, listedAs: .symlink)
                    }
                    let folder = item.into.folder
                    let owner = localOwner(of: item.status)
                    if options.quickCheck, let current = folder.linkTarget(of: item.name) {
                        guard current != target else {
                            // The same link: only its own mtime and owner, when they differ.
                            guard let local = folder.status(of: item.name) else { return }
                            let time = mtime.map { modificationTime(local) != $0 } ?? false
                            let (ownerDiffers, groupDiffers) = differences(owner, local)
                            guard time || ownerDiffers || groupDiffers else { return }
                            options.itemize?(".L." + ".\(time ? "t" : ".").\(ownerDiffers ? "o" : ".")\(groupDiffers ? "g" : ".")...",
                                             item.relative, false, target)
                            guard !options.dryRun else { return }
                            if let owner, ownerDiffers || groupDiffers { try folder.setOwner(owner, of: item.name) }
                            if let mtime, time { try folder.setModificationTime(mtime, of: item.name) }
                            return
                        }
                        if !options.dryRun { try folder.remove(item.name) }
                    }
                    options.itemize?("cL+++++++++", item.relative, false, target)
                    guard !options.dryRun else { return }
                    try folder.symlink(item.name, to: target)
                    if let owner { try folder.setOwner(owner, of: item.name) }
                    if let mtime { try folder.setModificationTime(mtime, of: item.name) }
                }
                try item.into.entryDone(outcome)
            }
        default:
            writeError("tunnel: skipping \(displayedMessage(String(decoding: joined(root, item.relative), as: UTF8.self))): "
                       + "not a file, folder or symlink\n")
            try item.into.entryDone(outcome)
        }
    }

    /// Removes what `folder` has and the remote listing does not (nor --exclude names).
    private func deleteExtraneous(in folder: LocalFolder, keeping entries: [DirEntry], _ relative: [UInt8]) throws {
        let listed = Set(entries.map(\.name))
        for name in try folder.names().sorted(by: { $0.lexicographicallyPrecedes($1) }) where !listed.contains(name) {
            let child = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            let isFolder = folder.status(of: name).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
            if options.excluded?(name, child, isFolder) == true { continue }
            options.itemize?("*deleting  ", child, isFolder, nil)
            if !options.dryRun { try outcome.entry { try folder.removeTree(name) } }
        }
    }

    /// Whether the local file matches `item` by size and mtime (its mode, and as root its
    /// owner, are made the remote ones then); itemizes the transfer when it does not.
    private func unchanged(_ item: Item) throws -> Bool {
        guard let local = item.into.folder.status(of: item.name), local.st_mode & S_IFMT == S_IFREG else {
            options.itemize?(">f+++++++++", item.relative, false, nil)
            return false
        }
        let size = UInt64(local.st_size) != item.status.size
        let time = modificationTime(local) != item.status.mtime
        guard size || time else {
            try keep(item, local)
            return true
        }
        let (perms, owner, group) = attributeDifferences(item, local)
        options.itemize?(">f." + (size ? "s" : ".") + (time ? "t" : ".") + (perms ? "p" : ".") + (owner ? "o" : ".")
                         + (group ? "g" : ".") + "...", item.relative, false, nil)
        return false
    }

    /// A local file that holds the remote one's content: its mode and owner are made the
    /// remote ones, and with `time` (--checksum) its mtime; itemized when anything differs.
    private func keep(_ item: Item, _ local: Glibc.stat, time: Bool = false) throws {
        let (perms, ownerDiffers, groupDiffers) = attributeDifferences(item, local)
        guard perms || ownerDiffers || groupDiffers || time else { return }
        options.itemize?(".f.." + (time ? "t" : ".") + (perms ? "p" : ".") + (ownerDiffers ? "o" : ".")
                         + (groupDiffers ? "g" : ".") + "...", item.relative, false, nil)
        guard !options.dryRun else { return }
        let folder = item.into.folder
        try outcome.entry {
            if let owner = localOwner(of: item.status), ownerDiffers || groupDiffers { try folder.setOwner(owner, of: item.name) }
            if perms { try folder.setMode(withoutSetID(item.status.mode), of: item.name) }
            if time { try folder.setModificationTime(item.status.mtime, of: item.name) }
        }
    }

    /// Which of mode, owner and group the local file has otherwise than `item`.
    private func attributeDifferences(_ item: Item, _ local: Glibc.stat) -> (mode: Bool, owner: Bool, group: Bool) {
        let (owner, group) = differences(localOwner(of: item.status), local)
        return (local.st_mode & 0o7777 != withoutSetID(item.status.mode), owner, group)
    }

    /// --checksum, for a local file of the remote one's size: the agent's SHA-512 of the
    /// remote file against the local one's. The same: kept (its mtime made the remote one);
    /// otherwise downloaded, as a pending entry (never a request sent from an answer's
    /// handler). The Stat names the file by its full path: a read, which a folder swapped
    /// for a symlink can at worst make look unchanged.
    private func compareChecksums(_ item: Item) throws {
        try pipeline.status(joined(root, item.relative), sha512: true) { [self] result in
            var same = false
            try outcome.entry {
                guard let remote = try result.get()?.sha512sum else { return }
                same = try remote == item.into.folder.fileSHA512(item.name)
            }
            guard let local = item.into.folder.status(of: item.name) else { return try item.into.entryDone(outcome) }
            let time = modificationTime(local) != item.status.mtime
            if same {
                try keep(item, local, time: time && options.preserve)
                return try item.into.entryDone(outcome)
            }
            let (perms, owner, group) = attributeDifferences(item, local)
            options.itemize?(">fc" + "." + (time ? "t" : ".") + (perms ? "p" : ".") + (owner ? "o" : ".")
                             + (group ? "g" : ".") + "...", item.relative, false, nil)
            var again = item
            again.differs = true
            pending.append(again)
        }
    }

    /// The local ids for a remote entry's owner and group names, when owners are kept
    /// (`uid_t.max`, "unchanged" to fchown, for a name unknown here); cached per name.
    private func localOwner(of status: StatResult) -> (uid: uid_t, gid: gid_t)? {
        guard options.owners else { return nil }
        if userIDs[status.owner] == nil {
            userIDs[status.owner] = getpwnam(status.owner)?.pointee.pw_uid ?? uid_t(status.owner) ?? uid_t.max
        }
        if groupIDs[status.group] == nil {
            groupIDs[status.group] = getgrnam(status.group)?.pointee.gr_gid ?? gid_t(status.group) ?? gid_t.max
        }
        return (userIDs[status.owner]!, groupIDs[status.group]!)
    }

    /// Whether a local entry's owner and group differ from `owner` (nil: not kept).
    private func differences(_ owner: (uid: uid_t, gid: gid_t)?, _ local: Glibc.stat) -> (owner: Bool, group: Bool) {
        guard let owner else { return (false, false) }
        return (owner.uid != uid_t.max && local.st_uid != owner.uid, owner.gid != gid_t.max && local.st_gid != owner.gid)
    }

    private func receiveFile(_ item: Item, _ answer: BeneathAnswer, modified: UInt64?) throws {
        let folder = item.into.folder
        try folder.writeFile(item.name, mode: withoutSetID(item.status.mode), syncing: false, modified: modified,
                             owner: localOwner(of: item.status)) { fd in
            var failedWrite: Int32 = 0
            let content: EntryContent
            do {
                content = try answer.content { piece in
                    failedWrite = writeFully(piece, to: fd)
                    self.progress.add(bytes: UInt64(piece.count))
                    return failedWrite == 0
                }
            } catch let error as TunnelError {
                if failedWrite != 0 { throw localFailure("writing \(folder.path.appending(item.name).text)", failedWrite) }
                throw error
            }
            guard content == .file else { throw changedKind(root, item.relative, listedAs: .regular) }
        }
    }
}

/// The entry is no longer what its folder's listing said: an error for it.
private func changedKind(_ root: [UInt8], _ relative: [UInt8], listedAs kind: FileType) -> ExitCode {
    writeError("tunnel: remote: \(displayedMessage(String(decoding: joined(root, relative), as: UTF8.self))) "
               + "was listed as \(kind.rawValue) "
               + "and was something else when read: not copied\n")
    return ExitCode(1)
}

private func withoutSetID(_ mode: UInt64) -> mode_t { mode_t(mode & 0o1777) }
