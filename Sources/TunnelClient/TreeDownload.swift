#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// download -r, and sync's pull: a remote tree copied into a local folder. The target is
// hostile input (docs/security.md, "Target → client"); requests are pipelined
// (TreePipeline), each failure reported and the rest copied.

/// A path split into its folder and its last name ("a/b/" gives "a" and "b", "b" gives "."
/// and "b"); nil when the last name is not a single one ("/", ".", "..").
public func folderAndName(_ path: [UInt8]) -> (folder: [UInt8], name: [UInt8])? {
    var trimmed = path[...]
    while trimmed.count > 1 && trimmed.last == UInt8(ascii: "/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) else {
        return isSingleName(Array(trimmed)) ? ([UInt8(ascii: ".")], Array(trimmed)) : nil
    }
    let name = Array(trimmed[(slash + 1)...])
    let folder = slash == trimmed.startIndex ? [UInt8(ascii: "/")] : Array(trimmed[..<slash])
    return isSingleName(name) ? (folder, name) : nil
}


/// How download -r writes: `preserve` (-p) keeps mtimes; `durable` (--durable) syncs the
/// whole tree once at the end, instead of nothing (scp and rsync never sync).
public struct DownloadOptions {
    public var preserve = false
    public var durable = false
    /// `tunnel sync`'s pull: a local file whose size and mtime match is left alone (rsync's
    /// quick check; its mode is still made the remote one), as is a symlink with the same
    /// target; a different symlink is replaced.
    public var quickCheck = false
    /// What the paths of itemized changes start with (a pull of `:SRC` without the slash:
    /// SRC's name, the folder made in DEST); empty: the path below the destination.
    public var itemizedPrefix: [UInt8] = []
    /// `sync --delete` of a pull: local entries the remote folder does not list are removed.
    public var deleteExtraneous = false
    /// `sync --exclude` of a pull: whether an entry (name, path below the source, whether a
    /// folder) is left out, on both sides.
    public var excluded: (([UInt8], [UInt8], Bool) -> Bool)?
    /// `sync -n` of a pull: nothing local is made, changed or removed; with `itemize`, what
    /// would be is said. Listings and link targets are still read; no file's content is.
    public var dryRun = false
    /// `sync --checksum` of a pull: a local file of the remote one's size is compared by
    /// SHA-512 (the agent's Stat computes it) instead of by mtime, as rsync -c does.
    public var checksum = false
    /// `sync` of a pull as root: entries get the remote owner and group, by name as rsync
    /// maps them (by number when the name is a number; an unknown name is left as it is).
    public var owners = false

    public init(preserve: Bool = false, durable: Bool = false) {
        self.preserve = preserve
        self.durable = durable
    }
}

/// Copies the tree at `source` on the agent to the local `destination` (made here). The
/// target is hostile input: each name it lists must be a single one, given once
/// (`checkedEntries`); everything is made relative to local folders opened without
/// following symlinks (`LocalFolder`); each entry is read with ReadBeneath, which follows
/// no symlink below `source`, and must still be the kind it was listed as. A lying or
/// changing target can make the copy fail, never write outside `destination`.
/// Set-user-ID and set-group-ID bits are not copied: a target must not be able to hand
/// the local user a set-id program. Requests are pipelined (`TreeDownload`); each failure
/// is reported and the rest copied; the result is how many entries failed.
extension TunnelConnection {
    public func downloadTree(_ source: [UInt8], to destination: LocalPath, options: DownloadOptions = DownloadOptions(),
                             report: TreeReport = TreeReport()) throws -> Int {
        let source = try resolvingSymlinksAbove(source) // pinned: see RemoteRealPath.swift
        guard let status = try status(source) else {
            throw TunnelError.remoteOSError(TunnelWire.OSError(errno: Int64(ENOENT), strerror: "No such file or directory",
                                                               msg: "[Errno 2] No such file or directory: '\(String(decoding: source, as: UTF8.self))'"))
        }
        let copy = TreeDownload(root: source, options: options, agent: self, report: report)
        try copy.start(at: destination, status: status)
        try copy.run()
        if options.durable { LocalFolder.syncAll() }
        return copy.outcome.failures
    }
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
        guard let (parent, name) = folderAndName(destination.bytes) else { throw TreeError.local(destination.text, EISDIR) }
        let top = try LocalFolder.existing(LocalPath(parent))
        if kind == .symlink {
            // The top-level path is the user's: ReadLink of it as named.
            return try top.symlink(name, to: try pipeline.connection.readLink(root))
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
            // Only what differs, as rsync: a pull with nothing changed set all three on every
            // folder, three calls that changed nothing where one fstat tells (docs/performance.md).
            var current = Glibc.stat()
            let known = fstat(folder.fd, &current) == 0
            if let owner, !known || !isOwned(current, by: owner) { try folder.setOwner(owner) }   // first: chown clears set-id bits
            if let mode, !known || current.st_mode & 0o7777 != withoutSetID(mode) { try folder.setMode(withoutSetID(mode)) }
            if let mtime, !known || modificationTime(current) != mtime { try folder.setModificationTime(mtime) }
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
    /// Depth first, as a recursion would: at most the listings of the folders on the way.
    var pending: [Item] = []
    private var userIDs: [String: uid_t] = [:]
    private var groupIDs: [String: gid_t] = [:]

    init(root: [UInt8], options: DownloadOptions, agent: TunnelConnection, report: TreeReport) {
        self.root = root
        self.options = options
        pipeline = TreePipeline(agent)
        outcome = TreeOutcome(agent, report)
    }

    /// A change, to the report's itemize, with its path below the destination.
    func itemize(_ code: String, _ relative: [UInt8], _ isFolder: Bool, _ linkTarget: [UInt8]?) {
        guard let itemize = outcome.report.itemize else { return }
        let prefix = options.itemizedPrefix
        let path = prefix.isEmpty ? relative : relative.isEmpty ? prefix : prefix + [UInt8(ascii: "/")] + relative
        itemize(SyncChange(code: code, path: path, isFolder: isFolder, linkTarget: linkTarget))
    }

    /// Folder listings asked for and not answered yet.
    private var listingsInFlight = 0

    /// Whether another folder's listing may be asked now. Each answer puts all of its
    /// folder's entries in `pending`: with the whole window (64) of listings in flight, an
    /// initial pull of folders of 1000 files held 64 folders' entries (19.8 MiB at 100,000
    /// files, docs/performance.md). One listing at a time would wait a round trip per
    /// folder; up to 8, and only while few entries are pending, keeps folders of a few
    /// entries pipelined and large ones to about 8 folders' worth.
    private var mayAskListing: Bool {
        listingsInFlight == 0 || (listingsInFlight < 8 && pending.count < 1024)
    }

    /// Asks for what is pending, as far ahead as the window allows, and handles the answers.
    func run() throws {
        while true {
            // The last item's kind, not a copy of the item (its names and strings retained).
            if let last = pending.indices.last, pending[last].kind != .directory || mayAskListing || pipeline.unanswered == 0 {
                let item = pending.removeLast()
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
        listingsInFlight += 1
        try pipeline.read(beneath: root, relative, withStatus: true) { [self] answer in
            listingsInFlight -= 1
            var listed = false
            try outcome.entry {
                let content = try answer.content()
                guard case .directory(let entries) = content else { throw changedKind(root, relative, listedAs: .directory) }
                let filling = FillingFolder(try make(), mode: mode, mtime: mtime, owner: owner, parent: parent)
                filling.waitingFor += 1   // until its entries are pending
                if options.deleteExtraneous { try deleteExtraneous(in: filling.folder, keeping: entries, relative) }
                for position in byteOrder(entries).reversed() {
                    let entry = entries[position]
                    guard let status = entry.status else { continue }   // vanished meanwhile
                    let child = relative.isEmpty ? entry.name : slashJoined(relative, entry.name)
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
                throw TreeError(.tooDeep, "remote: \(String(decoding: root, as: UTF8.self)) is deeper than \(deepestTree) folders: "
                                + "the rest is not copied")
            }
            let into = item.into
            let (dryRun, replacing) = (options.dryRun, options.quickCheck)
            try list(item.relative, making: { [self] in
                let existing = into.folder.status(of: item.name)
                // sync, as rsync: a file or symlink where the source has a folder is removed
                // (by name, never followed) for it; download -r refuses it (ENOTDIR, ELOOP).
                let inTheWay = replacing && existing.map { $0.st_mode & S_IFMT != S_IFDIR } == true
                if existing == nil || inTheWay { itemize("cd+++++++++", item.relative, true, nil) }
                if dryRun { return try into.folder.subfolderIfPresent(item.name) }
                if inTheWay { try into.folder.remove(item.name) }
                return try into.folder.folder(item.name)
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
            outcome.toDo(bytes: item.status.size)
            try pipeline.read(beneath: root, item.relative) { [self] answer in
                defer { outcome.fileDone() }
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
                            itemize(".L..\(time ? "t" : ".").\(ownerDiffers ? "o" : ".")\(groupDiffers ? "g" : ".")...",
                                    item.relative, false, target)
                            guard !options.dryRun else { return }
                            if let owner, ownerDiffers || groupDiffers { try folder.setOwner(owner, of: item.name) }
                            if let mtime, time { try folder.setModificationTime(mtime, of: item.name) }
                            return
                        }
                        if !options.dryRun { try folder.remove(item.name) }
                    }
                    itemize("cL+++++++++", item.relative, false, target)
                    guard !options.dryRun else { return }
                    try folder.symlink(item.name, to: target)
                    if let owner { try folder.setOwner(owner, of: item.name) }
                    if let mtime { try folder.setModificationTime(mtime, of: item.name) }
                }
                try item.into.entryDone(outcome)
            }
        default:
            outcome.report.skipped(String(decoding: joined(root, item.relative), as: UTF8.self))
            try item.into.entryDone(outcome)
        }
    }

    /// Removes what `folder` has and the remote listing does not (nor --exclude names).
    private func deleteExtraneous(in folder: LocalFolder, keeping entries: [DirEntry], _ relative: [UInt8]) throws {
        let listed = Set(entries.map(\.name))
        for name in try folder.names().sorted(by: bytesPrecede) where !listed.contains(name) {
            let child = relative.isEmpty ? name : slashJoined(relative, name)
            let isFolder = folder.status(of: name).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
            if options.excluded?(name, child, isFolder) == true { continue }
            itemize("*deleting  ", child, isFolder, nil)
            if !options.dryRun { try outcome.entry { try folder.removeTree(name) } }
        }
    }

    /// Whether the local file matches `item` by size and mtime (its mode, and as root its
    /// owner, are made the remote ones then); itemizes the transfer when it does not.
    private func unchanged(_ item: Item) throws -> Bool {
        guard let local = item.into.folder.status(of: item.name), local.st_mode & S_IFMT == S_IFREG else {
            itemize(">f+++++++++", item.relative, false, nil)
            return false
        }
        let size = UInt64(local.st_size) != item.status.size
        let time = modificationTime(local) != item.status.mtime
        guard size || time else {
            try keep(item, local)
            return true
        }
        let (perms, owner, group) = attributeDifferences(item, local)
        itemize(">f." + (size ? "s" : ".") + (time ? "t" : ".") + (perms ? "p" : ".") + (owner ? "o" : ".")
                + (group ? "g" : ".") + "...", item.relative, false, nil)
        return false
    }

    /// A local file that holds the remote one's content: its mode and owner are made the
    /// remote ones, and with `time` (--checksum) its mtime; itemized when anything differs.
    private func keep(_ item: Item, _ local: Glibc.stat, time: Bool = false) throws {
        let (perms, ownerDiffers, groupDiffers) = attributeDifferences(item, local)
        guard perms || ownerDiffers || groupDiffers || time else { return }
        itemize(".f.." + (time ? "t" : ".") + (perms ? "p" : ".") + (ownerDiffers ? "o" : ".")
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
            var same: Bool?   // nil: the comparison failed (reported), and the entry is done
            try outcome.entry {
                // Gone on the target meanwhile (no status, no hash): its read will say why.
                guard let remote = try result.get()?.sha512sum else { same = false; return }
                same = try remote == item.into.folder.fileSHA512(item.name)
            }
            guard let same, let local = item.into.folder.status(of: item.name) else { return try item.into.entryDone(outcome) }
            let time = modificationTime(local) != item.status.mtime
            if same {
                try keep(item, local, time: time && options.preserve)
                return try item.into.entryDone(outcome)
            }
            let (perms, owner, group) = attributeDifferences(item, local)
            itemize(">fc" + "." + (time ? "t" : ".") + (perms ? "p" : ".") + (owner ? "o" : ".")
                    + (group ? "g" : ".") + "...", item.relative, false, nil)
            var again = item
            again.differs = true
            pending.append(again)
        }
    }

    /// The local ids for a remote entry's owner and group names, when owners are kept
    /// (`uid_t.max`, "unchanged" to fchown, for a name unknown here); cached per name, and
    /// the last pair remembered: it is asked several times per entry, and nearly every
    /// entry of a tree has the same owner as the one before.
    private func localOwner(of status: StatResult) -> (uid: uid_t, gid: gid_t)? {
        guard options.owners else { return nil }
        if let last = lastOwner, last.owner == status.owner && last.group == status.group { return last.ids }
        let uid = userIDs[status.owner] ?? getpwnam(status.owner)?.pointee.pw_uid ?? uid_t(status.owner) ?? uid_t.max
        let gid = groupIDs[status.group] ?? getgrnam(status.group)?.pointee.gr_gid ?? gid_t(status.group) ?? gid_t.max
        userIDs[status.owner] = uid
        groupIDs[status.group] = gid
        lastOwner = (status.owner, status.group, (uid, gid))
        return (uid, gid)
    }
    private var lastOwner: (owner: String, group: String, ids: (uid: uid_t, gid: gid_t))?

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
                    self.outcome.add(bytes: UInt64(piece.count))
                    return failedWrite == 0
                }
            } catch let error as TunnelError {
                if failedWrite != 0 { throw TreeError.local("writing \(folder.path.appending(item.name).text)", failedWrite) }
                throw error
            }
            guard content == .file else { throw changedKind(root, item.relative, listedAs: .regular) }
        }
    }
}

/// The entry is no longer what its folder's listing said: an error for it.
private func changedKind(_ root: [UInt8], _ relative: [UInt8], listedAs kind: FileType) -> TreeError {
    TreeError(.changedKind, "remote: \(String(decoding: joined(root, relative), as: UTF8.self)) "
                            + "was listed as \(kind.rawValue) and was something else when read: not copied")
}

private func withoutSetID(_ mode: UInt64) -> mode_t { mode_t(mode & 0o1777) }

/// Whether `info` has `owner`'s uid and gid already (`uid_t.max`, `gid_t.max`: left as they are).
private func isOwned(_ info: Glibc.stat, by owner: (uid: uid_t, gid: gid_t)) -> Bool {
    (owner.uid == uid_t.max || info.st_uid == owner.uid) && (owner.gid == gid_t.max || info.st_gid == owner.gid)
}
