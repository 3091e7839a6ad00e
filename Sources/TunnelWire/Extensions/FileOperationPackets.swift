// File operations that need no program on the target. Each answers Ok (or its result)
// or the originals' OSError / InvalidField. Mode, owner and group are parsed as Upload's.

/// Request: the names in a folder, with their types, and the full stat of each when asked.
/// Answered by `DirEntries` packets, the last one marked, in chunks for huge folders.
public struct ListDir: DecodablePacket, Equatable {
    public static let id = PacketID.listDir
    /// The directory, as bytes (any file name, UTF-8 or not).
    public var path: [UInt8]
    /// Whether each entry carries its `lstat` result.
    public var withStatus: Bool
    /// A ListDir request with these fields.
    public init(path: [UInt8], withStatus: Bool = false) {
        self.path = path
        self.withStatus = withStatus
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(withStatus)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ListDir {
        ListDir(path: try reader.readBytes(field: "path"), withStatus: try reader.readBool())
    }
}

/// One name in a folder. `type` uses StatResult's words (`dir`, `file`, `link`, ...).
public struct DirEntry: Equatable {
    /// The entry's name within the directory (no slash), as bytes.
    public var name: [UInt8]
    /// The entry's type, in StatResult's words (`dir`, `file`, `link`...).
    public var type: String
    /// With `ListDir.withStatus`: as a Stat of the entry (not following a link) would say,
    /// without SHA-512. Absent when the entry vanished meanwhile.
    public var status: StatResult?
    /// An entry with these fields.
    public init(name: [UInt8], type: String, status: StatResult? = nil) {
        self.name = name
        self.type = type
        self.status = status
    }
}

/// Answer to `ListDir`: some of its entries; `last` on the final chunk.
public struct DirEntries: DecodablePacket, Equatable {
    public static let id = PacketID.dirEntries
    /// This batch of entries, in the order the directory yields them.
    public var entries: [DirEntry]
    /// Whether this is the listing's final batch.
    public var last: Bool
    /// A batch with these fields.
    public init(entries: [DirEntry], last: Bool) {
        self.entries = entries
        self.last = last
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeU64(UInt64(entries.count))
        for entry in entries {
            writer.writeBytes(entry.name)
            writer.writeString(entry.type)
            // `if let`, not `status != nil`: that picks Equatable's `!=`, whose String
            // comparison pulls Unicode normalization (35 KB) into the 32-bit agents.
            if let status = entry.status {
                writer.writeBool(true)
                status.encodeFields(to: &writer)
            } else {
                writer.writeBool(false)
            }
        }
        writer.writeBool(last)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> DirEntries {
        let count = try reader.readU64()
        guard count <= reader.limits.maxListCount else { throw .listTooLong(field: "entries", count: count) }
        var entries: [DirEntry] = []
        for _ in 0..<count {
            let name = try reader.readBytes(field: "name")
            let type = try reader.readString(field: "type")
            let status = try reader.readBool() ? try StatResult.decodeFields(from: &reader) : nil
            entries.append(DirEntry(name: name, type: type, status: status))
        }
        return DirEntries(entries: entries, last: try reader.readBool())
    }
}

/// Request: make a folder. `mode` (octal, as Upload's; default 755) is set exactly, not
/// masked by a umask. With `parents`, missing parents are made (755) and an existing
/// folder is fine, as `mkdir -p`.
public struct MakeDir: DecodablePacket, Equatable {
    public static let id = PacketID.makeDir
    /// The directory to create.
    public var path: [UInt8]
    /// Its permission bits as an octal string; absent: 0755.
    public var mode: String?
    /// Whether to create missing parents and accept an existing directory (`mkdir -p`).
    public var parents: Bool
    /// A MakeDir request with these fields.
    public init(path: [UInt8], mode: String? = nil, parents: Bool = false) {
        self.path = path
        self.mode = mode
        self.parents = parents
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeOptionalString(mode)
        writer.writeBool(parents)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> MakeDir {
        MakeDir(path: try reader.readBytes(field: "path"), mode: try reader.readOptionalString(field: "mode"),
                parents: try reader.readBool())
    }
}

/// Request: remove a file, a symlink or an empty folder; with `recursive`, a whole tree,
/// never following a symlink out of it.
public struct Remove: DecodablePacket, Equatable {
    public static let id = PacketID.remove
    /// What to remove (a symlink itself, never what it points to).
    public var path: [UInt8]
    /// Whether a directory goes with everything below it; otherwise only an empty one.
    public var recursive: Bool
    /// A Remove request with these fields.
    public init(path: [UInt8], recursive: Bool = false) {
        self.path = path
        self.recursive = recursive
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(recursive)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Remove {
        Remove(path: try reader.readBytes(field: "path"), recursive: try reader.readBool())
    }
}

/// Request: `rename(2)`, atomic; with `noReplace`, an existing target is an error (EEXIST).
public struct Rename: DecodablePacket, Equatable {
    public static let id = PacketID.rename
    /// The path to move.
    public var source: [UInt8]
    /// Its new path (on the same filesystem).
    public var target: [UInt8]
    /// Whether an existing target makes it fail (EEXIST) instead of being replaced.
    public var noReplace: Bool
    /// A Rename request with these fields.
    public init(source: [UInt8], target: [UInt8], noReplace: Bool = false) {
        self.source = source
        self.target = target
        self.noReplace = noReplace
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(source)
        writer.writeBytes(target)
        writer.writeBool(noReplace)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Rename {
        Rename(source: try reader.readBytes(field: "source"), target: try reader.readBytes(field: "target"),
               noReplace: try reader.readBool())
    }
}

/// Request: change what is given of mode, owner, group and mtime (nanoseconds since the
/// epoch), on the path or, without `followLinks`, on a symlink itself (Linux cannot
/// change a symlink's mode: EOPNOTSUPP).
public struct SetMetadata: DecodablePacket, Equatable {
    public static let id = PacketID.setMetadata
    /// The file whose metadata changes.
    public var path: [UInt8]
    /// Whether a symlink at `path` stands for what it points to.
    public var followLinks: Bool
    /// New permission bits as an octal string; absent: unchanged.
    public var mode: String?
    /// New owner, a user name or number; absent: unchanged.
    public var owner: String?
    /// New group, a group name or number; absent: unchanged.
    public var group: String?
    /// New modification time in nanoseconds since the epoch; absent: unchanged.
    public var mtime: Int64?
    /// A SetMetadata request with these fields.
    public init(path: [UInt8], followLinks: Bool = true, mode: String? = nil, owner: String? = nil,
                group: String? = nil, mtime: Int64? = nil) {
        self.path = path
        self.followLinks = followLinks
        self.mode = mode
        self.owner = owner
        self.group = group
        self.mtime = mtime
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(followLinks)
        writer.writeOptionalString(mode)
        writer.writeOptionalString(owner)
        writer.writeOptionalString(group)
        writer.writeBool(mtime != nil)
        if let mtime { writer.writeI64(mtime) }
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> SetMetadata {
        SetMetadata(path: try reader.readBytes(field: "path"), followLinks: try reader.readBool(),
                    mode: try reader.readOptionalString(field: "mode"), owner: try reader.readOptionalString(field: "owner"),
                    group: try reader.readOptionalString(field: "group"),
                    mtime: try reader.readBool() ? try reader.readI64() : nil)
    }
}

/// Request: make `path` a symlink to `target` (which need not exist).
public struct Symlink: DecodablePacket, Equatable {
    public static let id = PacketID.symlink
    /// What the link will point to (stored as given, not resolved).
    public var target: [UInt8]
    /// Where the link is created; it must not exist.
    public var path: [UInt8]
    /// A Symlink request with these fields.
    public init(target: [UInt8], path: [UInt8]) {
        self.target = target
        self.path = path
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(target)
        writer.writeBytes(path)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Symlink {
        Symlink(target: try reader.readBytes(field: "target"), path: try reader.readBytes(field: "path"))
    }
}

/// Request: a symlink's target. Answered by `LinkTarget`.
public struct ReadLink: DecodablePacket, Equatable {
    public static let id = PacketID.readLink
    /// The symlink to read.
    public var path: [UInt8]
    /// A ReadLink request for `path`.
    public init(path: [UInt8]) { self.path = path }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBytes(path) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ReadLink {
        ReadLink(path: try reader.readBytes(field: "path"))
    }
}

/// Answer to `ReadLink`: what the link points to.
public struct LinkTarget: DecodablePacket, Equatable {
    public static let id = PacketID.linkTarget
    /// The link's content, as bytes.
    public var target: [UInt8]
    /// The answer for `target`.
    public init(target: [UInt8]) { self.target = target }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBytes(target) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> LinkTarget {
        LinkTarget(target: try reader.readBytes(field: "target"))
    }
}

/// Request: Stat by a `bytes` path, answered by `StatResult`; a missing file is an OSError.
public struct StatPath: DecodablePacket, Equatable {
    public static let id = PacketID.statPath
    /// The path to examine, as bytes.
    public var path: [UInt8]
    /// Whether to `stat` what a symlink points to instead of the link (`lstat`).
    public var followLinks: Bool
    /// Whether to add the SHA-512 of a regular file's content.
    public var sha512sum: Bool
    /// A StatPath request with these fields.
    public init(path: [UInt8], followLinks: Bool = false, sha512sum: Bool = false) {
        self.path = path
        self.followLinks = followLinks
        self.sha512sum = sha512sum
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(followLinks)
        writer.writeBool(sha512sum)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> StatPath {
        StatPath(path: try reader.readBytes(field: "path"), followLinks: try reader.readBool(),
                 sha512sum: try reader.readBool())
    }
}
