#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// TunnelConnection.sync: rsync -a's model, for a program as for `tunnel sync` (which is
// this and its printing). A push (local → target) is SyncPush.swift; a pull (target →
// local) is download -r's code (TreeDownload.swift) with rsync's quick check.

/// One side of a sync: a path on this machine or on the agent's, as bytes. rsync's
/// trailing-slash rule applies to the source: `dir/` is its content, `dir` the folder
/// itself, made inside the destination.
public enum SyncLocation: Equatable {
    case local([UInt8])
    case remote([UInt8])
}

/// What a sync does besides making DEST like SRC, and what it reports.
public struct SyncOptions {
    /// Remove what DEST has and SRC does not (not what `exclude` names).
    public var delete = false
    /// Change nothing; `itemize` still hears what would change.
    public var dryRun = false
    /// Compare files of the same size by SHA-512 (the agent's Stat computes it), not by mtime.
    public var checksum = false
    /// Entries left out, on both sides: rsync's basic globs (`isExcluded`).
    public var exclude: [String] = []
    /// A pull syncs the whole tree to disk once at the end (a push: the agent's `--durable`).
    public var durable = false
    /// Each change, in rsync's itemize form.
    public var itemize: ((SyncChange) -> Void)?
    /// Each entry that failed (a `TunnelError` or a `TreeError`); the rest is synced.
    public var entryFailed: (Error) -> Void = { _ in }
    /// Each entry left out for not being a file, folder or symlink: its path.
    public var skipped: (String) -> Void = { _ in }

    public init() {}
}

/// How a sync went: done, apart from `failures` entries (each reported as it failed).
public struct SyncResult: Equatable {
    public var failures: Int
}

extension TunnelConnection {
    /// Makes `destination` like `source`, as `rsync -a` does: exactly one of them is
    /// `.remote`, on this connection's target. Modes, mtimes and symlinks are kept, and
    /// owners and groups (by name) when the receiving side is root; an entry whose size and
    /// mtime match is left alone (`checksum`: whose SHA-512 matches). DEST is made when
    /// missing (not its parents). Nothing on the target is followed below DEST, nor locally:
    /// docs/security.md, "tunnel sync". `progress` hears the files and bytes done and to do.
    /// Throws when nothing more can be done (the connection, the top folder); an entry
    /// that fails is reported through `options.entryFailed` and counted in the result.
    public func sync(from source: SyncLocation, to destination: SyncLocation, options: SyncOptions = SyncOptions(),
                     progress: ((SyncProgress) -> Void)? = nil) throws -> SyncResult {
        let report = TreeReport(itemize: options.itemize, entryFailed: options.entryFailed, skipped: options.skipped,
                                progress: progress)
        switch (source, destination) {
        case (.local(let local), .remote(let remote)):
            return SyncResult(failures: try push(LocalPath(local), to: remote, options: options, report: report))
        case (.remote(let remote), .local(let local)):
            return SyncResult(failures: try pull(remote, to: LocalPath(local), options: options, report: report))
        default:
            throw TreeError(.usage, "exactly one of SRC and DEST is on the target")
        }
    }

    private func push(_ local: LocalPath, to root: [UInt8], options: SyncOptions, report: TreeReport) throws -> Int {
        guard let top = local.status() else { throw TreeError.local(local.text) }
        // The agent's user (owners are sent only to root) is asked with the root's lstats,
        // and the root's status is the last of them: one round trip for the three.
        let start = TreePipeline(self)
        var user: Result<String, TunnelError>?
        try start.resolveOwnUser { user = $0 }
        let pinned = try resolvingSymlinks(root, on: start) // pinned: see RemoteRealPath.swift
        let root = pinned.path
        guard let user else { throw TunnelError.transport("the agent's user was not answered") }
        let contentOnly = local.bytes.last == UInt8(ascii: "/") || !isSingleName(lastComponent(local.bytes))
        let sync = try TreeSync(root: root, agent: self, receiverIsRoot: try user.get() == "root", options: options, report: report)
        let rootStatus = pinned.statusKnown ? pinned.status : try status(root, followLinks: true)
        if rootStatus == nil {
            sync.itemize("cd+++++++++", [], folder: true)
            // SRC/ gives DEST its own mode (set again at the end); SRC makes DEST a plain folder.
            if !options.dryRun { try makeDirectory(root, mode: contentOnly ? String(top.st_mode & 0o7777, radix: 8) : nil) }
        } else if rootStatus?.type != "dir" {
            throw TreeError(.notAFolder, "\(String(decoding: root, as: UTF8.self)): not a folder")
        }
        if contentOnly {
            guard top.st_mode & S_IFMT == S_IFDIR else { throw TreeError.local(local.text, ENOTDIR) }
            try sync.folder(local, relative: [], remoteExists: rootStatus != nil, depth: 0)
            // As rsync: DEST itself takes SRC's mode and mtime, last (its entries changed it);
            // left alone when nothing in it changed and they are SRC's already.
            let mode = UInt64(top.st_mode & 0o7777)
            let unchanged = sync.entriesChanged == 0 && rootStatus?.mode == mode && rootStatus?.mtime == modificationTime(top)
            if !options.dryRun && !unchanged {
                try sync.pipeline.setMetadata(beneath: root, [], mode: String(top.st_mode & 0o7777, radix: 8),
                                              mtime: Int64(modificationTime(top))) { error in
                    if let error { try sync.outcome.entry { throw error } }
                }
            }
        } else {
            let name = lastComponent(local.bytes)
            var existing: DirEntry?
            if rootStatus != nil {
                try sync.listing([]) { entries in existing = entries.first { $0.name == name } }
            }
            try sync.entry(local, LocalStatus(top), name: name, relative: name, remote: existing, depth: 0)
        }
        try sync.pipeline.finish()
        return sync.outcome.failures
    }

    /// download -r's code (the same checks, pipelining and failures), with rsync's quick
    /// check (or `checksum`), mtimes kept, `dryRun`, `delete`, `exclude`, and as root
    /// owners and groups.
    private func pull(_ remote: [UInt8], to destination: LocalPath, options: SyncOptions, report: TreeReport) throws -> Int {
        let name = lastComponent(remote)
        let contentOnly = remote.last == UInt8(ascii: "/") || !isSingleName(name)
        // As rsync, DEST itself is made when missing (not its parents).
        if !contentOnly, !options.dryRun, destination.withCString({ mkdir($0, 0o777) }) != 0 && errno != EEXIST {
            throw TreeError.local(destination.text)
        }
        let patterns = options.exclude
        var download = DownloadOptions(preserve: true, durable: options.durable)
        download.quickCheck = true
        download.itemizedPrefix = contentOnly ? [] : name
        download.deleteExtraneous = options.delete
        download.excluded = patterns.isEmpty ? nil : { name, relative, isFolder in
            isExcluded(by: patterns, name, relative, isFolder: isFolder)
        }
        download.dryRun = options.dryRun
        download.checksum = options.checksum
        download.owners = geteuid() == 0
        return try downloadTree(remote, to: contentOnly ? destination : destination.appending(name), options: download,
                                report: report)
    }
}

/// The last name of a path ("a/b/" gives "b"; "/" gives "/").
public func lastComponent(_ path: [UInt8]) -> [UInt8] {
    let trimmed = path.last == UInt8(ascii: "/") && path.count > 1 ? Array(path.dropLast()) : path
    return Array(trimmed.split(separator: UInt8(ascii: "/")).last ?? trimmed[...])
}

/// Whether an entry is excluded by one of `patterns`, with rsync's basic glob semantics: a
/// pattern with "/" matches the path below SRC (a leading "/" anchors it there), one without
/// matches the name alone, and one ending in "/" only folders.
func isExcluded(by patterns: [String], _ name: [UInt8], _ relative: [UInt8], isFolder: Bool) -> Bool {
    patterns.contains { pattern in
        var glob = pattern
        if glob.hasSuffix("/") {
            guard isFolder else { return false }
            glob.removeLast()
        }
        let anchored = glob.contains("/")
        if glob.hasPrefix("/") { glob.removeFirst() }
        let subject = anchored ? relative : name
        return fnmatch(glob, String(decoding: subject, as: UTF8.self), 0) == 0
    }
}
