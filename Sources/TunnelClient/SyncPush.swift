#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// sync's push (SRC local, DEST `:PATH` on the target). Each remote folder is listed with
// its entries' status (one ReadBeneath, asked ahead across levels within a bound); an entry whose
// size and mtime match is left alone (rsync's quick check), everything else is sent with
// the same pipelined, no-follow requests as upload -r (UploadBeneath, CreateBeneath), and
// changed (SetMetadataBeneath) or removed (RemoveBeneath) relative to DEST, never by a
// joined path. Modes and mtimes are made the source's; symlinks stay symlinks.

/// One push: what it compares, what it sends, what it says.
final class TreeSync {
    let root: [UInt8]
    let options: SyncOptions
    let pipeline: TreePipeline
    let outcome: TreeOutcome
    /// Owners and groups are copied only when the receiving side is root, as rsync -a does.
    let receiverIsRoot: Bool
    private var accountNames = AccountNames()

    init(root: [UInt8], agent: TunnelConnection, receiverIsRoot: Bool, options: SyncOptions, report: TreeReport) throws(TunnelError) {
        self.root = root
        self.options = options
        self.receiverIsRoot = receiverIsRoot
        // Every change and removal is relative to DEST, never by a joined path that a folder
        // swapped for a symlink could lead elsewhere: an agent without them is refused
        // before anything changes (docs/security.md, "tunnel sync").
        if !options.dryRun {
            for id in [PacketID.setMetadataBeneath, .removeBeneath] where !agent.serves(id) { throw .extensionMissing(id) }
        }
        pipeline = TreePipeline(agent)
        outcome = TreeOutcome(agent, report)
    }

    /// A change, in rsync's `--itemize-changes` form: the 11-character code, the path below
    /// DEST (a folder with a trailing "/"), and for a symlink its target.
    func itemize(_ code: String, _ relative: [UInt8], folder: Bool = false, linkTarget: [UInt8]? = nil) {
        // Sent (<), made (c) or removed (*): the folder that holds it gets a new mtime.
        if let update = code.first, update == "<" || update == "c" || update == "*" { entriesChanged += 1 }
        outcome.report.itemize?(SyncChange(code: code, path: relative, isFolder: folder, linkTarget: linkTarget))
    }

    /// How many entries were sent, made or removed so far: a folder none of whose entries
    /// was needs no SetMetadataBeneath when its attributes match (a sync with nothing to
    /// change sends none).
    private(set) var entriesChanged = 0

    /// Listings asked for ahead of their use, by path below DEST: each answer (or refusal)
    /// lands in its own slot, so that waiting for one looks nothing up per answer read. A
    /// folder asks up to `listingsAhead` of its subfolders ahead of the one in hand, and
    /// `askDeeper` the subfolders of listings already in, both only while fewer than
    /// `listingsHeld` are asked and unused: what waits here stays bounded (that, plus the
    /// one listing each folder on the way may ask as it starts), however wide or deep the
    /// tree. The pipeline's window (64 requests) bounds what is in flight.
    private var listings: [ByteKey: AnswerSlot<[DirEntry]>] = [:]
    private let listingsAhead = 64

    /// Listings asked whose subfolders' listings are not asked yet: once one is in, they are
    /// (`askDeeper`), before the walk gets there, so that going one level deeper does not
    /// wait for a listing each time (it did: one round trip per folder holding folders).
    private var unexpanded: [(relative: [UInt8], slot: AnswerSlot<[DirEntry]>)] = []
    private let listingsHeld = 128

    /// Asks for the remote folder `relative`'s listing (with each entry's status), once.
    func askListing(_ relative: [UInt8]) throws {
        guard listings[ByteKey(relative)] == nil else { return }
        let slot = AnswerSlot<[DirEntry]>()
        listings[ByteKey(relative)] = slot
        // Only while under the bound: `askDeeper` stops at a listing it may not expand yet,
        // and each entry behind it would keep its listing in memory until then (a walk asks
        // its own folder's listing even over the bound, so the queue grew with the tree).
        if listings.count <= listingsHeld { unexpanded.append((relative, slot)) }
        let connection = pipeline.connection
        try pipeline.read(beneath: root, relative, withStatus: true) { [root] answer in
            do throws(TunnelError) {
                guard case .directory(let entries) = try answer.content() else {
                    throw .invalidAnswer(field: "type", reason: "\(show(root, relative)) is not a folder")
                }
                slot.result = .success(entries)
            } catch {
                if !connection.isUsable { throw error }
                slot.result = .failure(error)
            }
        }
    }

    /// The remote folder `relative`'s entries, handed to `body`: asked for now unless they
    /// were asked ahead, and waited for (the answers before them are handled first).
    func listing(_ relative: [UInt8], _ body: ([DirEntry]) throws -> Void) throws {
        try askListing(relative)
        guard let slot = listings.removeValue(forKey: ByteKey(relative)) else { return }
        while slot.result == nil && pipeline.unanswered > 0 {
            try pipeline.receiveNext()
            try askDeeper()
        }
        guard let result = slot.result else { return }
        try body(try result.get())
    }

    /// For each listing in, in the order they were asked (while `listingsHeld` allows): the
    /// listings of its subfolders, in the order the walk will reach them. A folder the local
    /// side has otherwise is asked for all the same (the listing tells no local kinds): its
    /// folder drops it (`forgetListings`). Never from an answer's handler: no request is
    /// written while an answer is being read.
    func askDeeper() throws {
        while let next = unexpanded.first, let result = next.slot.result {
            // Already used (its folder asks its own subfolders) or dropped, or refused.
            guard listings[ByteKey(next.relative)] === next.slot, case .success(let entries) = result else {
                unexpanded.removeFirst()
                continue
            }
            guard listings.count < listingsHeld else { return }
            unexpanded.removeFirst()
            // Only the subfolders are sorted (most entries are files).
            let folders = entries.indices.filter { entries[$0].isFolder }
            for position in folders.sorted(by: { bytesPrecede(entries[$0].name, entries[$1].name) }) {
                guard listings.count < listingsHeld else { break }   // the rest: its folder asks them
                let name = entries[position].name
                let child = next.relative.isEmpty ? name : slashJoined(next.relative, name)
                if !excluded(name, child, isFolder: true) { try askListing(child) }
            }
        }
    }

    /// Drops the listings asked below `relative`, once its walk is over: what is held stays
    /// bounded by what the walk will still use.
    private func forgetListings(below relative: [UInt8]) {
        guard !listings.isEmpty else { return }
        let unused = listings.keys.filter { key in
            relative.isEmpty || (key.bytes.count > relative.count && key.bytes[relative.count] == UInt8(ascii: "/")
                                 && key.bytes.starts(with: relative))
        }
        for key in unused { listings.removeValue(forKey: key) }
    }

    /// Existing remote symlinks' targets asked for ahead of their use, by path below DEST, as
    /// listings are: an entry whose remote link has to be read does not wait a round trip
    /// for it (a tree of unchanged links cost one wait per link).
    private var linkTargets: [ByteKey: AnswerSlot<[UInt8]?>] = [:]

    /// Asks for the remote symlink `relative`'s target, once.
    func askLinkTarget(_ relative: [UInt8]) throws {
        guard linkTargets[ByteKey(relative)] == nil else { return }
        let slot = AnswerSlot<[UInt8]?>()
        linkTargets[ByteKey(relative)] = slot
        let connection = pipeline.connection
        // Forgotten meanwhile (its entry failed before it looked): the slot is nobody's.
        try pipeline.read(beneath: root, relative) { answer in
            do throws(TunnelError) {
                guard case .symlink(let link) = try answer.content() else { return slot.result = .success(nil) }
                slot.result = .success(link)
            } catch {
                if !connection.isUsable { throw error }
                slot.result = .failure(error)
            }
        }
    }

    /// The remote symlink `relative`'s target (nil: not a symlink any more): asked for now
    /// unless it was asked ahead, and waited for.
    func linkTarget(_ relative: [UInt8]) throws -> [UInt8]? {
        try askLinkTarget(relative)
        guard let slot = linkTargets.removeValue(forKey: ByteKey(relative)) else { return nil }
        while slot.result == nil && pipeline.unanswered > 0 { try pipeline.receiveNext() }
        return try slot.result?.get() ?? nil
    }

    func excluded(_ name: [UInt8], _ relative: [UInt8], isFolder: Bool) -> Bool {
        isExcluded(by: options.exclude, name, relative, isFolder: isFolder)
    }

    /// The local folder `local` onto the remote `relative`, which exists already (or, with
    /// -n, would have been made: then it is empty).
    func folder(_ local: LocalPath, relative: [UInt8], remoteExists: Bool, depth: Int) throws {
        guard depth < deepestTree else { throw TreeError.local(local.text, ELOOP) }
        // Once this folder is walked (or its walk is cut short), nothing asked below it is
        // used any more: the listings of subfolders that are files here, excluded or failed,
        // of folders only DEST has (`askDeeper` asks those too), and all below them. Held
        // to the end of the run, they used up the bound and stopped all asking ahead.
        defer { forgetListings(below: relative) }
        var listed: [DirEntry] = []
        if remoteExists { try listing(relative) { listed = $0 } }
        let names = try local.entries()
        // Both sides by name, merged in byte order: no hashing of names per entry (that was
        // most of a push's CPU with nothing to change: docs/performance.md).
        let (remote, remoteOnly) = pairedByName(names, listed)
        let children = names.map { relative.isEmpty ? $0 : slashJoined(relative, $0) }
        // Each entry is stat'ed once, here: the kind decides what is asked ahead and
        // excluded, the rest is what `entry` compares and sends.
        let statuses = names.map { LocalStatus(local.appending($0)) }
        // The subfolders both sides have: their listings are asked for ahead, a few at a
        // time, so that a tree with nothing to change costs about one round trip, not one
        // per folder. The links both sides have: their targets too, so that comparing them
        // waits for no answer.
        var shared: [[UInt8]] = []
        var links: [[UInt8]] = []
        for index in names.indices {
            guard let theirs = remote[index], let info = statuses[index].info else { continue }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR && theirs.isFolder {
                if !excluded(names[index], children[index], isFolder: true) { shared.append(children[index]) }
            } else if kind == S_IFLNK && theirs.fileType == .symlink && theirs.status != nil {
                if !excluded(names[index], children[index], isFolder: false) { links.append(children[index]) }
            }
        }
        var listingsWindow = AskingAhead(shared, limit: listingsAhead, ask: askListing)
        listingsWindow.mayAsk = { [unowned self] in listings.count < listingsHeld }
        var linksWindow = AskingAhead(links, limit: listingsAhead, ask: askLinkTarget)
        try listingsWindow.start()
        try linksWindow.start()
        defer { for child in links { linkTargets.removeValue(forKey: ByteKey(child)) } }
        for index in names.indices {
            let child = children[index]
            let status = statuses[index]
            try listingsWindow.reach(child)
            try linksWindow.reach(child)
            try askDeeper()
            if excluded(names[index], child, isFolder: status.isFolder) { continue }
            try outcome.entry {
                try entry(local.appending(names[index]), status, name: names[index], relative: child, remote: remote[index],
                          depth: depth + 1)
            }
        }
        guard options.delete else { return }
        for entry in remoteOnly {
            let child = relative.isEmpty ? entry.name : slashJoined(relative, entry.name)
            if excluded(entry.name, child, isFolder: entry.fileType == .directory) { continue }
            itemize("*deleting  ", child, folder: entry.fileType == .directory)
            if !options.dryRun {
                try pipeline.remove(beneath: root, child, recursive: entry.fileType == .directory, then: answered)
            }
        }
    }

    /// A refusal is named and counted; the rest goes on.
    private lazy var answered: (TunnelError?) throws -> Void = { [outcome] error in
        if let error { try outcome.entry { throw error } }
    }

    /// Whether the remote file at `path` (listed as `status`) holds what the local one does:
    /// rsync's quick check (size and mtime), or with --checksum the same size and SHA-512
    /// (the agent's Stat computes it; asked only when the sizes match, as rsync does).
    func sameContent(_ local: LocalPath, _ info: Glibc.stat, _ relative: [UInt8], _ status: StatResult) throws -> Bool {
        guard status.size == UInt64(info.st_size) else { return false }
        guard options.checksum else { return status.mtime == modificationTime(info) }
        var remote: [UInt8]?
        var answered = false
        try pipeline.status(joined(root, relative), sha512: true) { result in
            answered = true
            remote = try result.get()?.sha512sum
        }
        while !answered { try pipeline.receiveNext() }
        guard let remote else { return false }
        return try remote == sha512(of: local)
    }

    /// rsync's 11-character itemize code: `update` (< sent, c made, . attributes only),
    /// the kind (f, d, L), then what differs, or "+++++++++" for something new.
    func code(_ update: Character, _ kind: Character, new: Bool = false, checksum: Bool = false, size: Bool = false,
              time: Bool = false, perms: Bool = false, owner: Bool = false, group: Bool = false) -> String {
        if new { return "\(update)\(kind)+++++++++" }
        return "\(update)\(kind)" + (checksum ? "c" : ".") + (size ? "s" : ".") + (time ? "t" : ".") + (perms ? "p" : ".") + (owner ? "o" : ".")
            + (group ? "g" : ".") + "..."
    }

    /// One local entry (lstat'ed as `status`) onto the remote `relative`, whose listing said
    /// `remote` (nil: missing).
    func entry(_ local: LocalPath, _ status: LocalStatus, name: [UInt8], relative: [UInt8], remote: DirEntry?, depth: Int) throws {
        guard let info = status.info else { throw TreeError.local(local.text, status.error) }
        let kind = info.st_mode & S_IFMT
        let mode = UInt64(info.st_mode & 0o7777)
        // Made only for a request that sends it (an unchanged entry sends none).
        var modeText: String { String(mode, radix: 8) }
        let mtime = modificationTime(info)
        let wanted: FileType = kind == S_IFDIR ? .directory : kind == S_IFREG ? .regular : kind == S_IFLNK ? .symlink : .other
        guard wanted != .other else { return outcome.report.skipped(local.text) }
        var existing = remote.flatMap { $0.status }
        if let remote, existing != nil, remote.fileType != wanted {
            // Another kind in the way: removed first, as rsync does.
            let isFolder = remote.fileType == .directory
            itemize("*deleting  ", relative, folder: isFolder)
            if !options.dryRun { try pipeline.remove(beneath: root, relative, recursive: isFolder, then: answered) }
            existing = nil
        }
        // Owner and group, by name as rsync maps them, only when the receiver is root.
        let owner = receiverIsRoot ? accountNames.owner(info.st_uid) : nil
        let group = receiverIsRoot ? accountNames.group(info.st_gid) : nil
        let ownerDiffers = existing.map { owner != nil && $0.owner != owner } ?? false
        let groupDiffers = existing.map { group != nil && $0.group != group } ?? false
        let newOwner = ownerDiffers ? owner : nil
        let newGroup = groupDiffers ? group : nil
        switch wanted {
        case .directory:
            if let status = existing {
                let changedBefore = entriesChanged
                try folder(local, relative: relative, remoteExists: true, depth: depth)
                let time = status.mtime != mtime, perms = status.mode != mode
                // The itemize code is made only for a change (an unchanged entry is most).
                let differs = time || perms || ownerDiffers || groupDiffers
                if differs {
                    itemize(code(".", "d", time: time, perms: perms, owner: ownerDiffers, group: groupDiffers), relative, folder: true)
                }
                // Also when only its entries changed (any below it: counting only its own
                // would need a counter per level): that changed the folder's mtime just now.
                if !options.dryRun && (differs || entriesChanged != changedBefore) {
                    try pipeline.setMetadata(beneath: root, relative, mode: status.mode != mode ? modeText : nil, owner: newOwner,
                                             group: newGroup, mtime: Int64(mtime), then: answered)
                }
            } else {
                itemize(code("c", "d", new: true), relative, folder: true)
                if !options.dryRun {
                    try pipeline.makeDirectory(beneath: root, relative, mode: modeText, then: answered)
                }
                try folder(local, relative: relative, remoteExists: false, depth: depth)
                if !options.dryRun {
                    try pipeline.setMetadata(beneath: root, relative, owner: owner, group: group, mtime: Int64(mtime), then: answered)
                }
            }
        case .regular:
            if let status = existing, try sameContent(local, info, relative, status) {
                let time = status.mtime != mtime   // only with --checksum
                if time || status.mode != mode || ownerDiffers || groupDiffers {
                    itemize(code(".", "f", time: time, perms: status.mode != mode, owner: ownerDiffers, group: groupDiffers), relative)
                    if !options.dryRun {
                        try pipeline.setMetadata(beneath: root, relative, mode: status.mode != mode ? modeText : nil, owner: newOwner,
                                                 group: newGroup, mtime: time ? Int64(mtime) : nil, then: answered)
                    }
                }
                return
            }
            itemize(existing.map { status in
                code("<", "f", checksum: options.checksum && status.size == UInt64(info.st_size),
                     size: status.size != UInt64(info.st_size), time: status.mtime != mtime,
                     perms: status.mode != mode, owner: ownerDiffers, group: groupDiffers)
            } ?? code("<", "f", new: true), relative)
            guard !options.dryRun else { return }
            let (fd, opened) = try local.openFile()
            defer { close(fd) }
            let size = UInt64(opened.st_size)
            outcome.toDo(bytes: size)
            try pipeline.upload(beneath: root, relative, streaming: FileContent(fd: fd, byteCount: size),
                                mode: modeText, owner: owner, group: group) { [outcome] error in
                if let error { return try outcome.entry { throw error } }
                outcome.add(bytes: size)
                outcome.fileDone()
            }
            try pipeline.setMetadata(beneath: root, relative, mtime: Int64(modificationTime(opened)), then: answered)
        default:   // a symlink
            let target = try local.linkTarget()
            if let status = existing {
                if try linkTarget(relative) == target {
                    if status.mtime != mtime || ownerDiffers || groupDiffers {
                        itemize(code(".", "L", time: status.mtime != mtime, owner: ownerDiffers, group: groupDiffers), relative,
                                linkTarget: target)
                        if !options.dryRun {
                            try pipeline.setMetadata(beneath: root, relative, owner: newOwner, group: newGroup, mtime: Int64(mtime),
                                                     then: answered)
                        }
                    }
                    return
                }
                // CreateBeneath replaces the old link at once (agents with RemoveBeneath do).
                itemize(code("c", "L", size: true, time: true), relative, linkTarget: target)
            } else {
                itemize(code("c", "L", new: true), relative, linkTarget: target)
            }
            guard !options.dryRun else { return }
            try pipeline.symlink(beneath: root, relative, to: target, then: answered)
            try pipeline.setMetadata(beneath: root, relative, owner: owner, group: group, mtime: Int64(mtime), then: answered)
        }
    }
}

/// The SHA-512 of a local file, read in pieces (memory stays bounded).
private func sha512(of local: LocalPath) throws -> [UInt8] {
    let (fd, _) = try local.openFile()
    defer { close(fd) }
    return try sha512(ofOpen: fd, name: local.text)
}

/// Requests for a folder's entries in `list`'s order (paths below DEST), kept at most `limit`
/// ahead of the entry being handled: a few round trips in flight, never one per entry, and
/// no more answers waiting than that.
struct AskingAhead {
    let list: [[UInt8]]
    let limit: Int
    let ask: ([UInt8]) throws -> Void
    /// Whether more may be asked now (a budget shared with other windows); when not, the
    /// rest is asked as entries are reached, or by the entry itself.
    var mayAsk: () -> Bool = { true }
    private var asked = 0
    private var reached = 0

    init(_ list: [[UInt8]], limit: Int, ask: @escaping ([UInt8]) throws -> Void) {
        self.list = list
        self.limit = limit
        self.ask = ask
    }

    mutating func start() throws { try askThrough(limit) }

    /// The entry `child` is being handled now: one more may be asked.
    mutating func reach(_ child: [UInt8]) throws {
        guard reached < list.count && list[reached] == child else { return }
        reached += 1
        try askThrough(reached + limit)
    }

    private mutating func askThrough(_ count: Int) throws {
        while asked < min(count, list.count) && mayAsk() {
            try ask(list[asked])
            asked += 1
        }
    }
}

/// A local entry's lstat, taken once per entry, or the errno it failed with (for the
/// message `entry` gives: errno itself is long overwritten by then).
struct LocalStatus {
    let info: Glibc.stat?
    let error: Int32

    init(_ path: LocalPath) {
        info = path.status()
        error = info == nil ? errno : 0
    }

    init(_ info: Glibc.stat) {
        self.info = info
        error = 0
    }

    var isFolder: Bool { info.map { $0.st_mode & S_IFMT == S_IFDIR } ?? false }
}

/// uid → user name and gid → group name, each looked up once per push: glibc's getpwuid
/// and getgrgid reread /etc/passwd and /etc/group on every call, which cost two openat
/// and ~30 µs per entry (docs/performance.md). As rsync, which sends each id's name once, a
/// name changed during the push is not seen.
struct AccountNames {
    private var owners: [uid_t: String] = [:]
    private var groups: [gid_t: String] = [:]

    /// A uid's user name, or its number when it has none (as Stat reports owners).
    mutating func owner(_ uid: uid_t) -> String {
        if let known = owners[uid] { return known }
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
        owners[uid] = name
        return name
    }

    /// A gid's group name, or its number when it has none.
    mutating func group(_ gid: gid_t) -> String {
        if let known = groups[gid] { return known }
        let name = getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? String(gid)
        groups[gid] = name
        return name
    }
}

/// Where an answer asked ahead lands: filled by the answer's handler, read by whoever waits
/// for it, with no lookup by path per answer read.
final class AnswerSlot<Value> {
    var result: Result<Value, TunnelError>?
}
