import TunnelWire

/// The file operations of the protocol extensions (docs/protocol.md, "Extensions"): they need
/// no program on the target. Paths are bytes, as the kernel takes them; `path("…")` makes
/// them from text. Each needs a connection opened with `negotiating: true`.
extension TunnelConnection {
    /// The names in a folder with their types, and the full status of each when asked.
    public func listDirectory(_ path: [UInt8], withStatus: Bool = false) throws(TunnelError) -> [DirEntry] {
        try sendRequest(ListDir(path: path, withStatus: withStatus), needing: .listDir)
        try send()
        try readPendingHello()   // before the page caps apply (ListingLimits)
        let first = try underListingLimits { () throws(TunnelError) in try answer(expecting: DirEntries.self) }
        return try remainingEntries(after: first, of: String(decoding: path, as: UTF8.self))
    }

    /// Visits every entry below `path`, depth first, parents before their contents; `visit`
    /// gets the entry's path and its entry (with status when asked). Symlinks are not
    /// followed: where the agent serves ReadBeneath, not even one swapped in for a folder
    /// after its parent was listed (it is then `.invalidAnswer`); an older agent's ListDir
    /// follows a final symlink.
    public func walk(_ path: [UInt8], withStatus: Bool = false,
                     _ visit: ([UInt8], DirEntry) throws(TunnelError) -> Void) throws(TunnelError) {
        if serves(.readBeneath) {
            let root = try resolvingSymlinks(path) // pinned: see RemoteRealPath.swift
            return try walk(beneath: root, [], withStatus: withStatus, depth: 0) { (child, entry) throws(TunnelError) in
                try visit(joined(path, child), entry)
            }
        }
        try walk(listing: path, withStatus: withStatus, depth: 0, visit)
    }

    /// As `walk`, with ReadBeneath only, and `visit` gets each entry's path relative to
    /// `root`: what `setMetadata(beneath:_:…)` takes, to change a listed tree without
    /// following a symlink swapped in for one of its folders. Give both the same `root`,
    /// pinned first with `resolvingSymlinks`: the agent refuses a root through a symlink.
    public func walk(beneath root: [UInt8], withStatus: Bool = false,
                     _ visit: (_ relative: [UInt8], DirEntry) throws(TunnelError) -> Void) throws(TunnelError) {
        try require(.readBeneath)
        try walk(beneath: root, [], withStatus: withStatus, depth: 0, visit)
    }

    /// Folders deeper than this are an error, whatever the target lists: a target listing
    /// folders without end must not take the walk's recursion (the stack) with it.
    static let deepestWalk = 2048

    private func walk(listing path: [UInt8], withStatus: Bool, depth: Int,
                      _ visit: ([UInt8], DirEntry) throws(TunnelError) -> Void) throws(TunnelError) {
        guard depth < Self.deepestWalk else { throw tooDeep(path) }
        for entry in try listDirectory(path, withStatus: withStatus) {
            let child = path + (path.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]) + entry.name
            try visit(child, entry)
            if entry.type == "dir" { try walk(listing: child, withStatus: withStatus, depth: depth + 1, visit) }
        }
    }

    private func tooDeep(_ path: [UInt8]) -> TunnelError {
        .invalidAnswer(field: "path", reason: "\(quoted(path)) is deeper than \(Self.deepestWalk) folders")
    }

    private func walk(beneath root: [UInt8], _ relative: [UInt8], withStatus: Bool, depth: Int,
                      _ visit: ([UInt8], DirEntry) throws(TunnelError) -> Void) throws(TunnelError) {
        guard depth < Self.deepestWalk else { throw tooDeep(root) }
        guard case .directory(let entries) = try read(beneath: root, relative, withStatus: withStatus) else {
            throw .invalidAnswer(field: "path", reason: "\(show(root, relative)) is no longer a folder")
        }
        for entry in entries {
            let child = relative.isEmpty ? entry.name : relative + [UInt8(ascii: "/")] + entry.name
            try visit(child, entry)
            if entry.type == "dir" { try walk(beneath: root, child, withStatus: withStatus, depth: depth + 1, visit) }
        }
    }

    /// `mkdir`; `mode` (octal text, default 755) is set exactly; `parents` as `mkdir -p`.
    public func makeDirectory(_ path: [UInt8], mode: String? = nil, parents: Bool = false) throws(TunnelError) {
        try require(.makeDir)
        _ = try request(MakeDir(path: path, mode: mode, parents: parents), expecting: Ok.self)
    }

    /// A file, symlink or empty folder; with `recursive`, a whole tree (never following links out).
    public func remove(_ path: [UInt8], recursive: Bool = false) throws(TunnelError) {
        try require(.remove)
        _ = try request(Remove(path: path, recursive: recursive), expecting: Ok.self)
    }

    /// `rename(2)`: atomic; with `noReplace`, an existing target is an error.
    public func rename(_ source: [UInt8], to target: [UInt8], noReplace: Bool = false) throws(TunnelError) {
        try require(.rename)
        _ = try request(Rename(source: source, target: target, noReplace: noReplace), expecting: Ok.self)
    }

    /// Changes what is given; `followLinks: false` acts on a symlink itself.
    public func setMetadata(_ path: [UInt8], followLinks: Bool = true, mode: String? = nil, owner: String? = nil,
                            group: String? = nil, mtime: Int64? = nil) throws(TunnelError) {
        try require(.setMetadata)
        _ = try request(SetMetadata(path: path, followLinks: followLinks, mode: mode, owner: owner, group: group,
                                    mtime: mtime), expecting: Ok.self)
    }

    /// SetMetadata's change on the entry at `relative` below `root`, never following a
    /// symlink there nor in the folders between (SetMetadataBeneath).
    public func setMetadata(beneath root: [UInt8], _ relative: [UInt8], mode: String? = nil, owner: String? = nil,
                            group: String? = nil, mtime: Int64? = nil) throws(TunnelError) {
        try require(.setMetadataBeneath)
        _ = try request(SetMetadataBeneath(root: root, path: relative, mode: mode, owner: owner, group: group,
                                           mtime: mtime), expecting: Ok.self)
    }

    /// Makes `path` a symlink to `target`.
    public func symlink(_ path: [UInt8], to target: [UInt8]) throws(TunnelError) {
        try require(.symlink)
        _ = try request(Symlink(target: target, path: path), expecting: Ok.self)
    }

    /// A symlink's target, as bytes.
    public func readLink(_ path: [UInt8]) throws(TunnelError) -> [UInt8] {
        try require(.readLink)
        return try request(ReadLink(path: path), expecting: LinkTarget.self).target
    }

    /// The status of a path given as bytes; nil when there is no such file.
    public func status(_ path: [UInt8], followLinks: Bool = false, sha512: Bool = false) throws(TunnelError) -> StatResult? {
        try require(.statPath)
        do throws(TunnelError) {
            return try request(StatPath(path: path, followLinks: followLinks, sha512sum: sha512), expecting: StatResult.self)
        } catch .remoteOSError(let error) where error.errno == 2 {
            return nil
        }
    }

    func require(_ id: PacketID) throws(TunnelError) {
        guard serves(id) else { throw hello == nil ? .extensionsUnsupported : .extensionMissing(id) }
    }
}

/// A path as bytes, from text.
public func path(_ text: String) -> [UInt8] { Array(text.utf8) }
